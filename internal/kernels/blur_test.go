package kernels

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// blurNaive is the 2-D correlation with the outer product of k, reading
// pixels at clamped coordinates.
func blurNaive(x, k []float64, planes, h, w int) []float64 {
	r := len(k) / 2
	clamp := func(v, hi int) int { return min(max(v, 0), hi-1) }
	y := make([]float64, len(x))
	for p := range planes {
		for i := range h {
			for j := range w {
				var acc float64
				for a := -r; a <= r; a++ {
					for b := -r; b <= r; b++ {
						acc += k[a+r] * k[b+r] * x[p*h*w+clamp(i+a, h)*w+clamp(j+b, w)]
					}
				}
				y[p*h*w+i*w+j] = acc
			}
		}
	}
	return y
}

func blurBuild(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
	return GaussianBlur(in[0], in[1])
}

func TestBlurKernel(t *testing.T) {
	e := math.Exp(-0.5)
	tests := []struct {
		name   string
		sigma  float64
		radius int
		want   []float64
	}{
		{"sigma 1 radius 1", 1, 1, []float64{e / (1 + 2*e), 1 / (1 + 2*e), e / (1 + 2*e)}},
		{"zero sigma", 0, 2, []float64{0, 0, 1, 0, 0}},
		{"negative sigma", -1, 1, []float64{0, 1, 0}},
		{"NaN sigma", math.NaN(), 1, []float64{0, 1, 0}},
		{"zero radius", 3, 0, []float64{1}},
		{"negative radius", 3, -2, []float64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkClose(t, "kernel", BlurKernel(tc.sigma, tc.radius), tc.want, 1e-15)
		})
	}
	for _, sigma := range []float64{0.3, 1, 2.5, 7} {
		k := BlurKernel(sigma, BlurRadius(sigma))
		var sum float64
		for i, v := range k {
			sum += v
			if v != k[len(k)-1-i] {
				t.Errorf("sigma %g: kernel not symmetric at %d: %g vs %g", sigma, i, v, k[len(k)-1-i])
			}
		}
		if math.Abs(sum-1) > 1e-14 {
			t.Errorf("sigma %g: kernel sums to %.17g, want 1", sigma, sum)
		}
	}
}

func TestBlurRadius(t *testing.T) {
	tests := []struct {
		sigma float64
		want  int
	}{{0, 0}, {-1, 0}, {math.NaN(), 0}, {0.1, 1}, {1, 3}, {1.5, 5}, {2.34, 8}}
	for _, tc := range tests {
		if got := BlurRadius(tc.sigma); got != tc.want {
			t.Errorf("BlurRadius(%g) = %d, want %d", tc.sigma, got, tc.want)
		}
	}
}

func TestGaussianBlurMatchesPyTorch(t *testing.T) {
	var fx struct {
		Cases []struct {
			Name                   string
			Shape                  []int
			Kernel, X, Y, Gout, Gx []float64
		}
	}
	loadFixture(t, "blur.json", &fx)
	if len(fx.Cases) == 0 {
		t.Fatal("no cases in blur.json")
	}
	for _, c := range fx.Cases {
		for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
			tol := 1e-13
			if dt == tensor.Float32 {
				tol = 2e-6
			}
			t.Run(fmt.Sprintf("%s %v", c.Name, dt), func(t *testing.T) {
				y, grads := gradsFor(t, dt, []fdInput{
					{name: "x", shape: c.Shape, data: c.X, wrt: true},
					{name: "kernel", shape: []int{len(c.Kernel)}, data: c.Kernel},
				}, c.Gout, blurBuild)
				checkClose(t, "y", y, c.Y, tol)
				checkClose(t, "dx", grads[0], c.Gx, tol)
			})
		}
	}
}

func TestGaussianBlurNaiveReference(t *testing.T) {
	tests := []struct {
		shape  []int
		sigma  float64
		radius int
	}{
		{[]int{2, 3, 9, 11}, 1.2, 4},
		{[]int{1, 1, 31, 31}, 3, 9},
		{[]int{1, 2, 3, 2}, 2, 6}, // radius wider than the map
		{[]int{1, 1, 1, 5}, 1, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v sigma %g", tc.shape, tc.sigma), func(t *testing.T) {
			n := tensor.Shape(tc.shape).TotalSize()
			x := fdRandom(12, n, -1, 1)
			k := BlurKernel(tc.sigma, tc.radius)
			want := blurNaive(x, k, tc.shape[0]*tc.shape[1], tc.shape[2], tc.shape[3])
			v, shape := runForward(t, tensor.Float64, [][]int{tc.shape, {len(k)}}, [][]float64{x, k},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return GaussianBlur(in[0], in[1]) })
			if !shape.Eq(tensor.Shape(tc.shape)) || !v.Shape().Eq(tensor.Shape(tc.shape)) {
				t.Fatalf("shape = %v (value %v), want %v", shape, v.Shape(), tc.shape)
			}
			checkClose(t, "y", valueFloats(t, v), want, 1e-13)
		})
	}
}

func TestGaussianBlurDeltaIsIdentity(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		for _, radius := range []int{0, 1, 4} {
			t.Run(fmt.Sprintf("%v radius %d", dt, radius), func(t *testing.T) {
				shape := []int{2, 3, 5, 6}
				x := fdRandom(13, 180, -1e3, 1e3)
				x[0], x[1], x[2] = 1e-30, -7e20, math.SmallestNonzeroFloat32
				y, grads := gradsFor(t, dt, []fdInput{
					{name: "x", shape: shape, data: x, wrt: true},
					{name: "kernel", shape: []int{2*radius + 1}, data: BlurKernel(0, radius)},
				}, x, blurBuild)
				want := valueFloats(t, fdTensor(dt, shape, x))
				for i := range y {
					if y[i] != want[i] || grads[0][i] != want[i] {
						t.Fatalf("element %d: y = %g, dx = %g, want both exactly %g", i, y[i], grads[0][i], want[i])
					}
				}
			})
		}
	}
}

// The trainer changes the kernel's value between steps of one graph.
func TestGaussianBlurKernelChangesBetweenRuns(t *testing.T) {
	shape := []int{1, 2, 7, 8}
	x := fdRandom(14, 112, 0, 1)
	g := gorgonia.NewGraph()
	xn := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(shape...), gorgonia.WithName("x"),
		gorgonia.WithValue(fdTensor(tensor.Float64, shape, x)))
	kn := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(5), gorgonia.WithName("kernel"),
		gorgonia.WithValue(fdTensor(tensor.Float64, []int{5}, BlurKernel(1, 2))))
	y, err := GaussianBlur(xn, kn)
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	for _, sigma := range []float64{1, 0.5, 0, 2} {
		k := BlurKernel(sigma, 2)
		if err := gorgonia.Let(kn, fdTensor(tensor.Float64, []int{5}, k)); err != nil {
			t.Fatal(err)
		}
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		checkClose(t, fmt.Sprintf("sigma %g", sigma), valueFloats(t, y.Value()), blurNaive(x, k, 2, 7, 8), 1e-13)
	}
}

func TestGaussianBlurGradient(t *testing.T) {
	tests := []struct {
		shape []int
		k     []float64
	}{
		{[]int{1, 2, 5, 6}, BlurKernel(1, 2)},
		{[]int{2, 1, 3, 4}, []float64{0.1, 0.5, 0.2, -0.3, 0.05}}, // asymmetric, radius > H/2
		{[]int{1, 1, 4, 4}, BlurKernel(0.7, 1)},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v", tc.shape), func(t *testing.T) {
			fdCheck(t, []fdInput{
				{name: "x", shape: tc.shape, data: fdRandom(15, tensor.Shape(tc.shape).TotalSize(), -1, 1), wrt: true},
				{name: "kernel", shape: []int{len(tc.k)}, data: tc.k},
			}, blurBuild, 1e-6)
		})
	}
}

func TestGaussianBlurErrors(t *testing.T) {
	tests := []struct {
		name   string
		xs, ks []int
		kdt    tensor.Dtype
	}{
		{"3-d input", []int{2, 4, 4}, []int{3}, tensor.Float64},
		{"even kernel", []int{1, 1, 4, 4}, []int{4}, tensor.Float64},
		{"matrix kernel", []int{1, 1, 4, 4}, []int{3, 1}, tensor.Float64},
		{"dtype mismatch", []int{1, 1, 4, 4}, []int{3}, tensor.Float32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float64, len(tc.xs), gorgonia.WithShape(tc.xs...), gorgonia.WithName("x"))
			k := gorgonia.NewTensor(g, tc.kdt, len(tc.ks), gorgonia.WithShape(tc.ks...), gorgonia.WithName("k"))
			if _, err := GaussianBlur(x, k); err == nil {
				t.Error("error = nil, want one")
			}
		})
	}
}

func BenchmarkGaussianBlur(b *testing.B) {
	tests := []struct {
		name  string
		shape []int
		sigma float64
	}{
		{"32x3x256x256 sigma 2", []int{32, 3, 256, 256}, 2},
		{"32x3x64x64 sigma 2", []int{32, 3, 64, 64}, 2},
		{"32x3x64x64 delta", []int{32, 3, 64, 64}, 0},
	}
	for _, tc := range tests {
		for _, backward := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s backward=%v", tc.name, backward), func(b *testing.B) {
				k := BlurKernel(tc.sigma, BlurRadius(tc.sigma))
				benchGraph(b, []fdInput{
					{name: "x", shape: tc.shape, wrt: true},
					{name: "kernel", shape: []int{len(k)}, data: k},
				}, blurBuild, backward)
			})
		}
	}
}

// The kernels alone, without the graph: the task input at batch 32.
func BenchmarkBlurKernels(b *testing.B) {
	const planes, h, w = 96, 64, 64
	x := make([]float32, planes*h*w)
	for i := range x {
		x[i] = float32(i%17) / 17
	}
	y := make([]float32, len(x))
	k64 := BlurKernel(1.5, BlurRadius(1.5))
	k := make([]float32, len(k64))
	for i, v := range k64 {
		k[i] = float32(v)
	}
	for _, transpose := range []bool{false, true} {
		b.Run(fmt.Sprintf("transpose=%v", transpose), func(b *testing.B) {
			var s floatScratch
			benchCPU(b, func() { blurRun(x, y, k, planes, h, w, &s, transpose) })
		})
	}
}
