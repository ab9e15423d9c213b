package kernels

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolWindowReference is PyTorch's MaxPool2d by its definition: -inf padding.
func maxPoolWindowReference(x []float64, n, c, h, w, k, s, p int) []float64 {
	ho, wo := (h+2*p-k)/s+1, (w+2*p-k)/s+1
	out := make([]float64, n*c*ho*wo)
	for q := range n * c {
		for oy := range ho {
			for ox := range wo {
				m := math.Inf(-1)
				for dy := range k {
					for dx := range k {
						r, col := oy*s-p+dy, ox*s-p+dx
						if r >= 0 && r < h && col >= 0 && col < w {
							m = max(m, x[(q*h+r)*w+col])
						}
					}
				}
				out[(q*ho+oy)*wo+ox] = m
			}
		}
	}
	return out
}

// bilinearReference interpolates by the formula of PyTorch's upsample_bilinear2d,
// computed per output cell.
func bilinearReference(x []float64, planes, h, w, oh, ow int, ac bool) []float64 {
	src := func(o, in, out int) float64 {
		if ac {
			if out == 1 {
				return 0
			}
			return float64(o) * float64(in-1) / float64(out-1)
		}
		return math.Max(0, (float64(o)+0.5)*float64(in)/float64(out)-0.5)
	}
	y := make([]float64, planes*oh*ow)
	for q := range planes {
		for i := range oh {
			sy := src(i, h, oh)
			y0 := int(math.Floor(sy))
			y1 := min(y0+1, h-1)
			ly := sy - float64(y0)
			for j := range ow {
				sx := src(j, w, ow)
				x0 := int(math.Floor(sx))
				x1 := min(x0+1, w-1)
				lx := sx - float64(x0)
				at := func(r, c int) float64 { return x[(q*h+r)*w+c] }
				y[(q*oh+i)*ow+j] = (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
			}
		}
	}
	return y
}

type opCase struct {
	name     string
	shape    []int
	build    func(x *gorgonia.Node) (*gorgonia.Node, error)
	want     func(x []float64) []float64
	outShape []int
}

func resnetOpCases() []opCase {
	mp := func(k, s, p int) func(*gorgonia.Node) (*gorgonia.Node, error) {
		return func(x *gorgonia.Node) (*gorgonia.Node, error) { return MaxPool2DWindow(x, k, s, p) }
	}
	bl := func(oh, ow int, ac bool) func(*gorgonia.Node) (*gorgonia.Node, error) {
		return func(x *gorgonia.Node) (*gorgonia.Node, error) { return Bilinear(x, oh, ow, ac) }
	}
	mean, std := ImageNetStats()
	return []opCase{
		{"maxpool3s2p1_8x7", []int{2, 3, 8, 7}, mp(3, 2, 1),
			func(x []float64) []float64 { return maxPoolWindowReference(x, 2, 3, 8, 7, 3, 2, 1) }, []int{2, 3, 4, 4}},
		{"maxpool3s2p1_9x9", []int{1, 2, 9, 9}, mp(3, 2, 1),
			func(x []float64) []float64 { return maxPoolWindowReference(x, 1, 2, 9, 9, 3, 2, 1) }, []int{1, 2, 5, 5}},
		{"maxpool2s1p0", []int{1, 1, 5, 6}, mp(2, 1, 0),
			func(x []float64) []float64 { return maxPoolWindowReference(x, 1, 1, 5, 6, 2, 1, 0) }, []int{1, 1, 4, 5}},
		{"maxpool4s3p2", []int{1, 2, 7, 10}, mp(4, 3, 2),
			func(x []float64) []float64 { return maxPoolWindowReference(x, 1, 2, 7, 10, 4, 3, 2) }, []int{1, 2, 3, 4}},
		{"bilinear_up_half_pixel", []int{2, 1, 4, 5}, bl(9, 7, false),
			func(x []float64) []float64 { return bilinearReference(x, 2, 4, 5, 9, 7, false) }, []int{2, 1, 9, 7}},
		{"bilinear_up_corners", []int{1, 2, 4, 5}, bl(9, 7, true),
			func(x []float64) []float64 { return bilinearReference(x, 2, 4, 5, 9, 7, true) }, []int{1, 2, 9, 7}},
		{"bilinear_down_half_pixel", []int{1, 2, 9, 8}, bl(4, 3, false),
			func(x []float64) []float64 { return bilinearReference(x, 2, 9, 8, 4, 3, false) }, []int{1, 2, 4, 3}},
		{"bilinear_14to31", []int{1, 1, 14, 14}, bl(31, 31, false),
			func(x []float64) []float64 { return bilinearReference(x, 1, 14, 14, 31, 31, false) }, []int{1, 1, 31, 31}},
		{"normalize_imagenet", []int{2, 3, 3, 4}, func(x *gorgonia.Node) (*gorgonia.Node, error) { return Normalize(x, mean, std) },
			func(x []float64) []float64 {
				y := make([]float64, len(x))
				for i, v := range x {
					c := (i / 12) % 3
					y[i] = (v - mean[c]) / std[c]
				}
				return y
			}, []int{2, 3, 3, 4}},
	}
}

func TestResNetOpsForward(t *testing.T) {
	for _, oc := range resnetOpCases() {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			t.Run(oc.name+"/"+dt.String(), func(t *testing.T) {
				x := fdRandom(31, tensor.Shape(oc.shape).TotalSize(), -1, 1)
				v, s := runForward(t, dt, [][]int{oc.shape}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					return oc.build(in[0])
				})
				if !s.Eq(tensor.Shape(oc.outShape)) {
					t.Fatalf("shape %v, want %v", s, oc.outShape)
				}
				tol := 1e-12
				if dt == tensor.Float32 {
					tol = 2e-6
				}
				got, want := valueFloats(t, v), oc.want(x)
				if d, at := maxAbsDiff(got, want); d > tol {
					t.Errorf("out[%d] = %v, want %v", at, got[at], want[at])
				}
			})
		}
	}
}

func TestResNetOpsGradient(t *testing.T) {
	for _, oc := range resnetOpCases() {
		t.Run(oc.name, func(t *testing.T) {
			// Distinct values keep every max-pool window away from a tie.
			x := fdRandom(32, tensor.Shape(oc.shape).TotalSize(), -1, 1)
			fdCheck(t, []fdInput{{name: "x", shape: oc.shape, data: x, wrt: true}},
				func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return oc.build(in[0]) }, 1e-6)
		})
	}
}

// TestBilinearMatchesPyTorch: values printed by torch 1.13's F.interpolate(mode=
// "bilinear") of x = arange(12)^1.5 as 1 x 1 x 3 x 4.
func TestBilinearMatchesPyTorch(t *testing.T) {
	x := make([]float64, 12)
	for i := range x {
		x[i] = math.Pow(float64(i), 1.5)
	}
	tests := []struct {
		oh, ow int
		ac     bool
		want   []float64
	}{
		{5, 3, false, []float64{0.166666666667, 1.914213562373, 4.801531539713, 3.512022659167, 6.323983806263, 10.034134546759, 8.530056647916, 12.938639172099, 17.883039057327, 17.425731158151, 22.762288649345, 28.556929630054, 23.356180831641, 29.311388300842, 35.672856678538}},
		{5, 3, true, []float64{0.0, 1.914213562373, 5.196152422707, 4.0, 7.426426367236, 11.858205800079, 8.0, 12.938639172099, 18.520259177452, 15.313708498985, 21.12501373647, 27.501565935681, 22.62741699797, 29.311388300842, 36.482872693909}},
		{2, 7, false, []float64{2.0, 2.551816061384, 3.434721759598, 4.670319964805, 5.99067096871, 7.551599056515, 8.527179111393, 18.970562748477, 20.425749256833, 22.754047670203, 25.218201018656, 27.719952940392, 30.349039940025, 31.992219314795}},
	}
	for _, tc := range tests {
		v, _ := runForward(t, tensor.Float64, [][]int{{1, 1, 3, 4}}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Bilinear(in[0], tc.oh, tc.ow, tc.ac)
		})
		if d, at := maxAbsDiff(valueFloats(t, v), tc.want); d > 1e-9 {
			t.Errorf("%dx%d align_corners %v: out[%d] differs by %g", tc.oh, tc.ow, tc.ac, at, d)
		}
	}
}

// TestMaxPoolWindowMatchesPyTorch: F.max_pool2d(x, 3, 2, 1) in torch 1.13.
func TestMaxPoolWindowMatchesPyTorch(t *testing.T) {
	x := []float64{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4}
	v, s := runForward(t, tensor.Float64, [][]int{{1, 1, 4, 5}}, [][]float64{x}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		return MaxPool2DWindow(in[0], 3, 2, 1)
	})
	if !s.Eq(tensor.Shape{1, 1, 2, 3}) {
		t.Fatalf("shape %v, want (1, 1, 2, 3)", s)
	}
	if d, at := maxAbsDiff(valueFloats(t, v), []float64{9, 6, 5, 9, 9, 9}); d != 0 {
		t.Errorf("out[%d] differs by %g", at, d)
	}
}

func TestResNetOpErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(1, 3, 4, 4), gorgonia.WithName("x"))
	tests := []struct {
		name string
		f    func() (*gorgonia.Node, error)
		want string
	}{
		{"pool padding", func() (*gorgonia.Node, error) { return MaxPool2DWindow(x, 3, 2, 2) }, "padding 2 must be in [0, kernel/2 = 1]"},
		{"pool stride", func() (*gorgonia.Node, error) { return MaxPool2DWindow(x, 3, 0, 1) }, "must be positive"},
		{"pool too large", func() (*gorgonia.Node, error) { return MaxPool2DWindow(x, 7, 1, 1) }, "does not fit"},
		{"bilinear size", func() (*gorgonia.Node, error) { return Bilinear(x, 0, 3, false) }, "sizes must be positive"},
		{"normalize channels", func() (*gorgonia.Node, error) { return Normalize(x, []float64{0}, []float64{1}) }, "1 means and 1 deviations for 3 channels"},
		{"normalize std", func() (*gorgonia.Node, error) { return Normalize(x, []float64{0, 0, 0}, []float64{1, 0, 1}) }, "not positive"},
		{"drop state", func() (*gorgonia.Node, error) { return ResolutionDrop(x, nil) }, "nil state"},
	}
	for _, tc := range tests {
		_, err := tc.f()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestResolutionDrop: pass-through at size 0 and at the input's side; otherwise
// the adaptive average pool followed by the half-pixel bilinear upsample, with the
// size changed between runs of one graph; the gradient by finite differences.
func TestResolutionDrop(t *testing.T) {
	const n, c, h = 2, 3, 9
	shape := []int{n, c, h, h}
	x := fdRandom(41, n*c*h*h, -1, 1)
	st := &DropState{}
	g := gorgonia.NewGraph()
	xn := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(shape...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(x))))
	y, err := ResolutionDrop(xn, st)
	if err != nil {
		t.Fatal(err)
	}
	var yv gorgonia.Value
	gorgonia.Read(y, &yv)
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	for _, size := range []int{0, 4, h, 2, 7, 0} {
		st.Size = size
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		want := x
		if size != 0 && size != h {
			want = bilinearReference(adaptiveReference(x, n, c, h, h, size, size), n*c, size, size, h, h, false)
		}
		if d, at := maxAbsDiff(valueFloats(t, yv), want); d > 1e-12 {
			t.Errorf("size %d: out[%d] differs by %g", size, at, d)
		}
	}
	st.Size = h + 1
	m.Reset()
	if err := m.RunAll(); err == nil || !strings.Contains(err.Error(), "size 10 outside [0, 9]") {
		t.Errorf("size %d: err = %v", st.Size, err)
	}
	for _, size := range []int{0, 4, 6} {
		st := &DropState{Size: size}
		fdCheck(t, []fdInput{{name: "x", shape: []int{1, 2, 7, 7}, data: fdRandom(42, 98, -1, 1), wrt: true}},
			func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return ResolutionDrop(in[0], st)
			}, 1e-6)
	}
}

func TestAdaptiveAvgPoolPlain32(t *testing.T) {
	for _, tc := range []struct{ planes, h, w, oh, ow int }{{6, 96, 96, 64, 64}, {3, 7, 5, 3, 4}, {3, 8, 8, 8, 8}} {
		x := fdRandom(51, tc.planes*tc.h*tc.w, 0, 1)
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
			x[i] = float64(x32[i])
		}
		got := make([]float32, tc.planes*tc.oh*tc.ow)
		AdaptiveAvgPoolPlain32(x32, tc.planes, tc.h, tc.w, tc.oh, tc.ow, got)
		want := adaptiveReference(x, 1, tc.planes, tc.h, tc.w, tc.oh, tc.ow)
		for i := range want {
			if d := math.Abs(float64(got[i]) - want[i]); d > 1e-6 {
				t.Fatalf("%+v: out[%d] = %v, want %v", tc, i, got[i], want[i])
			}
		}
	}
}
