package kernels

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// bnReference normalises x (n,c,hw) in float64 with the batch statistics
// (training) or the given running ones, and returns y and the batch mean and
// unbiased variance.
func bnReference(x, gamma, beta, rmean, rvar []float64, n, c, hw int, training bool, eps float64) (y, mean, uvar []float64) {
	y, mean, uvar = make([]float64, len(x)), make([]float64, c), make([]float64, c)
	for ch := range c {
		var vals []float64
		for i := range n {
			vals = append(vals, x[(i*c+ch)*hw:(i*c+ch+1)*hw]...)
		}
		var s float64
		for _, v := range vals {
			s += v
		}
		mu := s / float64(len(vals))
		var ss float64
		for _, v := range vals {
			ss += (v - mu) * (v - mu)
		}
		mean[ch], uvar[ch] = mu, ss/float64(len(vals)-1)
		m, v := mu, ss/float64(len(vals))
		if !training {
			m, v = rmean[ch], rvar[ch]
		}
		for i := range n {
			for j := (i*c + ch) * hw; j < (i*c+ch+1)*hw; j++ {
				y[j] = gamma[ch]*(x[j]-m)/math.Sqrt(v+eps) + beta[ch]
			}
		}
	}
	return y, mean, uvar
}

func bnBuild(st *BatchNormState) fdBuild {
	return func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return BatchNorm2D(in[0], in[1], in[2], st)
	}
}

func TestBatchNormMatchesPyTorch(t *testing.T) {
	var fx struct {
		Cases []struct {
			Name                         string
			Shape                        []int
			Training                     bool
			X, Gamma, Beta, Mean, Var, Y []float64
			NewMean                      []float64 `json:"new_mean"`
			NewVar                       []float64 `json:"new_var"`
			Gout, Gx, Ggamma, Gbeta      []float64
		}
	}
	loadFixture(t, "batchnorm.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no cases in batchnorm.json")
	}
	for _, c := range fx.Cases {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			t.Run(fmt.Sprintf("%s %v", c.Name, dt), func(t *testing.T) {
				st := &BatchNormState{Mean: slices.Clone(c.Mean), Var: slices.Clone(c.Var), Momentum: 0.1, Eps: 1e-5, Training: c.Training}
				ch := c.Shape[1]
				y, grads := gradsFor(t, dt, []fdInput{
					{name: "x", shape: c.Shape, data: c.X, wrt: true},
					{name: "gamma", shape: []int{ch}, data: c.Gamma, wrt: true},
					{name: "beta", shape: []int{ch}, data: c.Beta, wrt: true},
				}, c.Gout, bnBuild(st))
				checkClose(t, "y", y, c.Y, tol)
				checkClose(t, "running mean", st.Mean, c.NewMean, tol)
				checkClose(t, "running var", st.Var, c.NewVar, tol)
				checkClose(t, "dx", grads[0], c.Gx, tol)
				checkClose(t, "dgamma", grads[1], c.Ggamma, tol)
				checkClose(t, "dbeta", grads[2], c.Gbeta, tol)
			})
		}
	}
}

func TestBatchNormGradient(t *testing.T) {
	tests := []struct {
		name       string
		shape      []int
		paramShape []int
		training   bool
	}{
		{"training", []int{3, 2, 2, 3}, []int{2}, true},
		{"training 4-d params", []int{2, 3, 2, 2}, []int{1, 3, 1, 1}, true},
		{"eval", []int{2, 2, 3, 2}, []int{2}, false},
		{"training one image", []int{1, 2, 2, 2}, []int{2}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.shape[1]
			st := NewBatchNormState(c)
			st.Mean, st.Var = fdRandom(16, c, -0.5, 0.5), fdRandom(17, c, 0.5, 2)
			st.Training = tc.training
			fdCheck(t, []fdInput{
				{name: "x", shape: tc.shape, data: fdRandom(18, tensor.Shape(tc.shape).TotalSize(), -2, 3), wrt: true},
				{name: "gamma", shape: tc.paramShape, data: fdRandom(19, c, 0.5, 1.5), wrt: true},
				{name: "beta", shape: tc.paramShape, data: fdRandom(20, c, -1, 1), wrt: true},
			}, bnBuild(st), 1e-6)
		})
	}
}

// The trainer flips Training between runs of one graph: training runs update
// the running estimates once each, eval runs use them and leave them alone.
func TestBatchNormModeFlip(t *testing.T) {
	shape := []int{4, 2, 3, 3}
	n, c, hw := 4, 2, 9
	x := fdRandom(21, 72, -1, 4)
	gamma, beta := []float64{1.5, 0.5}, []float64{0.25, -1}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			st := NewBatchNormState(c)
			g := gorgonia.NewGraph()
			xn := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(shape...), gorgonia.WithName("x"), gorgonia.WithValue(fdTensor(dt, shape, x)))
			gn := gorgonia.NewVector(g, dt, gorgonia.WithShape(c), gorgonia.WithName("gamma"), gorgonia.WithValue(fdTensor(dt, []int{c}, gamma)))
			bn := gorgonia.NewVector(g, dt, gorgonia.WithShape(c), gorgonia.WithName("beta"), gorgonia.WithValue(fdTensor(dt, []int{c}, beta)))
			y, err := BatchNorm2D(xn, gn, bn, st)
			if err != nil {
				t.Fatal(err)
			}
			m := gorgonia.NewTapeMachine(g)
			defer m.Close()
			run := func() []float64 {
				t.Helper()
				m.Reset()
				if err := m.RunAll(); err != nil {
					t.Fatal(err)
				}
				return valueFloats(t, y.Value())
			}
			xq := valueFloats(t, fdTensor(dt, shape, x))
			wantMean, wantVar := []float64{0, 0}, []float64{1, 1}
			for step := range 3 {
				got := run()
				want, mu, uvar := bnReference(xq, gamma, beta, nil, nil, n, c, hw, true, 1e-5)
				for ch := range c {
					wantMean[ch] = 0.9*wantMean[ch] + 0.1*mu[ch]
					wantVar[ch] = 0.9*wantVar[ch] + 0.1*uvar[ch]
				}
				checkClose(t, fmt.Sprintf("training run %d: y", step), got, want, tol)
				checkClose(t, fmt.Sprintf("training run %d: running mean", step), st.Mean, wantMean, 1e-12)
				checkClose(t, fmt.Sprintf("training run %d: running var", step), st.Var, wantVar, 1e-12)
			}
			st.Training = false
			frozenMean, frozenVar := slices.Clone(st.Mean), slices.Clone(st.Var)
			for step := range 2 {
				got := run()
				want, _, _ := bnReference(xq, gamma, beta, wantMean, wantVar, n, c, hw, false, 1e-5)
				checkClose(t, fmt.Sprintf("eval run %d: y", step), got, want, tol)
				if !slices.Equal(st.Mean, frozenMean) || !slices.Equal(st.Var, frozenVar) {
					t.Errorf("eval run %d: running estimates %v, %v changed from %v, %v", step, st.Mean, st.Var, frozenMean, frozenVar)
				}
			}
		})
	}
}

func TestBatchNormErrors(t *testing.T) {
	good := func() *BatchNormState { return NewBatchNormState(2) }
	tests := []struct {
		name   string
		xs, ps []int
		st     *BatchNormState
	}{
		{"nil state", []int{2, 2, 3, 3}, []int{2}, nil},
		{"3-d input", []int{2, 2, 3}, []int{2}, good()},
		{"gamma size", []int{2, 2, 3, 3}, []int{3}, good()},
		{"state size", []int{2, 3, 3, 3}, []int{3}, good()},
		{"momentum", []int{2, 2, 3, 3}, []int{2}, &BatchNormState{Mean: []float64{0, 0}, Var: []float64{1, 1}, Momentum: 1.5, Eps: 1e-5}},
		{"eps", []int{2, 2, 3, 3}, []int{2}, &BatchNormState{Mean: []float64{0, 0}, Var: []float64{1, 1}, Momentum: 0.1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float64, len(tc.xs), gorgonia.WithShape(tc.xs...), gorgonia.WithName("x"))
			gm := gorgonia.NewTensor(g, tensor.Float64, len(tc.ps), gorgonia.WithShape(tc.ps...), gorgonia.WithName("gamma"))
			bt := gorgonia.NewTensor(g, tensor.Float64, len(tc.ps), gorgonia.WithShape(tc.ps...), gorgonia.WithName("beta"))
			if _, err := BatchNorm2D(x, gm, bt, tc.st); err == nil {
				t.Error("error = nil, want one")
			}
		})
	}
}

// One value per channel has no batch variance: training must fail, not divide by zero.
func TestBatchNormSingleValueTraining(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(1, 2, 1, 1), gorgonia.WithName("x"),
		gorgonia.WithValue(fdTensor(tensor.Float64, []int{1, 2, 1, 1}, []float64{1, 2})))
	gm := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(2), gorgonia.WithName("gamma"), gorgonia.WithInit(gorgonia.Ones()))
	bt := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(2), gorgonia.WithName("beta"), gorgonia.WithInit(gorgonia.Zeroes()))
	if _, err := BatchNorm2D(x, gm, bt, NewBatchNormState(2)); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err == nil {
		t.Error("RunAll error = nil, want one for a single value per channel")
	}
}

func BenchmarkBatchNorm2D(b *testing.B) {
	for _, shape := range [][]int{{32, 32, 64, 64}, {32, 64, 16, 16}} {
		for _, backward := range []bool{false, true} {
			b.Run(fmt.Sprintf("%v backward=%v", shape, backward), func(b *testing.B) {
				c := shape[1]
				benchGraph(b, []fdInput{
					{name: "x", shape: shape, wrt: true},
					{name: "gamma", shape: []int{c}, wrt: true},
					{name: "beta", shape: []int{c}, wrt: true},
				}, bnBuild(NewBatchNormState(c)), backward)
			})
		}
	}
}

// The kernels alone, without the graph.
func BenchmarkBatchNormKernels(b *testing.B) {
	const n, c, h, w = 32, 32, 64, 64
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(i%13) / 13
	}
	y, g, dx := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	copy(g, x)
	gamma, beta, sums := make([]float32, c), make([]float32, c), make([]float32, 2*c)
	op := &bnOp{Base: opkit.Base{Params: []int{n, c, h, w}}, st: NewBatchNormState(c),
		mean: make([]float64, c), invStd: make([]float64, c), training: true}
	b.Run("forward", func(b *testing.B) {
		benchCPU(b, func() { bnForward(op, x, gamma, beta, y) })
	})
	b.Run("sums", func(b *testing.B) {
		benchCPU(b, func() { bnSums(op, x, g, sums) })
	})
	b.Run("dx", func(b *testing.B) {
		benchCPU(b, func() { bnDx(op, x, gamma, g, sums, dx) })
	})
}

func TestBatchNormForward(t *testing.T) {
	symmetric := make([]float64, 2*3*5*4)
	for i := range symmetric {
		symmetric[i] = float64(i%7) - 3 // each channel map of 20 values sums to zero per image pair
	}
	for i := 60; i < 120; i++ {
		symmetric[i] = -symmetric[i-60] // image 1 mirrors image 0: the batch mean is exactly zero
	}
	tests := []struct {
		name string
		x    []float64
		dt   tensor.Dtype
		tol  float64
	}{
		{"random float64", fdRandom(22, 120, -3, 5), tensor.Float64, 1e-13},
		{"zero mean float64", symmetric, tensor.Float64, 1e-13},
		{"large offset float64", fdRandom(23, 120, 1e4, 1e4+1), tensor.Float64, 1e-9},
		{"random float32", fdRandom(22, 120, -3, 5), tensor.Float32, 1e-5},
		{"large offset float32", fdRandom(23, 120, 1e4, 1e4+1), tensor.Float32, 1e-5},
	}
	shape := []int{2, 3, 5, 4}
	gamma, beta := []float64{1, 2, 0.5}, []float64{0, -1, 3}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := NewBatchNormState(3)
			v, _ := runForward(t, tc.dt, [][]int{shape, {3}, {3}}, [][]float64{tc.x, gamma, beta},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return BatchNorm2D(in[0], in[1], in[2], st) })
			xq := valueFloats(t, fdTensor(tc.dt, shape, tc.x))
			want, mu, uvar := bnReference(xq, gamma, beta, nil, nil, 2, 3, 20, true, 1e-5)
			checkClose(t, "y", valueFloats(t, v), want, tc.tol)
			for ch := range 3 {
				wm, wv := 0.1*mu[ch], 0.9+0.1*uvar[ch]
				if math.Abs(st.Mean[ch]-wm) > 1e-9*max(1, math.Abs(wm)) || math.Abs(st.Var[ch]-wv) > 1e-9*max(1, wv) {
					t.Errorf("channel %d: running (%g, %g), want (%g, %g)", ch, st.Mean[ch], st.Var[ch], wm, wv)
				}
			}
		})
	}
}
