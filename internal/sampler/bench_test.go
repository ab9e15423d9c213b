package sampler

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const benchN = 32

func benchMaps(b *testing.B, g *Generator) []float32 {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 1))
	var s []float32
	for range benchN {
		for _, v := range peakedMap(rng, g.p.H, g.p.W) {
			s = append(s, float32(v))
		}
	}
	return s
}

// BenchmarkGenerator times the grid generator for a batch of 32 maps of 31 x 31, through
// the plain kernels and through the Gorgonia ops' Do (what the TapeMachine calls).
func BenchmarkGenerator(b *testing.B) {
	g, err := NewGenerator(DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	h, w := g.p.H, g.p.W
	s := benchMaps(b, g)
	grid := make([]float32, benchN*h*w*2)
	dgrid := make([]float32, len(grid))
	for i := range dgrid {
		dgrid[i] = float32(i%7) - 3
	}
	ds := make([]float32, len(s))
	b.Run("kernel/forward", func(b *testing.B) {
		for b.Loop() {
			Grid(g, s, benchN, grid)
		}
	})
	b.Run("kernel/forward+backward", func(b *testing.B) {
		for b.Loop() {
			Grid(g, s, benchN, grid)
			GridBackward(g, s, dgrid, benchN, ds)
		}
	})
	st := tensor.New(tensor.WithShape(benchN, h, w), tensor.WithBacking(s))
	dt := tensor.New(tensor.WithShape(benchN, h, w, 2), tensor.WithBacking(dgrid))
	fwd := newGenOp(g)
	bwd := genGradOp{newBase(fwd.Name+"'", 2), g}
	out := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(benchN, h, w, 2))
	dout := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(benchN, h, w))
	b.Run("op/forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := fwd.UsePreallocDo(out, st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op/forward+backward", func(b *testing.B) {
		for b.Loop() {
			if _, err := fwd.UsePreallocDo(out, st); err != nil {
				b.Fatal(err)
			}
			if _, err := bwd.UsePreallocDo(dout, st, dt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tapemachine/forward+backward", func(b *testing.B) {
		gr := gorgonia.NewGraph()
		sn := gorgonia.NewTensor(gr, tensor.Float32, 3, gorgonia.WithShape(benchN, h, w), gorgonia.WithValue(st), gorgonia.WithName("s"))
		gn, err := GenerateGrid(g, sn)
		if err != nil {
			b.Fatal(err)
		}
		flat, err := gorgonia.Reshape(gn, tensor.Shape{benchN * h * w * 2})
		if err != nil {
			b.Fatal(err)
		}
		r := gorgonia.NewVector(gr, tensor.Float32, gorgonia.WithShape(benchN*h*w*2), gorgonia.WithName("r"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(benchN*h*w*2), tensor.WithBacking(dgrid))))
		loss, err := gorgonia.Mul(flat, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gorgonia.Grad(loss, sn); err != nil {
			b.Fatal(err)
		}
		vm := gorgonia.NewTapeMachine(gr)
		defer vm.Close()
		for b.Loop() {
			if err := vm.RunAll(); err != nil {
				b.Fatal(err)
			}
			vm.Reset()
		}
	})
}

// BenchmarkSample times sampling 32 images of 3 x 256 x 256 at grids of 64 x 64.
func BenchmarkSample(b *testing.B) {
	sh := SampleShape{N: benchN, C: 3, H: 256, W: 256, Ho: 64, Wo: 64}
	rng := rand.New(rand.NewPCG(2, 2))
	img := make([]float32, sh.N*sh.C*sh.H*sh.W)
	for i := range img {
		img[i] = rng.Float32()
	}
	g, err := NewGenerator(DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	s := benchMaps(b, g)
	coarse := make([]float32, benchN*31*31*2)
	Grid(g, s, benchN, coarse)
	grid := make([]float32, sh.N*sh.Ho*sh.Wo*2)
	u := newUpsampler(31, 31, sh.Ho, sh.Wo)
	upBatch(u, benchN, coarse, grid)
	out := make([]float32, sh.N*sh.C*sh.Ho*sh.Wo)
	dout := make([]float32, len(out))
	for i := range dout {
		dout[i] = rng.Float32() - 0.5
	}
	dgrid := make([]float32, len(grid))
	dimg := make([]float32, len(img))
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			SampleBatch(sh, img, grid, out)
		}
	})
	b.Run("forward+backward/grid", func(b *testing.B) {
		for b.Loop() {
			SampleBatch(sh, img, grid, out)
			SampleBackward(sh, img, grid, dout, nil, dgrid)
		}
	})
	b.Run("forward+backward/grid+image", func(b *testing.B) {
		for b.Loop() {
			SampleBatch(sh, img, grid, out)
			SampleBackward(sh, img, grid, dout, dimg, dgrid)
		}
	})
	coarseT := tensor.New(tensor.WithShape(benchN, 31, 31, 2), tensor.WithBacking(coarse))
	up := upOp{newBase("up", 1), sh.Ho, sh.Wo, false}
	upOut := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(benchN, sh.Ho, sh.Wo, 2))
	b.Run("upsample/forward", func(b *testing.B) {
		for b.Loop() {
			if _, err := up.UsePreallocDo(upOut, coarseT); err != nil {
				b.Fatal(err)
			}
		}
	})
}
