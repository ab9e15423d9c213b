package sampler

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestWarpMatchesStages checks Warp against the three stages called one by one, bit for
// bit, in both precisions.
func TestWarpMatchesStages(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	p := Params{H: 9, W: 11, Padding: 8, FWHM: 4, Mode: Replicate}
	s := SampleShape{N: 2, C: 3, H: 30, W: 40, Ho: 12, Wo: 16}
	sal := append(peakedMap(rng, p.H, p.W), peakedMap(rng, p.H, p.W)...)
	img := uniformIn(rng, s.N*s.C*s.H*s.W, 0, 1)
	t.Run("float64", func(t *testing.T) { checkWarpStages(t, p, s, sal, img) })
	t.Run("float32", func(t *testing.T) { checkWarpStages(t, p, s, to32s(sal), to32s(img)) })
}

func checkWarpStages[T float32 | float64](t *testing.T, p Params, s SampleShape, sal, img []T) {
	out, grid, err := Warp(p, sal, img, s)
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGenerator(p)
	if err != nil {
		t.Fatal(err)
	}
	coarse := make([]T, s.N*p.H*p.W*2)
	Grid(g, sal, s.N, coarse)
	wantGrid := make([]T, s.N*s.Ho*s.Wo*2)
	wantOut := make([]T, s.N*s.C*s.Ho*s.Wo)
	for i := range s.N {
		Upsample(coarse[i*p.H*p.W*2:(i+1)*p.H*p.W*2], p.H, p.W, s.Ho, s.Wo, wantGrid[i*s.Ho*s.Wo*2:(i+1)*s.Ho*s.Wo*2])
	}
	SampleBatch(s, img, wantGrid, wantOut)
	if !slices.Equal(grid, wantGrid) {
		t.Errorf("Warp's grid differs from the stages'")
	}
	if !slices.Equal(out, wantOut) {
		t.Errorf("Warp's output differs from the stages'")
	}
}

func TestWarpRejects(t *testing.T) {
	p := Params{H: 4, W: 5, Padding: 3, FWHM: 2, Mode: Replicate}
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	s := SampleShape{N: 1, C: 1, H: 6, W: 6, Ho: 3, Wo: 3}
	// One salient cell, and a kernel that reaches no farther than its own cell.
	lonely := make([]float32, 20)
	lonely[0] = 1
	narrow := p
	narrow.FWHM = 0.05
	long := Params{H: 2, W: 200000, Padding: 3, FWHM: 2, Mode: Replicate}
	for _, tc := range []struct {
		name    string
		p       Params
		sal     []float32
		s       SampleShape
		img     int // image values
		want    string
		wantErr error
	}{
		{"short map", p, ones(19), s, 36, "19 saliency values, want 1 maps of 5x4", nil},
		{"short image", p, ones(20), SampleShape{N: 1, C: 2, H: 6, W: 6, Ho: 3, Wo: 3}, 36, "36 image values", nil},
		{"empty output", p, ones(20), SampleShape{N: 1, C: 1, H: 6, W: 6, Ho: 0, Wo: 3}, 36, "invalid shape", nil},
		{"negative map", p, append(ones(19), -1), s, 36, "negative value", nil},
		{"2 x 200000 map", long, ones(400000), s, 36, "has a side longer than 2048", ErrParams},
		{"kernel too narrow", narrow, lonely, s, 36, "too narrow", ErrGridNotFinite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Warp(tc.p, tc.sal, ones(tc.img), tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}
