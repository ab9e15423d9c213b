package bench

import (
	"context"
	"testing"

	"zoomtrain/internal/graph"
)

// TestRunSmall times a few steps of a shrunken reference setting for both variants and
// checks that every figure the command prints is filled in.
func TestRunSmall(t *testing.T) {
	for _, variant := range []string{graph.SamplerSaliency, graph.SamplerUniform} {
		c := Reference(variant)
		c.Data.Resolution, c.Model.TaskInput, c.Model.SaliencyInput, c.Train.BatchSize = 48, 16, 16, 2
		r, err := Run(context.Background(), Options{Config: c, Steps: 3, Warmup: 1, Parts: true})
		if err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		if r.Variant != variant || r.Batch != 2 || r.Resolution != 48 || r.Steps != 3 {
			t.Errorf("%s: got variant %q, batch %d, resolution %d, steps %d", variant, r.Variant, r.Batch, r.Resolution, r.Steps)
		}
		if !(r.MsMin > 0 && r.MsMin <= r.MsPerStep && r.MsPerStep <= r.MsMax) || r.ImagesPerS <= 0 || r.GFLOPPerS <= 0 {
			t.Errorf("%s: got ms %v/%v/%v, %v img/s, %v GFLOP/s", variant, r.MsMin, r.MsPerStep, r.MsMax, r.ImagesPerS, r.GFLOPPerS)
		}
		wantParts := graph.Spec{Sampler: variant}.PartNames()
		if len(r.Parts) != len(wantParts) {
			t.Errorf("%s: got parts %v, want %v", variant, r.Parts, wantParts)
		}
		for _, name := range wantParts {
			if p, ok := r.Parts[name]; !ok || !(p.MsMin > 0 && p.MsMin <= p.MsPerStep && p.MsPerStep <= p.MsMax) {
				t.Errorf("%s: part %s timing %+v", variant, name, p)
			}
		}
		// The task network keeps its activations and gradients between runs.
		if p := r.Parts[graph.PartNameTaskNet]; p.HeapMB <= 0 {
			t.Errorf("%s: the task network holds %v MB", variant, p.HeapMB)
		}
	}
	if _, err := Run(context.Background(), Options{Config: Reference(graph.SamplerUniform), Steps: 0}); err == nil {
		t.Error("Run accepted zero steps")
	}
}
