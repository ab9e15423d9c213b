package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolReference is max pooling by its definition.
func maxPoolReference(x []float64, n, c, h, w, k int) []float64 {
	ho, wo := h/k, w/k
	out := make([]float64, n*c*ho*wo)
	for p := range n * c {
		for oy := range ho {
			for ox := range wo {
				m := math.Inf(-1)
				for dy := range k {
					for dx := range k {
						m = max(m, x[(p*h+oy*k+dy)*w+ox*k+dx])
					}
				}
				out[(p*ho+oy)*wo+ox] = m
			}
		}
	}
	return out
}

// adaptiveReference averages PyTorch's windows, written independently of
// poolWindows with floating-point floor and ceil.
func adaptiveReference(x []float64, n, c, h, w, oh, ow int) []float64 {
	out := make([]float64, n*c*oh*ow)
	for p := range n * c {
		for i := range oh {
			r0, r1 := int(math.Floor(float64(i*h)/float64(oh))), int(math.Ceil(float64((i+1)*h)/float64(oh)))
			for j := range ow {
				c0, c1 := int(math.Floor(float64(j*w)/float64(ow))), int(math.Ceil(float64((j+1)*w)/float64(ow)))
				var s float64
				for r := r0; r < r1; r++ {
					for q := c0; q < c1; q++ {
						s += x[(p*h+r)*w+q]
					}
				}
				out[(p*oh+i)*ow+j] = s / float64((r1-r0)*(c1-c0))
			}
		}
	}
	return out
}

type poolCase struct {
	name       string
	n, c, h, w int
	build      func(x *gorgonia.Node) (*gorgonia.Node, error)
	want       func(x []float64) []float64
	outShape   []int
}

func poolCases() []poolCase {
	return []poolCase{
		{"maxpool2_6x8", 2, 3, 6, 8, func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2D(x, 2) },
			func(x []float64) []float64 { return maxPoolReference(x, 2, 3, 6, 8, 2) }, []int{2, 3, 3, 4}},
		{"maxpool3_odd", 1, 2, 7, 8, func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2D(x, 3) },
			func(x []float64) []float64 { return maxPoolReference(x, 1, 2, 7, 8, 3) }, []int{1, 2, 2, 2}},
		{"global", 3, 4, 5, 3, GlobalAvgPool,
			func(x []float64) []float64 { return adaptiveReference(x, 3, 4, 5, 3, 1, 1) }, []int{3, 4}},
		{"adaptive_16to31", 1, 2, 16, 16, func(x *gorgonia.Node) (*gorgonia.Node, error) { return AdaptiveAvgPool2D(x, 31, 31) },
			func(x []float64) []float64 { return adaptiveReference(x, 1, 2, 16, 16, 31, 31) }, []int{1, 2, 31, 31}},
		{"adaptive_7x5to3x4", 2, 1, 7, 5, func(x *gorgonia.Node) (*gorgonia.Node, error) { return AdaptiveAvgPool2D(x, 3, 4) },
			func(x []float64) []float64 { return adaptiveReference(x, 2, 1, 7, 5, 3, 4) }, []int{2, 1, 3, 4}},
		{"adaptive_5x6to5x6", 1, 1, 5, 6, func(x *gorgonia.Node) (*gorgonia.Node, error) { return AdaptiveAvgPool2D(x, 5, 6) },
			func(x []float64) []float64 { return x }, []int{1, 1, 5, 6}},
	}
}

func TestPoolForward(t *testing.T) {
	for _, pc := range poolCases() {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(pc.name+"/"+dt.String(), func(t *testing.T) {
				shape := []int{pc.n, pc.c, pc.h, pc.w}
				x := fdRandom(21, pc.n*pc.c*pc.h*pc.w, -1, 1)
				v, s := runForward(t, dt, [][]int{shape}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					return pc.build(in[0])
				})
				if !s.Eq(tensor.Shape(pc.outShape)) {
					t.Fatalf("shape %v, want %v", s, pc.outShape)
				}
				got, want := valueFloats(t, v), pc.want(x)
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-6
				}
				if d, at := maxAbsDiff(got, want); d > tol {
					t.Errorf("out[%d] = %v, want %v", at, got[at], want[at])
				}
			})
		}
	}
}

func TestPoolGradient(t *testing.T) {
	for _, pc := range poolCases() {
		t.Run(pc.name, func(t *testing.T) {
			shape := []int{pc.n, pc.c, pc.h, pc.w}
			// Distinct values keep every max-pool window away from a tie.
			x := fdRandom(22, pc.n*pc.c*pc.h*pc.w, -1, 1)
			fdCheck(t, []fdInput{{name: "x", shape: shape, data: x, wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return pc.build(in[0]) }, 1e-6)
		})
	}
}

// TestMaxPoolTies checks PyTorch's rule: the first maximum of a window in
// row-major order gets the gradient, in the 2x2 fast path and the general one.
func TestMaxPoolTies(t *testing.T) {
	tests := []struct {
		x    []float64
		k    int
		want string
	}{
		{[]float64{1, 1, 1, 1}, 2, "[5 0 0 0]"},
		{[]float64{0, 1, 1, 0}, 2, "[0 5 0 0]"},
		{[]float64{0, 0, 1, 1}, 2, "[0 0 5 0]"},
		{[]float64{0, 0, 0, 1}, 2, "[0 0 0 5]"},
		{[]float64{0, 2, 0, 2, 0, 0, 2, 0, 0}, 3, "[0 5 0 0 0 0 0 0 0]"},
	}
	for _, tc := range tests {
		dx := make([]float64, len(tc.x))
		idx, y := make([]int32, 1), make([]float64, 1)
		maxPoolForward(tc.x, y, idx, 1, tc.k, tc.k, tc.k)
		maxPoolBackward([]float64{5}, dx, idx, 1, len(tc.x), 1)
		if got := fmt.Sprint(dx); got != tc.want {
			t.Errorf("x %v: dx = %s, want %s", tc.x, got, tc.want)
		}
	}
}

func TestPoolWindows(t *testing.T) {
	tests := []struct {
		in, out    int
		start, end string
	}{
		{16, 31, "[0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9 10 10 11 11 12 12 13 13 14 14 15]",
			"[1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9 10 10 11 11 12 12 13 13 14 14 15 15 16 16]"},
		{7, 3, "[0 2 4]", "[3 5 7]"},
		{4, 4, "[0 1 2 3]", "[1 2 3 4]"},
	}
	for _, tc := range tests {
		s, e := poolWindows(tc.in, tc.out)
		if fmt.Sprint(s) != tc.start || fmt.Sprint(e) != tc.end {
			t.Errorf("poolWindows(%d, %d) = %v, %v, want %s, %s", tc.in, tc.out, s, e, tc.start, tc.end)
		}
	}
}

func TestPoolErrors(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		build func(x *gorgonia.Node) (*gorgonia.Node, error)
		msg   string
	}{
		{"maxpool 2-D", []int{4, 4}, func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2D(x, 2) }, "want (N, C, H, W)"},
		{"maxpool too big", []int{1, 1, 3, 3}, func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2D(x, 4) }, "does not fit"},
		{"maxpool zero", []int{1, 1, 3, 3}, func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2D(x, 0) }, "does not fit"},
		{"adaptive zero", []int{1, 1, 3, 3}, func(x *gorgonia.Node) (*gorgonia.Node, error) { return AdaptiveAvgPool2D(x, 0, 2) }, "must be positive"},
		{"global 3-D", []int{1, 3, 3}, GlobalAvgPool, "want (N, C, H, W)"},
	}
	for _, tc := range tests {
		g := gorgonia.NewGraph()
		x := gorgonia.NewTensor(g, tensor.Float32, len(tc.shape), gorgonia.WithShape(tc.shape...))
		if _, err := tc.build(x); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.msg)
		}
	}
}

// TestMaxPoolReLUCommute: the task network applies ReLU after max pooling, on a
// quarter of the values; the outputs and input gradients must equal those of ReLU
// before max pooling.
func TestMaxPoolReLUCommute(t *testing.T) {
	shape := []int{2, 3, 6, 8}
	x := fdRandom(21, 2*3*6*8, -1, 1)
	r := fdRandom(22, 2*3*3*4, -1, 1)
	run := func(reluFirst bool) (out, dx []float64) {
		g := gorgonia.NewGraph()
		xn := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(shape...), gorgonia.WithName("x"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), x...)))))
		var y *gorgonia.Node
		var err error
		if reluFirst {
			if y, err = ReLU(xn); err == nil {
				y, err = MaxPool2D(y, 2)
			}
		} else {
			if y, err = MaxPool2D(xn, 2); err == nil {
				y, err = ReLU(y)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		flat := gorgonia.Must(gorgonia.Reshape(y, tensor.Shape{len(r)}))
		rn := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(len(r)), gorgonia.WithName("r"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(len(r)), tensor.WithBacking(r))))
		cost := gorgonia.Must(gorgonia.Mul(flat, rn))
		var yv gorgonia.Value
		gorgonia.Read(y, &yv)
		if _, err := gorgonia.Grad(cost, xn); err != nil {
			t.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(xn))
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		gx, err := xn.Grad()
		if err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), yv.Data().([]float64)...), append([]float64(nil), gx.Data().([]float64)...)
	}
	out1, dx1 := run(true)
	out2, dx2 := run(false)
	if d, at := maxAbsDiff(out2, out1); d != 0 {
		t.Errorf("pool then ReLU: out[%d] = %v, ReLU then pool gives %v", at, out2[at], out1[at])
	}
	if d, at := maxAbsDiff(dx2, dx1); d != 0 {
		t.Errorf("pool then ReLU: dx[%d] = %v, ReLU then pool gives %v", at, dx2[at], dx1[at])
	}
}

// TestAvgPoolHeadCommute: the saliency network applies its 1x1 head before the adaptive
// average pool; values and the gradients to input, weight and bias must match those of
// pooling first.
func TestAvgPoolHeadCommute(t *testing.T) {
	xs, ws := []int{2, 4, 5, 6}, []int{1, 4, 1, 1}
	x, w, b := fdRandom(31, 2*4*5*6, -1, 1), fdRandom(32, 4, -1, 1), fdRandom(33, 1, -1, 1)
	r := fdRandom(34, 2*1*9*7, -1, 1)
	run := func(headFirst bool) [][]float64 {
		g := gorgonia.NewGraph()
		node := func(name string, shape []int, v []float64) *gorgonia.Node {
			return gorgonia.NewTensor(g, tensor.Float64, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name),
				gorgonia.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), v...)))))
		}
		xn, wn, bn := node("x", xs, x), node("w", ws, w), node("b", []int{1}, b)
		var y *gorgonia.Node
		var err error
		if headFirst {
			if y, err = Conv2D(xn, wn, bn, 1, 0); err == nil {
				y, err = AdaptiveAvgPool2D(y, 9, 7)
			}
		} else {
			if y, err = AdaptiveAvgPool2D(xn, 9, 7); err == nil {
				y, err = Conv2D(y, wn, bn, 1, 0)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		flat := gorgonia.Must(gorgonia.Reshape(y, tensor.Shape{len(r)}))
		rn := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(len(r)), gorgonia.WithName("r"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(len(r)), tensor.WithBacking(r))))
		cost := gorgonia.Must(gorgonia.Mul(flat, rn))
		var yv gorgonia.Value
		gorgonia.Read(y, &yv)
		if _, err := gorgonia.Grad(cost, xn, wn, bn); err != nil {
			t.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(xn, wn, bn))
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		out := [][]float64{append([]float64(nil), yv.Data().([]float64)...)}
		for _, n := range []*gorgonia.Node{xn, wn, bn} {
			gv, err := n.Grad()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, append([]float64(nil), gv.Data().([]float64)...))
		}
		return out
	}
	got, want := run(true), run(false)
	for i, name := range []string{"output", "input gradient", "weight gradient", "bias gradient"} {
		if d, at := maxAbsDiff(got[i], want[i]); d > 1e-12 {
			t.Errorf("%s[%d]: head first %v, pool first %v", name, at, got[i][at], want[i][at])
		}
	}
}
