package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// fdInput is one input of a graph under a gradient check.
type fdInput struct {
	name  string
	shape tensor.Shape
	data  []float64
	grad  bool // whether the check differentiates with respect to it
}

// gradCheck builds build(inputs) in float64, takes loss = <out, r> for a fixed random r,
// gets the gradients from a TapeMachine and compares them with central differences of
// the same machine's loss. It returns the norm-wise relative error of each checked input.
func gradCheck(t *testing.T, seed uint64, inputs []fdInput, build func(in []*gorgonia.Node) (*gorgonia.Node, error)) []float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(inputs))
	var wrt []*gorgonia.Node
	for i, in := range inputs {
		v := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(append([]float64(nil), in.data...)))
		nodes[i] = gorgonia.NewTensor(g, tensor.Float64, len(in.shape), gorgonia.WithShape(in.shape...), gorgonia.WithName(in.name), gorgonia.WithValue(v))
		if in.grad {
			wrt = append(wrt, nodes[i])
		}
	}
	out, err := build(nodes)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	size := out.Shape().TotalSize()
	flat, err := gorgonia.Reshape(out, tensor.Shape{size})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	r := make([]float64, size)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	rn := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(size), gorgonia.WithName("r"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(size), tensor.WithBacking(r))))
	loss, err := gorgonia.Mul(flat, rn)
	if err != nil {
		t.Fatal(err)
	}
	var lossVal gorgonia.Value
	gorgonia.Read(loss, &lossVal)
	grads, err := gorgonia.Grad(loss, wrt...)
	if err != nil {
		t.Fatalf("grad: %v", err)
	}
	vm := gorgonia.NewTapeMachine(g)
	defer vm.Close()
	run := func() float64 {
		t.Helper()
		if err := vm.RunAll(); err != nil {
			t.Fatalf("run: %v", err)
		}
		vm.Reset()
		return lossVal.Data().(float64)
	}
	run()
	var errs []float64
	k := 0
	for i, in := range inputs {
		if !in.grad {
			continue
		}
		analytic := append([]float64(nil), grads[k].Value().Data().([]float64)...)
		k++
		set := func(x []float64) {
			if err := gorgonia.Let(nodes[i], tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(append([]float64(nil), x...)))); err != nil {
				t.Fatal(err)
			}
		}
		numeric := opkit.CentralDifferences(in.data, 1e-6, func(x []float64) float64 {
			set(x)
			return run()
		})
		set(in.data)
		var diff, na, nn float64
		for j := range numeric {
			diff += (analytic[j] - numeric[j]) * (analytic[j] - numeric[j])
			na += analytic[j] * analytic[j]
			nn += numeric[j] * numeric[j]
		}
		if nn == 0 {
			t.Fatalf("%s: numeric gradient is zero: the check would prove nothing", in.name)
		}
		errs = append(errs, math.Sqrt(diff/max(na, nn)))
	}
	return errs
}

func uniformIn(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

func TestGenerateGridGradient(t *testing.T) {
	for i, p := range []Params{
		{H: 7, W: 10, Padding: 6, FWHM: 4, Mode: Replicate},
		{H: 9, W: 5, Padding: 4, FWHM: 3, Mode: Reflect},
		{H: 6, W: 13, Padding: 12, FWHM: 7, Mode: Replicate},
	} {
		t.Run(fmt.Sprintf("%dx%d_%s", p.W, p.H, p.Mode), func(t *testing.T) {
			gen, err := NewGenerator(p)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			n := 2
			var s []float64
			for range n {
				s = append(s, peakedMap(rng, p.H, p.W)...)
			}
			errs := gradCheck(t, uint64(i), []fdInput{{"s", tensor.Shape{n, p.H, p.W}, s, true}},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return GenerateGrid(gen, in[0]) })
			if errs[0] > 1e-6 {
				t.Errorf("gradient to the saliency map: relative error %g, want under 1e-6", errs[0])
			}
		})
	}
}

func TestUpsampleGridGradient(t *testing.T) {
	for i, tc := range []struct{ n, h, w, ho, wo int }{
		{2, 4, 6, 9, 11},
		{1, 7, 3, 5, 8},
		{3, 5, 5, 12, 4},
	} {
		t.Run(fmt.Sprintf("%dx%d_to_%dx%d", tc.w, tc.h, tc.wo, tc.ho), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 8))
			// Some values beyond [-1, 1] so that the clamp's zero gradient is checked too.
			grid := uniformIn(rng, tc.n*tc.h*tc.w*2, -1.3, 1.3)
			errs := gradCheck(t, uint64(i), []fdInput{{"grid", tensor.Shape{tc.n, tc.h, tc.w, 2}, grid, true}},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return UpsampleGrid(in[0], tc.ho, tc.wo) })
			if errs[0] > 1e-6 {
				t.Errorf("gradient to the grid: relative error %g, want under 1e-6", errs[0])
			}
		})
	}
}

func TestGridSampleGradient(t *testing.T) {
	for i, tc := range []struct{ n, c, h, w, ho, wo int }{
		{2, 3, 9, 13, 5, 7},
		{1, 1, 6, 4, 8, 3},
		{2, 2, 5, 11, 4, 6},
	} {
		t.Run(fmt.Sprintf("%dx%d_to_%dx%d", tc.w, tc.h, tc.wo, tc.ho), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			img := uniformIn(rng, tc.n*tc.c*tc.h*tc.w, 0, 1)
			grid := uniformIn(rng, tc.n*tc.ho*tc.wo*2, -0.97, 0.97)
			errs := gradCheck(t, uint64(i), []fdInput{
				{"img", tensor.Shape{tc.n, tc.c, tc.h, tc.w}, img, true},
				{"grid", tensor.Shape{tc.n, tc.ho, tc.wo, 2}, grid, true},
			}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
				return GridSample(in[0], in[1], WithImageGradient(true))
			})
			for k, name := range []string{"image", "grid"} {
				if errs[k] > 1e-6 {
					t.Errorf("gradient to the %s: relative error %g, want under 1e-6", name, errs[k])
				}
			}
		})
	}
}

// TestPipelineGradient chains the three ops as training does, with an image computed
// from a variable so that its gradient is built without asking.
func TestPipelineGradient(t *testing.T) {
	p := Params{H: 6, W: 8, Padding: 5, FWHM: 4, Mode: Replicate}
	gen, err := NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	n, c, hIn, wIn, ho, wo := 2, 3, 13, 17, 7, 9
	var s []float64
	for range n {
		s = append(s, peakedMap(rng, p.H, p.W)...)
	}
	img := uniformIn(rng, n*c*hIn*wIn, 0, 1)
	errs := gradCheck(t, 5, []fdInput{
		{"s", tensor.Shape{n, p.H, p.W}, s, true},
		{"img", tensor.Shape{n, c, hIn, wIn}, img, true},
	}, func(in []*gorgonia.Node) (*gorgonia.Node, error) {
		grid, err := GenerateGrid(gen, in[0])
		if err != nil {
			return nil, err
		}
		up, err := UpsampleGrid(grid, ho, wo)
		if err != nil {
			return nil, err
		}
		sq, err := gorgonia.Square(in[1]) // a computed image
		if err != nil {
			return nil, err
		}
		return GridSample(sq, up)
	})
	for k, name := range []string{"saliency map", "image"} {
		if errs[k] > 1e-6 {
			t.Errorf("gradient to the %s: relative error %g, want under 1e-6", name, errs[k])
		}
	}
}

// TestLeafImageHasNoGradient checks that an input image costs no gradient unless asked.
func TestLeafImageHasNoGradient(t *testing.T) {
	g := gorgonia.NewGraph()
	img := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 3, 8, 8), gorgonia.WithName("img"))
	grid := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(1, 4, 4, 2), gorgonia.WithName("grid"))
	tests := []struct {
		name string
		opts []SampleOption
		want []bool
	}{
		{"default", nil, []bool{false, true}},
		{"asked", []SampleOption{WithImageGradient(true)}, []bool{true, true}},
	}
	for _, tt := range tests {
		out, err := GridSample(img, grid, tt.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got := out.Op().(gorgonia.SDOp).DiffWRT(2)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: DiffWRT = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOpShapeErrors(t *testing.T) {
	gen, err := NewGenerator(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	g := gorgonia.NewGraph()
	s := gorgonia.NewTensor(g, tensor.Float32, 3, gorgonia.WithShape(2, 30, 31), gorgonia.WithName("s"))
	if _, err := GenerateGrid(gen, s); err == nil {
		t.Error("GenerateGrid accepted a 30x31 map for a 31x31 generator")
	}
	img := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(2, 3, 8, 8), gorgonia.WithName("img"))
	grid := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(3, 4, 4, 2), gorgonia.WithName("grid"))
	if _, err := GridSample(img, grid); err == nil {
		t.Error("GridSample accepted batches of 2 images and 3 grids")
	}
	if _, err := UpsampleGrid(grid, 0, 4); err == nil {
		t.Error("UpsampleGrid accepted an output height of 0")
	}
}
