package infer

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
)

func TestScores(t *testing.T) {
	tests := []struct {
		name    string
		logits  []float32
		argmax  int
		top2    []int
		ce0     float64 // -log softmax(logits)[0]
		softmax []float64
	}{
		{"even", []float32{0, 0}, 0, []int{0, 1}, math.Log(2), []float64{0.5, 0.5}},
		{"ordered", []float32{1, 3, 2}, 1, []int{1, 2}, math.Log(math.Exp(1)+math.Exp(3)+math.Exp(2)) - 1, nil},
		// Large logits must not overflow the exponentials.
		{"large", []float32{1000, 999}, 0, []int{0, 1}, math.Log(1 + math.Exp(-1)), []float64{1 / (1 + math.Exp(-1)), math.Exp(-1) / (1 + math.Exp(-1))}},
		{"tie keeps the first", []float32{2, 5, 5}, 1, []int{1, 2}, math.Log(math.Exp(2)+2*math.Exp(5)) - 2, nil},
	}
	for _, tt := range tests {
		if got := Argmax(tt.logits); got != tt.argmax {
			t.Errorf("%s: Argmax = %d, want %d", tt.name, got, tt.argmax)
		}
		p := Softmax(tt.logits)
		sum := 0.0
		for _, v := range p {
			sum += v
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%s: Softmax sums to %v", tt.name, sum)
		}
		for i, w := range tt.softmax {
			if math.Abs(p[i]-w) > 1e-12 {
				t.Errorf("%s: Softmax[%d] = %v, want %v", tt.name, i, p[i], w)
			}
		}
		if got := TopK(p, 2); !slices.Equal(got, tt.top2) {
			t.Errorf("%s: TopK(2) = %v, want %v", tt.name, got, tt.top2)
		}
		if got := TopK(p, 10); len(got) != len(p) {
			t.Errorf("%s: TopK(10) of %d classes has %d", tt.name, len(p), len(got))
		}
		if got := crossEntropy(tt.logits, 0); math.Abs(got-tt.ce0) > 1e-9*math.Max(1, tt.ce0) {
			t.Errorf("%s: crossEntropy = %v, want %v", tt.name, got, tt.ce0)
		}
		if got, want := rankOf(tt.logits, 0), len(slices.DeleteFunc(slices.Clone(tt.logits), func(v float32) bool { return v <= tt.logits[0] })); got != want {
			t.Errorf("%s: rankOf(0) = %d, want %d", tt.name, got, want)
		}
	}
}

// TestEvaluateMatchesOneByOne: Evaluate over batches of 3 (the last one padded) gives
// the loss and accuracy of running the model on each image alone, and Run refuses a
// batch without the model's low-resolution copies.
func TestEvaluateMatchesOneByOne(t *testing.T) {
	cfg, err := config.Load("../../configs/tiny.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.Needle.Val = 7
	_, val, err := OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec(cfg, len(val.Classes()))
	m3, err := graph.Build(spec, graph.Options{Batch: 3, Dtype: tensor.Float32, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := graph.Build(spec, graph.Options{Batch: 1, Dtype: tensor.Float32, Seed: 1, Share: m3})
	if err != nil {
		t.Fatal(err)
	}
	f3, err := NewForward(m3, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := NewForward(m1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Evaluate(context.Background(), f3, val, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Data.Resolution
	var loss float64
	top1 := 0
	for i := range val.Len() {
		x := make([]float32, 3*r*r)
		if err := val.Image(i, 0, x); err != nil {
			t.Fatal(err)
		}
		b, err := data.NewBatch(x, []int{val.Label(i)}, spec.Inputs())
		if err != nil {
			t.Fatal(err)
		}
		out, err := f1.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		loss += crossEntropy(out.Logits, val.Label(i))
		if Argmax(out.Logits) == val.Label(i) {
			top1++
		}
	}
	loss /= float64(val.Len())
	if res.N != 7 || math.Abs(res.Loss-loss) > 1e-6*loss || res.Top1 != float64(top1)/7 {
		t.Errorf("Evaluate: n %d, loss %.9g, top-1 %v; one by one: loss %.9g, top-1 %v", res.N, res.Loss, res.Top1, loss, float64(top1)/7)
	}
	if _, err := f1.Run(&data.Batch{N: 1, X: make([]float32, 3*r*r), Labels: []int{0}}); err == nil || !strings.Contains(err.Error(), "low-resolution") {
		t.Errorf("Run of a batch without its copies: err = %v", err)
	}
}

func TestBatchForMemory(t *testing.T) {
	spec := graph.Spec{Classes: 10, Resolution: 64, Sampler: "uniform", TaskInput: 16, SaliencyInput: 16, Grid: 7, FWHM: 5, Padding: 4, PaddingMode: "replicate", Temperature: 1, TaskNet: "reference"}
	one, err := BatchForMemory(spec, 1000, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if one != 1000 {
		t.Errorf("with room for everything: got batch %d, want the 1000 asked for", one)
	}
	// The source batch alone is 3*64*64*4 bytes an image: a budget of 10 of them
	// leaves room for fewer than 10 images, and never fewer than 1.
	for _, tt := range []struct {
		budget int64
		lo, hi int
	}{{10 * 3 * 64 * 64 * 4, 1, 9}, {1, 1, 1}} {
		got, err := BatchForMemory(spec, 1000, tt.budget)
		if err != nil {
			t.Fatal(err)
		}
		if got < tt.lo || got > tt.hi {
			t.Errorf("budget %d: got batch %d, want %d..%d", tt.budget, got, tt.lo, tt.hi)
		}
	}
	if _, err := BatchForMemory(spec, 0, 1<<20); err == nil {
		t.Error("BatchForMemory accepted a batch of 0")
	}
}
