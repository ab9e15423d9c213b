package sampler

import (
	"math"
	"math/rand/v2"
	"testing"
)

func to32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// relDiff is the norm-wise relative difference of a float32 result from its float64
// counterpart.
func relDiff(got []float32, want []float64) float64 {
	var d, n float64
	for i := range want {
		d += (float64(got[i]) - want[i]) * (float64(got[i]) - want[i])
		n += want[i] * want[i]
	}
	return math.Sqrt(d / n)
}

// TestFloat32MatchesFloat64 checks the float32 fast paths (vector kernels, padded
// layouts) of every forward and backward kernel against the float64 reference path,
// which the finite-difference tests check.
func TestFloat32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, p := range []Params{DefaultParams(), {H: 9, W: 21, Padding: 8, FWHM: 5, Mode: Reflect}} {
		g, err := NewGenerator(p)
		if err != nil {
			t.Fatal(err)
		}
		n, h, w := 3, p.H, p.W
		var s []float64
		for range n {
			s = append(s, peakedMap(rng, h, w)...)
		}
		dgrid := uniformIn(rng, n*h*w*2, -1, 1)
		grid64, ds64 := make([]float64, n*h*w*2), make([]float64, n*h*w)
		grid32, ds32 := make([]float32, n*h*w*2), make([]float32, n*h*w)
		Grid(g, s, n, grid64)
		Grid(g, to32s(s), n, grid32)
		GridBackward(g, s, dgrid, n, ds64)
		GridBackward(g, to32s(s), to32s(dgrid), n, ds32)
		if d := relDiff(grid32, grid64); d > 1e-5 {
			t.Errorf("%dx%d grid: float32 differs from float64 by %g relative", w, h, d)
		}
		if d := relDiff(ds32, ds64); d > 1e-4 {
			t.Errorf("%dx%d map gradient: float32 differs from float64 by %g relative", w, h, d)
		}

		ho, wo := 17, 23
		up64, up32 := make([]float64, ho*wo*2), make([]float32, ho*wo*2)
		Upsample(grid64[:h*w*2], h, w, ho, wo, up64)
		Upsample(grid32[:h*w*2], h, w, ho, wo, up32)
		dup := uniformIn(rng, ho*wo*2, -1, 1)
		dg64, dg32 := make([]float64, h*w*2), make([]float32, h*w*2)
		UpsampleBackward(grid64[:h*w*2], h, w, ho, wo, dup, dg64)
		UpsampleBackward(grid32[:h*w*2], h, w, ho, wo, to32s(dup), dg32)
		if d := relDiff(up32, up64); d > 1e-5 {
			t.Errorf("upsampled grid: float32 differs by %g relative", d)
		}
		if d := relDiff(dg32, dg64); d > 1e-4 {
			t.Errorf("upsample gradient: float32 differs by %g relative", d)
		}

		sh := SampleShape{N: 1, C: 2, H: 30, W: 41, Ho: ho, Wo: wo}
		img := uniformIn(rng, sh.C*sh.H*sh.W, 0, 1)
		dout := uniformIn(rng, sh.C*ho*wo, -1, 1)
		out64, out32 := make([]float64, sh.C*ho*wo), make([]float32, sh.C*ho*wo)
		SampleBatch(sh, img, up64, out64)
		SampleBatch(sh, to32s(img), up32, out32)
		di64, dgr64 := make([]float64, len(img)), make([]float64, len(up64))
		di32, dgr32 := make([]float32, len(img)), make([]float32, len(up64))
		SampleBackward(sh, img, up64, dout, di64, dgr64)
		SampleBackward(sh, to32s(img), up32, to32s(dout), di32, dgr32)
		if d := relDiff(out32, out64); d > 1e-5 {
			t.Errorf("sampled image: float32 differs by %g relative", d)
		}
		if d := relDiff(di32, di64); d > 1e-4 {
			t.Errorf("image gradient: float32 differs by %g relative", d)
		}
		if d := relDiff(dgr32, dgr64); d > 1e-3 {
			t.Errorf("grid gradient: float32 differs by %g relative", d)
		}
	}
}

// TestSampleIdentity checks sampling against the obvious reference: the identity grid at
// the image's own size reproduces the image, and upsampling an identity grid gives the
// identity grid of the new size.
func TestSampleIdentity(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sz := range [][2]int{{7, 11}, {16, 5}} {
		h, w := sz[0], sz[1]
		id := make([]float64, h*w*2)
		for i := range h {
			for j := range w {
				id[2*(i*w+j)] = -1 + 2*float64(j)/float64(w-1)
				id[2*(i*w+j)+1] = -1 + 2*float64(i)/float64(h-1)
			}
		}
		img := uniformIn(rng, 3*h*w, 0, 1)
		out := make([]float64, len(img))
		Sample(img, 3, h, w, id, h, w, out)
		for i := range img {
			if math.Abs(out[i]-img[i]) > 1e-12 {
				t.Fatalf("%dx%d identity sample: out[%d] = %g, want %g", w, h, i, out[i], img[i])
			}
		}
		ho, wo := 2*h+1, 3*w-2
		up := make([]float64, ho*wo*2)
		Upsample(id, h, w, ho, wo, up)
		for i := range ho {
			for j := range wo {
				x, y := -1+2*float64(j)/float64(wo-1), -1+2*float64(i)/float64(ho-1)
				if c := 2 * (i*wo + j); math.Abs(up[c]-x) > 1e-12 || math.Abs(up[c+1]-y) > 1e-12 {
					t.Fatalf("%dx%d identity upsampled to %dx%d: (%g, %g) at (%d, %d), want (%g, %g)", w, h, wo, ho, up[c], up[c+1], i, j, x, y)
				}
			}
		}
	}
}
