package sampler

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randomSampleInputs(seed uint64, s SampleShape) (img, grid, dout []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	img = make([]float32, s.N*s.C*s.H*s.W)
	for i := range img {
		img[i] = rng.Float32()
	}
	grid = make([]float32, s.N*s.Ho*s.Wo*2)
	for i := range grid {
		grid[i] = 2.4*rng.Float32() - 1.2 // some points clipped by the border
	}
	dout = make([]float32, s.N*s.C*s.Ho*s.Wo)
	for i := range dout {
		dout[i] = 2*rng.Float32() - 1
	}
	return img, grid, dout
}

// TestGridGradFromDerivMatches: the grid gradient from the forward pass's derivatives is
// bit for bit the one computed from the image, and the forward output is unchanged.
func TestGridGradFromDerivMatches(t *testing.T) {
	// One pool for all the runs: scratch handed back by one shape must not be given
	// to another.
	sp := &pool{}
	for _, s := range []SampleShape{{1, 1, 5, 7, 3, 4}, {3, 3, 40, 33, 9, 8}, {1, 1, 5, 7, 3, 4}} {
		img, grid, dout := randomSampleInputs(3, s)
		out, outD := make([]float32, s.N*s.C*s.Ho*s.Wo), make([]float32, s.N*s.C*s.Ho*s.Wo)
		deriv := make([]float32, 2*len(out))
		sampleBatch(sp, s, img, grid, out)
		sampleBatchDeriv(sp, s, img, grid, outD, deriv)
		want, got := make([]float32, len(grid)), make([]float32, len(grid))
		sampleBatchBackward(sp, s, img, grid, dout, nil, want)
		gridGradBatchFromDeriv(sp, s, grid, dout, deriv, got)
		for i := range out {
			if out[i] != outD[i] {
				t.Fatalf("%+v: output %d is %v with derivatives, %v without", s, i, outD[i], out[i])
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: grid gradient %d is %v from the derivatives, %v from the image", s, i, got[i], want[i])
			}
		}
	}
}

// TestSampleCacheNotStale: a grid-gradient op given another image than its forward run
// saw computes from that image, not from the kept derivatives.
func TestSampleCacheNotStale(t *testing.T) {
	s := SampleShape{2, 3, 12, 10, 4, 5}
	img, grid, dout := randomSampleInputs(5, s)
	img2, _, _ := randomSampleInputs(6, s)
	dense := func(v []float32, shape ...int) *tensor.Dense {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	fwd := sampleOp{newBase("GridSample{imageGrad=false}", 2), false, &sampleCache{want: true}}
	bwd := sampleGradOp{newBase("GridSample'grid", 3), false, fwd.cache}
	gridT := dense(grid, s.N, s.Ho, s.Wo, 2)
	if _, err := fwd.Do(dense(img, s.N, s.C, s.H, s.W), gridT); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		img  []float32
	}{{"same image", img}, {"other image", img2}} {
		var imgT gorgonia.Value = dense(img, s.N, s.C, s.H, s.W)
		if tc.name == "other image" {
			imgT = dense(tc.img, s.N, s.C, s.H, s.W)
		}
		got, err := bwd.Do(imgT, gridT, dense(dout, s.N, s.C, s.Ho, s.Wo))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(grid))
		sampleBatchBackward(nil, s, tc.img, grid, dout, nil, want)
		for i, g := range got.(*tensor.Dense).Float32s() {
			if g != want[i] {
				t.Fatalf("%s: grid gradient %d is %v, want %v", tc.name, i, g, want[i])
			}
		}
	}
}
