package kernels

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// regReference writes each loss out by its definition, one formula per kind.
func regReference(kind RegressionLossKind, p, t []float64) float64 {
	var s float64
	for i := range p {
		d := p[i] - t[i]
		switch kind {
		case LossL2:
			s += d * d
		case LossL1:
			s += math.Abs(d)
		case LossSmoothL1:
			if math.Abs(d) < 1 {
				s += 0.5 * d * d
			} else {
				s += math.Abs(d) - 0.5
			}
		}
	}
	return s / float64(len(p))
}

var regKinds = []RegressionLossKind{LossL2, LossL1, LossSmoothL1}

func TestRegressionLossForward(t *testing.T) {
	tests := []struct {
		name string
		n, k int
		dt   tensor.Dtype
		tol  float64
	}{
		{"float64", 5, 2, tensor.Float64, 1e-14},
		{"float64 one target", 7, 1, tensor.Float64, 1e-14},
		{"float32", 32, 3, tensor.Float32, 1e-6},
	}
	for _, kind := range regKinds {
		for _, tc := range tests {
			t.Run(string(kind)+" "+tc.name, func(t *testing.T) {
				// Differences up to 3 in size: both branches of smooth_l1 are taken.
				p := fdRandom(21, tc.n*tc.k, -2, 2)
				tg := fdRandom(22, tc.n*tc.k, -1, 1)
				v, shape := runForward(t, tc.dt, [][]int{{tc.n, tc.k}, {tc.n, tc.k}}, [][]float64{p, tg},
					func(in []*gorgonia.Node) (*gorgonia.Node, error) { return RegressionLoss(in[0], in[1], kind) })
				if !shape.IsScalar() {
					t.Fatalf("shape = %v, want a scalar", shape)
				}
				if tc.dt == tensor.Float32 {
					for i := range p {
						p[i], tg[i] = float64(float32(p[i])), float64(float32(tg[i]))
					}
				}
				got, want := valueFloats(t, v)[0], regReference(kind, p, tg)
				if math.Abs(got-want) > tc.tol*max(1, math.Abs(want)) {
					t.Errorf("loss = %.15g, want %.15g", got, want)
				}
			})
		}
	}
}

func TestRegressionLossPenalty(t *testing.T) {
	tests := []struct {
		kind RegressionLossKind
		d    float64
		want float64
	}{
		{LossL2, -3, 9}, {LossL2, 0.5, 0.25},
		{LossL1, -3, 3}, {LossL1, 0, 0},
		{LossSmoothL1, 0.5, 0.125}, {LossSmoothL1, -1, 0.5}, {LossSmoothL1, 3, 2.5},
	}
	for _, tc := range tests {
		if got := tc.kind.Penalty(tc.d); got != tc.want {
			t.Errorf("%s.Penalty(%v) = %v, want %v", tc.kind, tc.d, got, tc.want)
		}
	}
}

// TestRegressionLossGradient checks the gradient of each kind by central differences,
// with the differences kept away from the kinks (0 for l1, +-1 for smooth_l1).
func TestRegressionLossGradient(t *testing.T) {
	p := []float64{0.3, -1.7, 2.4, -0.2, 0.8, -0.6, 1.9, 0.45}
	tg := []float64{-0.2, 0.1, 0.2, 0.35, -0.4, 0.3, -0.3, 0.1}
	for _, kind := range regKinds {
		t.Run(string(kind), func(t *testing.T) {
			fdCheck(t, []fdInput{
				{name: "pred", shape: []int{4, 2}, data: p, wrt: true},
				{name: "target", shape: []int{4, 2}, data: tg},
			}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return RegressionLoss(in[0], in[1], kind)
			}, 1e-6)
		})
	}
}

// TestRegressionHeadGradient checks the regression head as the model builds it, a linear
// layer from pooled features to one output per target, under each loss scaled by an
// outer factor: the gradients reach the features, the weights and the biases.
func TestRegressionHeadGradient(t *testing.T) {
	for _, kind := range regKinds {
		t.Run(string(kind), func(t *testing.T) {
			fdCheck(t, []fdInput{
				{name: "features", shape: []int{3, 5}, data: fdRandom(31, 15, -1, 1), wrt: true},
				{name: "w", shape: []int{2, 5}, data: fdRandom(32, 10, -1, 1), wrt: true},
				{name: "b", shape: []int{2}, data: []float64{0.2, -0.3}, wrt: true},
				{name: "target", shape: []int{3, 2}, data: fdRandom(33, 6, -2, 2)},
			}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				y, err := Linear(in[0], in[1], in[2])
				if err != nil {
					return nil, err
				}
				l, err := RegressionLoss(y, in[3], kind)
				if err != nil {
					return nil, err
				}
				return gorgonia.Mul(l, gorgonia.NewConstant(1.5))
			}, 1e-6)
		})
	}
}

func TestRegressionLossErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	p := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(3, 2), gorgonia.WithName("p"))
	wrong := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(3, 1), gorgonia.WithName("t1"))
	f32 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(3, 2), gorgonia.WithName("t2"))
	ok := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(3, 2), gorgonia.WithName("t3"))
	tests := []struct {
		name string
		p, t *gorgonia.Node
		kind RegressionLossKind
	}{
		{"nil", nil, ok, LossL2},
		{"shapes", p, wrong, LossL2},
		{"dtypes", p, f32, LossL1},
		{"kind", p, ok, "l3"},
	}
	for _, tc := range tests {
		if _, err := RegressionLoss(tc.p, tc.t, tc.kind); err == nil {
			t.Errorf("%s: error = nil, want one", tc.name)
		}
	}
}
