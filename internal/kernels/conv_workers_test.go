package kernels

import (
	"runtime"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// TestConvWorkerCount: a convolution's forward pass and both gradients give the same
// bits whatever the number of workers (the weight gradient's partial sums are cut by
// the batch, not by GOMAXPROCS).
func TestConvWorkerCount(t *testing.T) {
	xs, ws := tensor.Shape{20, 4, 9, 9}, tensor.Shape{6, 4, 3, 3}
	g, err := newConvGeom(xs, ws, 1, 1)
	if err != nil {
		t.Fatalf("geometry: %v", err)
	}
	x, w := f32Random(1, xs.TotalSize()), f32Random(2, ws.TotalSize())
	b, dy := f32Random(3, ws[0]), f32Random(4, g.n*g.outSize())
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		st := &convState{geom: g, weightGrad: true}
		out := make([]float32, g.n*g.outSize())
		dx := make([]float32, xs.TotalSize())
		dw := make([]float32, ws.TotalSize())
		if err := convForward(st, x, w, b, out, 1); err != nil {
			t.Fatalf("forward: %v", err)
		}
		if err := convGradInput(st, w, dy, dx); err != nil {
			t.Fatalf("input gradient: %v", err)
		}
		if err := convGradWeight(st, x, dy, dw, 1); err != nil {
			t.Fatalf("weight gradient: %v", err)
		}
		return [][]float32{out, dx, dw}
	}
	want := run(1)
	for _, procs := range []int{2, 3, 8} {
		for i, got := range run(procs) {
			if !slices.Equal(got, want[i]) {
				t.Errorf("GOMAXPROCS %d: %s differs from one worker's", procs, []string{"output", "dx", "dw"}[i])
			}
		}
	}
}
