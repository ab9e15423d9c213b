package train

import (
	"math"
	"testing"
)

// adamRef is a float64 transcription of torch.optim.Adam's update for one scalar.
func adamRef(p, g []float64, lr, b1, b2, eps, wd float64, steps int) []float64 {
	p = append([]float64(nil), p...)
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	for t := 1; t <= steps; t++ {
		for j := range p {
			gj := g[j]*p[j] + wd*p[j] // gradient of 0.5*g*p^2 plus L2
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			mh := m[j] / (1 - math.Pow(b1, float64(t)))
			vh := v[j] / (1 - math.Pow(b2, float64(t)))
			p[j] -= lr * mh / (math.Sqrt(vh) + eps)
		}
	}
	return p
}

func TestAdamMatchesReference(t *testing.T) {
	p0 := []float64{1, -2, 0.5, 3}
	curv := []float64{1, 0.1, 4, 2}
	for _, wd := range []float64{0, 0.01} {
		o, err := NewOptimizer(OptimizerConfig{Kind: OptAdam, Beta1: 0.9, Beta2: 0.999, WeightDecay: wd}, []int{4})
		if err != nil {
			t.Fatal(err)
		}
		p := make([]float32, 4)
		for i := range p {
			p[i] = float32(p0[i])
		}
		g := make([]float32, 4)
		const steps = 50
		for s := 0; s < steps; s++ {
			for j := range g {
				g[j] = float32(curv[j]) * p[j]
			}
			if err := o.Update([][]float32{p}, [][]float32{g}, []float64{0.01}); err != nil {
				t.Fatal(err)
			}
		}
		want := adamRef(p0, curv, 0.01, 0.9, 0.999, 1e-8, wd, steps)
		for j := range p {
			if d := math.Abs(float64(p[j]) - want[j]); d > 1e-5 {
				t.Errorf("wd %g: param %d = %v, want %v", wd, j, p[j], want[j])
			}
		}
	}
}

func TestSGDMomentum(t *testing.T) {
	o, err := NewOptimizer(OptimizerConfig{Kind: OptSGD, Momentum: 0.9}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	p := []float32{1}
	// Constant gradient 1: buffers 1, 1.9, 2.71 -> p = 1 - 0.1*(1+1.9+2.71).
	for i := 0; i < 3; i++ {
		if err := o.Update([][]float32{p}, [][]float32{{1}}, []float64{0.1}); err != nil {
			t.Fatal(err)
		}
	}
	if want := 1 - 0.1*(1+1.9+2.71); math.Abs(float64(p[0])-want) > 1e-6 {
		t.Errorf("p = %v, want %v", p[0], want)
	}
}

func TestOptimizerStateRoundTrip(t *testing.T) {
	cfg := OptimizerConfig{Kind: OptAdam, Beta1: 0.9, Beta2: 0.999}
	a, _ := NewOptimizer(cfg, []int{3})
	pa := []float32{1, 2, 3}
	for i := 0; i < 5; i++ {
		a.Update([][]float32{pa}, [][]float32{{0.1, -0.2, 0.3}}, []float64{0.1})
	}
	b, _ := NewOptimizer(cfg, []int{3})
	step, m, v := a.State()
	if err := b.SetState(step, m, v); err != nil {
		t.Fatal(err)
	}
	pb := append([]float32(nil), pa...)
	a.Update([][]float32{pa}, [][]float32{{0.5, 0.5, 0.5}}, []float64{0.1})
	b.Update([][]float32{pb}, [][]float32{{0.5, 0.5, 0.5}}, []float64{0.1})
	for i := range pa {
		if pa[i] != pb[i] {
			t.Errorf("param %d after restore = %v, want %v", i, pb[i], pa[i])
		}
	}
	if err := b.SetState(1, [][]float32{{1}}, nil); err == nil {
		t.Error("SetState accepted a state of the wrong shape")
	}
	if _, err := NewOptimizer(OptimizerConfig{Kind: "rmsprop"}, nil); err == nil {
		t.Error("unknown optimizer accepted")
	}
}

func TestLRSchedule(t *testing.T) {
	tests := []struct {
		name string
		s    LRSchedule
		t    float64
		want float64
	}{
		{"constant", LRSchedule{Kind: "constant", Epochs: 10}, 7, 1},
		{"warmup half", LRSchedule{Kind: "constant", Epochs: 10, Warmup: 2}, 1, 0.5},
		{"step before", LRSchedule{Kind: "step", Epochs: 10, Milestones: []int{5, 8}, Gamma: 0.1}, 4.9, 1},
		{"step after one", LRSchedule{Kind: "step", Epochs: 10, Milestones: []int{5, 8}, Gamma: 0.1}, 5, 0.1},
		{"step after two", LRSchedule{Kind: "step", Epochs: 10, Milestones: []int{5, 8}, Gamma: 0.1}, 9, 0.01},
		{"cosine start", LRSchedule{Kind: "cosine", Epochs: 10}, 0, 1},
		{"cosine middle", LRSchedule{Kind: "cosine", Epochs: 10}, 5, 0.5},
		{"cosine end", LRSchedule{Kind: "cosine", Epochs: 10}, 10, 0},
		{"cosine after warmup", LRSchedule{Kind: "cosine", Epochs: 10, Warmup: 2}, 2, 1},
	}
	for _, tt := range tests {
		if got := tt.s.Factor(tt.t); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Factor(%g) = %g, want %g", tt.name, tt.t, got, tt.want)
		}
	}
	if err := (LRSchedule{Kind: "exp"}).Validate(); err == nil {
		t.Error("unknown schedule accepted")
	}
}

func TestBlurSchedule(t *testing.T) {
	tests := []struct {
		b    BlurSchedule
		t    float64
		want float64
	}{
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "linear"}, 0, 2},
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "linear"}, 1, 1.5},
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "linear"}, 4, 0},
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "cosine"}, 2, 1},
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "step"}, 3.9, 2},
		{BlurSchedule{Sigma: 2, Epochs: 4, Shape: "step"}, 4, 0},
		{BlurSchedule{Sigma: 0, Epochs: 4, Shape: "linear"}, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.b.SigmaAt(tt.t); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%+v: SigmaAt(%g) = %g, want %g", tt.b, tt.t, got, tt.want)
		}
	}
	if r := (BlurSchedule{Sigma: 1.5, Epochs: 6, Shape: "linear"}).Radius(); r != 5 {
		t.Errorf("radius = %d, want 5", r)
	}
}
