package kernels

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// loadFixture decodes testdata/name (written by testdata/gen_fixtures.py).
func loadFixture(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
}

type resizeFixture struct {
	Cases []struct {
		Name           string
		Shape, Size    []int
		X, Y, Gout, Gx []float64
	}
}

// resizeNaive is an independent reference: every input pixel j weighs
// max(0, 1 - |j + 0.5 - centre| / support) for output i, normalised, with
// centre = (i + 0.5) in/out and support = max(in/out, 1).
func resizeNaive(x []float64, planes, h, w, oh, ow int) []float64 {
	weights := func(in, out int) [][]float64 {
		scale := float64(in) / float64(out)
		support := math.Max(scale, 1)
		m := make([][]float64, out)
		for i := range m {
			m[i] = make([]float64, in)
			centre := (float64(i) + 0.5) * scale
			var sum float64
			for j := range in {
				m[i][j] = math.Max(0, 1-math.Abs(float64(j)+0.5-centre)/support)
				sum += m[i][j]
			}
			for j := range in {
				m[i][j] /= sum
			}
		}
		return m
	}
	wy, wx := weights(h, oh), weights(w, ow)
	y := make([]float64, planes*oh*ow)
	for p := range planes {
		for oy := range oh {
			for ox := range ow {
				var acc float64
				for iy := range h {
					for ix := range w {
						acc += wy[oy][iy] * wx[ox][ix] * x[p*h*w+iy*w+ix]
					}
				}
				y[p*oh*ow+oy*ow+ox] = acc
			}
		}
	}
	return y
}

func TestResizeMatchesPyTorch(t *testing.T) {
	var fx resizeFixture
	loadFixture(t, "resize.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no cases in resize.json")
	}
	for _, c := range fx.Cases {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 2e-6
			}
			t.Run(fmt.Sprintf("%s %v", c.Name, dt), func(t *testing.T) {
				y, grads := gradsFor(t, dt, []fdInput{{name: "x", shape: c.Shape, data: c.X, wrt: true}}, c.Gout,
					func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
						return Resize(in[0], c.Size[0], c.Size[1])
					})
				checkClose(t, "y", y, c.Y, tol)
				checkClose(t, "dx", grads[0], c.Gx, tol)
			})
		}
	}
}

func TestResizeNaiveReference(t *testing.T) {
	tests := []struct{ planes, h, w, oh, ow int }{
		{2, 8, 8, 3, 3},
		{1, 96, 80, 24, 20},
		{3, 31, 17, 64, 5},
		{1, 5, 9, 5, 9},
		{2, 3, 3, 7, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d to %dx%d", tc.h, tc.w, tc.oh, tc.ow), func(t *testing.T) {
			x := fdRandom(9, tc.planes*tc.h*tc.w, 0, 1)
			want := resizeNaive(x, tc.planes, tc.h, tc.w, tc.oh, tc.ow)
			v, shape := runForward(t, tensor.Float64, [][]int{{1, tc.planes, tc.h, tc.w}}, [][]float64{x},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return Resize(in[0], tc.oh, tc.ow) })
			if ws := (tensor.Shape{1, tc.planes, tc.oh, tc.ow}); !shape.Eq(ws) || !v.Shape().Eq(ws) {
				t.Fatalf("shape = %v (value %v), want %v", shape, v.Shape(), ws)
			}
			checkClose(t, "op", valueFloats(t, v), want, 1e-12)

			src := make([]float32, len(x))
			for i, xi := range x {
				src[i] = float32(xi)
			}
			dst := make([]float32, tc.planes*tc.oh*tc.ow)
			ResizePlain32(src, tc.planes, tc.h, tc.w, tc.oh, tc.ow, dst)
			got := make([]float64, len(dst))
			for i, d := range dst {
				got[i] = float64(d)
			}
			checkClose(t, "ResizePlain32", got, want, 2e-6)
		})
	}
}

func TestResizeGradient(t *testing.T) {
	tests := []struct {
		shape  []int
		oh, ow int
	}{
		{[]int{2, 1, 7, 6}, 3, 4},
		{[]int{1, 2, 3, 4}, 5, 7},
		{[]int{1, 1, 5, 5}, 2, 9},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v to %dx%d", tc.shape, tc.oh, tc.ow), func(t *testing.T) {
			fdCheck(t, []fdInput{{name: "x", shape: tc.shape, data: fdRandom(10, tensor.Shape(tc.shape).TotalSize(), 0, 1), wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
					return Resize(in[0], tc.oh, tc.ow)
				}, 1e-6)
		})
	}
}

func TestResizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		shape  []int
		oh, ow int
	}{
		{"3-d input", []int{2, 4, 4}, 2, 2},
		{"zero height", []int{1, 1, 4, 4}, 0, 2},
		{"negative width", []int{1, 1, 4, 4}, 2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float32, len(tc.shape), gorgonia.WithShape(tc.shape...))
			if _, err := Resize(x, tc.oh, tc.ow); err == nil {
				t.Errorf("Resize(%v, %d, %d) error = nil, want one", tc.shape, tc.oh, tc.ow)
			}
		})
	}
}

func TestResizePlain32BadArguments(t *testing.T) {
	tests := []struct {
		name            string
		src, dst        int
		c, h, w, oh, ow int
	}{
		{"short source", 15, 4, 1, 4, 4, 2, 2},
		{"short destination", 16, 3, 1, 4, 4, 2, 2},
		{"zero output", 16, 4, 1, 4, 4, 0, 2},
		{"negative channels", 16, 4, -1, 4, 4, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]float32, tc.dst)
			for i := range dst {
				dst[i] = 7
			}
			ResizePlain32(make([]float32, tc.src), tc.c, tc.h, tc.w, tc.oh, tc.ow, dst)
			for i, d := range dst {
				if d != 7 {
					t.Fatalf("dst[%d] = %g, want 7 (untouched)", i, d)
				}
			}
		})
	}
}

// The training step's uniform downsample: a batch of 32 sources of 256 x 256
// to the networks' 64 x 64.
func BenchmarkResize(b *testing.B) {
	for _, backward := range []bool{false, true} {
		b.Run(map[bool]string{false: "forward", true: "forward+backward"}[backward], func(b *testing.B) {
			benchGraph(b, []fdInput{{name: "x", shape: []int{32, 3, 256, 256}, wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Resize(in[0], 64, 64) }, backward)
		})
	}
}

func BenchmarkResizePlain32(b *testing.B) {
	src := make([]float32, 3*256*256)
	dst := make([]float32, 3*64*64)
	for b.Loop() {
		ResizePlain32(src, 3, 256, 256, 64, 64, dst)
	}
}

// The kernels alone, without the graph.
func BenchmarkResizeKernels(b *testing.B) {
	p, err := newResizePlan(256, 256, 64, 64)
	if err != nil {
		b.Fatal(err)
	}
	const planes = 96
	x := make([]float32, planes*256*256)
	y := make([]float32, planes*64*64)
	b.Run("forward", func(b *testing.B) {
		var s floatScratch
		benchCPU(b, func() { resizeDo(p, planes, 256*256, 64*64, x, y, &s, resizePlane[float32]) })
	})
	b.Run("transpose", func(b *testing.B) {
		var s floatScratch
		benchCPU(b, func() { resizeDo(p, planes, 64*64, 256*256, y, x, &s, resizePlaneT[float32]) })
	})
}
