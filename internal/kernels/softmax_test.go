package kernels

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softmaxReference is the textbook formula, one map at a time, in float64.
func softmaxReference(x []float64, cells int, temp float64) []float64 {
	y := make([]float64, len(x))
	for i := 0; i < len(x); i += cells {
		m := math.Inf(-1)
		for _, v := range x[i : i+cells] {
			m = math.Max(m, v)
		}
		var sum float64
		for j := i; j < i+cells; j++ {
			y[j] = math.Exp((x[j] - m) / temp)
			sum += y[j]
		}
		for j := i; j < i+cells; j++ {
			y[j] /= sum
		}
	}
	return y
}

// runForward builds out = f(inputs) in a graph of dtype dt and returns its value.
func runForward(t *testing.T, dt tensor.Dtype, shapes [][]int, data [][]float64,
	f func([]*gorgonia.Node) (*gorgonia.Node, error)) (gorgonia.Value, tensor.Shape) {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		var v *tensor.Dense
		if dt == tensor.Float32 {
			f32 := make([]float32, len(data[i]))
			for j, d := range data[i] {
				f32[j] = float32(d)
			}
			v = tensor.New(tensor.WithShape(s...), tensor.WithBacking(f32))
		} else {
			v = tensor.New(tensor.WithShape(s...), tensor.WithBacking(append([]float64(nil), data[i]...)))
		}
		// Unnamed inputs of one shape would be merged into one node.
		nodes[i] = gorgonia.NewTensor(g, dt, len(s), gorgonia.WithShape(s...), gorgonia.WithValue(v),
			gorgonia.WithName(fmt.Sprintf("in%d", i)))
	}
	out, err := f(nodes)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
	return out.Value(), out.Shape()
}

// valueFloats returns a value's elements as float64.
func valueFloats(t *testing.T, v gorgonia.Value) []float64 {
	t.Helper()
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	t.Fatalf("unexpected value data %T", v.Data())
	return nil
}

// maxAbsDiff returns the largest |got-want| and where it is.
func maxAbsDiff(got, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
			if math.IsNaN(d) {
				return math.Inf(1), i
			}
		}
	}
	return worst, at
}

func TestSpatialSoftmaxForward(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		temp  float64
		scale float64 // spread of the logits
		dt    tensor.Dtype
		tol   float64
	}{
		{"4d float64", []int{3, 1, 5, 7}, 1, 3, tensor.Float64, 1e-15},
		{"3d float64 hot", []int{2, 4, 4}, 0.25, 3, tensor.Float64, 1e-15},
		{"3d float64 huge logits", []int{2, 3, 3}, 1, 2000, tensor.Float64, 1e-15},
		{"4d float32", []int{4, 1, 31, 31}, 2, 5, tensor.Float32, 1e-7},
		{"3d float32 huge logits", []int{2, 5, 5}, 1, 300, tensor.Float32, 1e-7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tensor.Shape(tc.shape).TotalSize()
			x := fdRandom(1, n, -tc.scale, tc.scale)
			v, shape := runForward(t, tc.dt, [][]int{tc.shape}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SpatialSoftmax(in[0], tc.temp)
			})
			wantShape := tensor.Shape{tc.shape[0], tc.shape[len(tc.shape)-2], tc.shape[len(tc.shape)-1]}
			if !shape.Eq(wantShape) || !v.Shape().Eq(wantShape) {
				t.Fatalf("shape = %v (value %v), want %v", shape, v.Shape(), wantShape)
			}
			if tc.dt == tensor.Float32 {
				for i, xi := range x {
					x[i] = float64(float32(xi))
				}
			}
			cells := wantShape[1] * wantShape[2]
			got, want := valueFloats(t, v), softmaxReference(x, cells, tc.temp)
			if d, at := maxAbsDiff(got, want); d > tc.tol {
				t.Errorf("y[%d] = %g, want %g (|diff| %g > %g)", at, got[at], want[at], d, tc.tol)
			}
			for i := 0; i < len(got); i += cells {
				var sum float64
				for _, y := range got[i : i+cells] {
					sum += y
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Errorf("map %d sums to %g, want 1", i/cells, sum)
				}
			}
		})
	}
}

func TestSpatialSoftmaxErrors(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		temp  float64
	}{
		{"two channels", []int{2, 2, 3, 3}, 1},
		{"matrix", []int{4, 5}, 1},
		{"zero temperature", []int{2, 3, 3}, 0},
		{"negative temperature", []int{2, 3, 3}, -1},
		{"NaN temperature", []int{2, 3, 3}, math.NaN()},
		{"infinite temperature", []int{2, 3, 3}, math.Inf(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float64, len(tc.shape), gorgonia.WithShape(tc.shape...))
			if _, err := SpatialSoftmax(x, tc.temp); err == nil {
				t.Errorf("SpatialSoftmax(%v, %v) error = nil, want one", tc.shape, tc.temp)
			}
		})
	}
	if _, err := SpatialSoftmax(nil, 1); err == nil {
		t.Error("SpatialSoftmax(nil) error = nil, want one")
	}
}

func TestSpatialSoftmaxGradient(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		temp  float64
	}{
		{"4d", []int{2, 1, 3, 4}, 1},
		{"3d hot", []int{3, 3, 3}, 0.5},
		{"3d cold", []int{2, 2, 5}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tensor.Shape(tc.shape).TotalSize()
			fdCheck(t, []fdInput{{name: "x", shape: tc.shape, data: fdRandom(2, n, -2, 2), wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
					return SpatialSoftmax(in[0], tc.temp)
				}, 1e-6)
		})
	}
}

func BenchmarkSpatialSoftmax(b *testing.B) {
	for _, backward := range []bool{false, true} {
		b.Run(map[bool]string{false: "forward", true: "forward+backward"}[backward], func(b *testing.B) {
			benchGraph(b, []fdInput{{name: "x", shape: []int{32, 1, 31, 31}, wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
					return SpatialSoftmax(in[0], 1)
				}, backward)
		})
	}
}
