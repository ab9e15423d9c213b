package kernels

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convReference is Conv2d by its definition, in float64.
func convReference(x, w, b []float64, g convGeom) []float64 {
	out := make([]float64, g.n*g.outSize())
	for i := range g.n {
		for co := range g.cout {
			for oy := range g.ho {
				for ox := range g.wo {
					var s float64
					if b != nil {
						s = b[co]
					}
					for ci := range g.cin {
						for ki := range g.k {
							for kj := range g.k {
								iy, ix := oy*g.stride+ki-g.pad, ox*g.stride+kj-g.pad
								if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
									continue
								}
								s += x[((i*g.cin+ci)*g.h+iy)*g.w+ix] * w[((co*g.cin+ci)*g.k+ki)*g.k+kj]
							}
						}
					}
					out[((i*g.cout+co)*g.ho+oy)*g.wo+ox] = s
				}
			}
		}
	}
	return out
}

type convCase struct {
	n, cin, h, w, cout, k, stride, pad int
	bias                               bool
}

func (c convCase) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_w%dk%d_s%d_p%d_bias%t", c.n, c.cin, c.h, c.w, c.cout, c.k, c.stride, c.pad, c.bias)
}

func (c convCase) geom(t *testing.T) convGeom {
	t.Helper()
	g, err := newConvGeom(tensor.Shape{c.n, c.cin, c.h, c.w}, tensor.Shape{c.cout, c.cin, c.k, c.k}, c.stride, c.pad)
	if err != nil {
		t.Fatalf("geometry: %v", err)
	}
	return g
}

var convCases = []convCase{
	{2, 3, 7, 6, 4, 3, 1, 1, true},    // the networks' 3x3 pad 1
	{2, 3, 8, 7, 2, 3, 2, 1, true},    // stride 2 pad 1, odd width
	{1, 2, 5, 5, 3, 1, 1, 0, true},    // 1x1: no im2col
	{3, 2, 4, 6, 1, 1, 1, 0, false},   // 1x1 to one channel, no bias
	{1, 2, 9, 7, 2, 5, 3, 2, false},   // large kernel, stride 3, pad 2
	{2, 1, 3, 3, 2, 3, 1, 0, true},    // a single output pixel
	{1, 1, 2, 2, 1, 3, 1, 2, true},    // padding wider than the image
	{2, 2, 6, 6, 3, 1, 2, 1, true},    // 1x1 with stride and pad: im2col path
	{4, 3, 10, 9, 5, 3, 2, 0, false},  // more items than workers
	{1, 4, 16, 16, 8, 3, 1, 1, false}, // longer rows
}

func convInputs(c convCase) (x, w, b []float64) {
	x = fdRandom(1, c.n*c.cin*c.h*c.w, -1, 1)
	w = fdRandom(2, c.cout*c.cin*c.k*c.k, -1, 1)
	if c.bias {
		b = fdRandom(3, c.cout, -1, 1)
	}
	return x, w, b
}

func TestConv2DForward(t *testing.T) {
	for _, c := range convCases {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(c.String()+"/"+dt.String(), func(t *testing.T) {
				g := c.geom(t)
				x, w, b := convInputs(c)
				want := convReference(x, w, b, g)
				shapes := [][]int{g.xShape(), g.wShape()}
				data := [][]float64{x, w}
				if c.bias {
					shapes, data = append(shapes, []int{c.cout}), append(data, b)
				}
				v, shape := runForward(t, dt, shapes, data, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					var bn *gorgonia.Node
					if c.bias {
						bn = in[2]
					}
					return Conv2D(in[0], in[1], bn, c.stride, c.pad)
				})
				if !shape.Eq(tensor.Shape(g.outShape())) {
					t.Fatalf("shape %v, want %v", shape, g.outShape())
				}
				got := valueFloats(t, v)
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 1e-5
				}
				if d, at := maxAbsDiff(got, want); d > tol {
					t.Errorf("out[%d] = %v, want %v (|diff| %.3g > %g)", at, got[at], want[at], d, tol)
				}
			})
		}
	}
}

func TestConv2DGradient(t *testing.T) {
	for _, c := range convCases[:8] {
		t.Run(c.String(), func(t *testing.T) {
			g := c.geom(t)
			x, w, b := convInputs(c)
			inputs := []fdInput{
				{name: "x", shape: g.xShape(), data: x, wrt: true},
				{name: "w", shape: g.wShape(), data: w, wrt: true},
			}
			if c.bias {
				inputs = append(inputs, fdInput{name: "b", shape: []int{c.cout}, data: b, wrt: true})
			}
			fdCheck(t, inputs, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				var bn *gorgonia.Node
				if c.bias {
					bn = in[2]
				}
				return Conv2D(in[0], in[1], bn, c.stride, c.pad)
			}, 1e-6)
		})
	}
}

// TestConvGradWeightCache checks that the weight gradient is the same from
// the forward pass's im2col matrices as from its own, and that the cache is
// not used for another input.
func TestConvGradWeightCache(t *testing.T) {
	c := convCases[1]
	g := c.geom(t)
	x, w, b := convInputs(c)
	dy := fdRandom(4, g.n*g.outSize(), -1, 1)
	// Without a weight-gradient op the forward pass keeps no im2col matrices, and
	// computes the same.
	kept := &convState{geom: g, weightGrad: true}
	st := &convState{geom: g}
	out := make([]float64, g.n*g.outSize())
	if err := convForward(st, x, w, b, out, 1234); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if st.s64.colsOf != 0 || len(st.s64.cols.s) != 0 {
		t.Errorf("a convolution without weight gradient kept %d im2col values", len(st.s64.cols.s))
	}
	outKept := make([]float64, len(out))
	if err := convForward(kept, x, w, b, outKept, 1234); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if d, at := maxAbsDiff(outKept, out); d != 0 {
		t.Errorf("forward keeping the im2col matrices: out[%d] = %v, want %v", at, outKept[at], out[at])
	}
	if kept.s64.colsOf != 1234 {
		t.Fatalf("the forward pass kept no im2col matrices for the weight gradient")
	}
	st = kept
	cached := make([]float64, len(w))
	if err := convGradWeight(st, x, dy, cached, 1234); err != nil {
		t.Fatalf("cached weight gradient: %v", err)
	}
	// A different input at a different address: the cache must be ignored.
	x2 := fdRandom(5, len(x), -1, 1)
	fresh := make([]float64, len(w))
	if err := convGradWeight(st, x2, dy, fresh, 5678); err != nil {
		t.Fatalf("fresh weight gradient: %v", err)
	}
	wantCached := weightGradReference(x, dy, g)
	wantFresh := weightGradReference(x2, dy, g)
	for _, tc := range []struct {
		name      string
		got, want []float64
	}{{"cached", cached, wantCached}, {"fresh", fresh, wantFresh}} {
		if d, at := maxAbsDiff(tc.got, tc.want); d > 1e-12 {
			t.Errorf("%s: dw[%d] = %v, want %v", tc.name, at, tc.got[at], tc.want[at])
		}
	}
}

// weightGradReference is dL/dw for dL/dout = dy, from the definition.
func weightGradReference(x, dy []float64, g convGeom) []float64 {
	dw := make([]float64, g.cout*g.rows())
	for i := range g.n {
		for co := range g.cout {
			for oy := range g.ho {
				for ox := range g.wo {
					d := dy[((i*g.cout+co)*g.ho+oy)*g.wo+ox]
					for ci := range g.cin {
						for ki := range g.k {
							for kj := range g.k {
								iy, ix := oy*g.stride+ki-g.pad, ox*g.stride+kj-g.pad
								if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
									dw[((co*g.cin+ci)*g.k+ki)*g.k+kj] += d * x[((i*g.cin+ci)*g.h+iy)*g.w+ix]
								}
							}
						}
					}
				}
			}
		}
	}
	return dw
}

// TestConv2DRepeatedRuns checks that reused buffers give the right answer
// when a machine runs again on new input.
func TestConv2DRepeatedRuns(t *testing.T) {
	c := convCases[0]
	g := c.geom(t)
	x, w, b := convInputs(c)
	gr := gorgonia.NewGraph()
	xn := gorgonia.NewTensor(gr, tensor.Float64, 4, gorgonia.WithShape(g.xShape()...), gorgonia.WithName("x"))
	wn := gorgonia.NewTensor(gr, tensor.Float64, 4, gorgonia.WithShape(g.wShape()...), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(g.wShape()...), tensor.WithBacking(w))))
	bn := gorgonia.NewVector(gr, tensor.Float64, gorgonia.WithShape(c.cout), gorgonia.WithName("b"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(c.cout), tensor.WithBacking(b))))
	out, err := Conv2D(xn, wn, bn, c.stride, c.pad)
	if err != nil {
		t.Fatalf("Conv2D: %v", err)
	}
	m := gorgonia.NewTapeMachine(gr)
	defer m.Close()
	for run := range 3 {
		xi := fdRandom(uint64(10+run), len(x), -1, 1)
		if err := gorgonia.Let(xn, tensor.New(tensor.WithShape(g.xShape()...), tensor.WithBacking(xi))); err != nil {
			t.Fatalf("let: %v", err)
		}
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		got, want := valueFloats(t, out.Value()), convReference(xi, w, b, g)
		if d, at := maxAbsDiff(got, want); d > 1e-12 {
			t.Errorf("run %d: out[%d] = %v, want %v", run, at, got[at], want[at])
		}
	}
}

func TestConv2DErrors(t *testing.T) {
	tests := []struct {
		name        string
		x, w, b     []int
		stride, pad int
		msg         string
	}{
		{"3-D input", []int{3, 8, 8}, []int{4, 3, 3, 3}, nil, 1, 1, "want (N, Cin, H, W)"},
		{"channel mismatch", []int{1, 3, 8, 8}, []int{4, 2, 3, 3}, nil, 1, 1, "input channels"},
		{"rectangular kernel", []int{1, 3, 8, 8}, []int{4, 3, 3, 2}, nil, 1, 1, "weight shape"},
		{"zero stride", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, nil, 0, 1, "stride"},
		{"kernel too big", []int{1, 3, 2, 2}, []int{4, 3, 5, 5}, nil, 1, 1, "larger than padded"},
		{"bias size", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, []int{3}, 1, 1, "bias shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float32, len(tc.x), gorgonia.WithShape(tc.x...))
			w := gorgonia.NewTensor(g, tensor.Float32, len(tc.w), gorgonia.WithShape(tc.w...))
			var b *gorgonia.Node
			if tc.b != nil {
				b = gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(tc.b...))
			}
			_, err := Conv2D(x, w, b, tc.stride, tc.pad)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Conv2D error = %v, want one containing %q", err, tc.msg)
			}
		})
	}
}

// TestConv2DWithoutInputGradient: the weight and bias gradients still match finite
// differences, and no input-gradient node is built.
func TestConv2DWithoutInputGradient(t *testing.T) {
	c := convCases[1]
	g := c.geom(t)
	x, w, b := convInputs(c)
	inputs := []fdInput{
		{name: "x", shape: g.xShape(), data: x},
		{name: "w", shape: g.wShape(), data: w, wrt: true},
		{name: "b", shape: []int{c.cout}, data: b, wrt: true},
	}
	var graph *gorgonia.ExprGraph
	fdCheck(t, inputs, func(eg *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		graph = eg
		return Conv2D(in[0], in[1], in[2], c.stride, c.pad, Fixed(in[0]))
	}, 1e-6)
	for _, n := range graph.AllNodes() {
		if n.Op() != nil && strings.HasPrefix(n.Op().String(), "conv2d.dx") {
			t.Errorf("graph has an input-gradient node %v", n.Op())
		}
	}
}

// TestSumChannels checks the per-channel sum against a float64 loop, for float32 and
// float64 and for channel counts below and above the number of workers.
func TestSumChannels(t *testing.T) {
	for _, tc := range []struct{ n, c, area int }{{2, 1, 7}, {3, 5, 64}, {4, 32, 1023}} {
		x := fdRandom(9, tc.n*tc.c*tc.area, -1, 1)
		want := make([]float64, tc.c)
		for i := range tc.n {
			for ch := range tc.c {
				for _, v := range x[(i*tc.c+ch)*tc.area:][:tc.area] {
					want[ch] += float64(float32(v))
				}
			}
		}
		got64 := make([]float64, tc.c)
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		got32 := make([]float32, tc.c)
		sumChannels(x, got64, tc.n, tc.c, tc.area)
		sumChannels(x32, got32, tc.n, tc.c, tc.area)
		for ch := range tc.c {
			if d := math.Abs(float64(got32[ch]) - want[ch]); d > 1e-5*math.Max(1, math.Abs(want[ch])) {
				t.Errorf("%+v float32 channel %d: got %v, want %v", tc, ch, got32[ch], want[ch])
			}
		}
		for ch := range tc.c {
			var s float64
			for i := range tc.n {
				for _, v := range x[(i*tc.c+ch)*tc.area:][:tc.area] {
					s += v
				}
			}
			if d := math.Abs(got64[ch] - s); d > 1e-12*math.Max(1, math.Abs(s)) {
				t.Errorf("%+v float64 channel %d: got %v, want %v", tc, ch, got64[ch], s)
			}
		}
	}
}
