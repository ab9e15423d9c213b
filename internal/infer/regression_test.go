package infer

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/kernels"
)

// TestEvaluateRegressionMatchesOneByOne: EvaluateRegression over batches of 3 (the last
// padded) gives the loss, MAE and RMSE computed here from the model's outputs on each
// image alone, unstandardised by hand.
func TestEvaluateRegressionMatchesOneByOne(t *testing.T) {
	cfg, err := config.Load("../../configs/tiny.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.Source = config.SourceNeedleGaze
	cfg.Data.Gaze.Canvas, cfg.Data.Resolution = 64, 64
	cfg.Data.Gaze.EyeMin, cfg.Data.Gaze.EyeMax, cfg.Data.Gaze.Train, cfg.Data.Gaze.Val = 4, 6, 8, 7
	cfg.Train.Loss = config.LossL1
	_, val, err := OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	std := data.Standardiser{Names: []string{"gx", "gy"}, Mean: []float64{0.1, -0.2}, Std: []float64{0.5, 2}}
	spec := SpecOf(cfg, 0, 2)
	if spec.Targets != 2 || spec.Loss != kernels.LossL1 || spec.Outputs() != 2 {
		t.Fatalf("spec %+v", spec)
	}
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
	res, err := EvaluateRegression(context.Background(), f3, std, val, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Data.Resolution
	var loss, abs, sq float64
	absT := make([]float64, 2)
	for i := range val.Len() {
		x := make([]float32, 3*r*r)
		if err := val.Image(i, 0, x); err != nil {
			t.Fatal(err)
		}
		b, err := data.NewBatch(x, nil, spec.Inputs())
		if err != nil {
			t.Fatal(err)
		}
		out, err := f1.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 2)
		if err := val.(data.Regression).Targets(i, 0, y); err != nil {
			t.Fatal(err)
		}
		for j := range 2 {
			z := float64(out.Logits[j])
			pred := z*std.Std[j] + std.Mean[j]
			d := pred - float64(y[j])
			loss += math.Abs(z - (float64(y[j])-std.Mean[j])/std.Std[j])
			abs += math.Abs(d)
			absT[j] += math.Abs(d)
			sq += d * d
		}
	}
	n := float64(val.Len())
	loss, abs, sq = loss/(2*n), abs/(2*n), math.Sqrt(sq/(2*n))
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }
	if res.N != 7 || !close(res.Loss, loss) || !close(res.MAE, abs) || !close(res.RMSE, sq) ||
		!close(res.Targets["gx"].MAE, absT[0]/n) || !close(res.Targets["gy"].MAE, absT[1]/n) {
		t.Errorf("EvaluateRegression: %+v; one by one: loss %v, MAE %v (%v, %v), RMSE %v", res, loss, abs, absT[0]/n, absT[1]/n, sq)
	}
	// A kept evaluator decodes the validation images once: its second run gives the same
	// result from the cache the first one filled, which it does not grow.
	cache := data.NewCacheBudget(1 << 30)
	ev, err := NewRegressionEvaluator(f3, std, val, 1, cache)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ev.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	used := cache.Used()
	second, err := ev.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if used == 0 || cache.Used() != used {
		t.Errorf("cache holds %d bytes after one run and %d after two, want the same, not 0", used, cache.Used())
	}
	if !reflect.DeepEqual(first, second) || !reflect.DeepEqual(first, res) {
		t.Errorf("kept evaluator: first run %+v, second %+v, EvaluateRegression %+v", first, second, res)
	}

	other := std
	other.Names = []string{"gy", "gx"}
	if _, err := EvaluateRegression(context.Background(), f3, other, val, 1, 0); err == nil {
		t.Error("targets in another order were accepted")
	}
}

func TestStandardiserOf(t *testing.T) {
	good, err := StandardiserJSON(data.Standardiser{Names: []string{"a"}, Mean: []float64{1}, Std: []float64{2}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       checkpoint.Checkpoint
		want    bool // a standardiser comes back
		wantErr string
	}{
		{"classifier", checkpoint.Checkpoint{Classes: []string{"x", "y"}}, false, ""},
		{"regressor", checkpoint.Checkpoint{Extra: map[string]string{ExtraStandardiser: good}}, true, ""},
		{"damaged", checkpoint.Checkpoint{Extra: map[string]string{ExtraStandardiser: "{"}}, false, "standardiser"},
		{"zero deviation", checkpoint.Checkpoint{Extra: map[string]string{ExtraStandardiser: `{"names":["a"],"mean":[0],"std":[0]}`}}, false, "deviation"},
		{"both heads", checkpoint.Checkpoint{Classes: []string{"x"}, Extra: map[string]string{ExtraStandardiser: good}}, false, "classes"},
	}
	for _, tt := range tests {
		s, err := StandardiserOf(&tt.c)
		if (s != nil) != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: standardiser %v, err %v", tt.name, s, err)
		}
	}
}
