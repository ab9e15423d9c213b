package kernels

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func linearReference(x, w, b []float64, n, ni, no int) []float64 {
	out := make([]float64, n*no)
	for i := range n {
		for o := range no {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for k := range ni {
				s += x[i*ni+k] * w[o*ni+k]
			}
			out[i*no+o] = s
		}
	}
	return out
}

func TestLinearForward(t *testing.T) {
	tests := []struct {
		n, ni, no int
		bias      bool
	}{{3, 5, 4, true}, {1, 64, 10, true}, {7, 3, 1, false}}
	for _, tc := range tests {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			x, w, b := fdRandom(31, tc.n*tc.ni, -1, 1), fdRandom(32, tc.no*tc.ni, -1, 1), fdRandom(33, tc.no, -1, 1)
			shapes, data := [][]int{{tc.n, tc.ni}, {tc.no, tc.ni}}, [][]float64{x, w}
			if tc.bias {
				shapes, data = append(shapes, []int{tc.no}), append(data, b)
			} else {
				b = nil
			}
			v, s := runForward(t, dt, shapes, data, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				if tc.bias {
					return Linear(in[0], in[1], in[2])
				}
				return Linear(in[0], in[1], nil)
			})
			if !s.Eq(tensor.Shape{tc.n, tc.no}) {
				t.Fatalf("%v %v: shape %v, want (%d, %d)", tc, dt, s, tc.n, tc.no)
			}
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			got, want := valueFloats(t, v), linearReference(x, w, b, tc.n, tc.ni, tc.no)
			if d, at := maxAbsDiff(got, want); d > tol {
				t.Errorf("%v %v: out[%d] = %v, want %v", tc, dt, at, got[at], want[at])
			}
		}
	}
}

func TestLinearGradient(t *testing.T) {
	for _, bias := range []bool{true, false} {
		n, ni, no := 4, 6, 3
		inputs := []fdInput{
			{name: "x", shape: []int{n, ni}, data: fdRandom(41, n*ni, -1, 1), wrt: true},
			{name: "w", shape: []int{no, ni}, data: fdRandom(42, no*ni, -1, 1), wrt: true},
		}
		if bias {
			inputs = append(inputs, fdInput{name: "b", shape: []int{no}, data: fdRandom(43, no, -1, 1), wrt: true})
		}
		fdCheck(t, inputs, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			if bias {
				return Linear(in[0], in[1], in[2])
			}
			return Linear(in[0], in[1], nil)
		}, 1e-6)
	}
}

func TestReLU(t *testing.T) {
	x := []float64{-2, -0.5, 0.25, 3, -1e-3, 0.7}
	v, _ := runForward(t, tensor.Float32, [][]int{{2, 3}}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return ReLU(in[0])
	})
	got := valueFloats(t, v)
	want := []float64{0, 0, 0.25, 3, 0, 0.7}
	if d, at := maxAbsDiff(got, want); d > 1e-7 {
		t.Errorf("relu[%d] = %v, want %v", at, got[at], want[at])
	}
	// Values away from the kink at 0, so central differences are exact.
	xs := fdRandom(51, 2*3*4*5, -1, 1)
	for i := range xs {
		if xs[i] > -0.01 && xs[i] < 0.01 {
			xs[i] = 0.5
		}
	}
	fdCheck(t, []fdInput{{name: "x", shape: []int{2, 3, 4, 5}, data: xs, wrt: true}},
		func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return ReLU(in[0]) }, 1e-6)
}

func TestAdd(t *testing.T) {
	a, b := fdRandom(61, 24, -1, 1), fdRandom(62, 24, -1, 1)
	v, _ := runForward(t, tensor.Float64, [][]int{{2, 3, 4}, {2, 3, 4}}, [][]float64{a, b},
		func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Add(in[0], in[1]) })
	got := valueFloats(t, v)
	for i := range got {
		if got[i] != a[i]+b[i] {
			t.Fatalf("add[%d] = %v, want %v", i, got[i], a[i]+b[i])
		}
	}
	// x + relu(x): the input gets gradient from both branches.
	fdCheck(t, []fdInput{{name: "a", shape: []int{2, 3, 4}, data: a, wrt: true}, {name: "b", shape: []int{2, 3, 4}, data: b, wrt: true}},
		func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			r, err := ReLU(in[0])
			if err != nil {
				return nil, err
			}
			s, err := Add(in[0], r)
			if err != nil {
				return nil, err
			}
			return Add(s, in[1])
		}, 1e-6)
}

func TestLinearAddErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(2, 3))
	w := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(4, 2))
	b := gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(5))
	w2 := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(4, 3))
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"linear in mismatch", second(Linear(x, w, nil)), "want (N, in) and (out, in)"},
		{"linear bias", second(Linear(x, w2, b)), "bias shape"},
		{"add shapes", second(Add(x, w)), "differ"},
	}
	for _, tc := range tests {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.msg) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, tc.err, tc.msg)
		}
	}
}

func second(_ *gorgonia.Node, err error) error { return err }

// TestReLUBackwardSpecials checks the bit-level sign test on the values a
// comparison would get right for free: zeros of both signs, subnormals,
// infinities.
func TestReLUBackwardSpecials(t *testing.T) {
	x := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, math.Inf(1), math.Inf(-1), 1e-40, -1e-40, 2, -2}
	want := []float64{0, 0, 1, 0, 1, 0, 1, 0, 1, 0}
	dy := make([]float64, len(x))
	for i := range dy {
		dy[i] = 1
	}
	got64 := make([]float64, len(x))
	reluBackward(x, dy, got64)
	x32, dy32, got32 := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	for i := range x {
		x32[i], dy32[i] = float32(x[i]), 1
	}
	x32[2], x32[3] = math.Float32frombits(1), -math.Float32frombits(1) // float32 subnormals
	reluBackward(x32, dy32, got32)
	for i := range x {
		if got64[i] != want[i] || float64(got32[i]) != want[i] {
			t.Errorf("x = %v: float64 gradient %v, float32 gradient %v, want %v", x[i], got64[i], got32[i], want[i])
		}
	}
}
