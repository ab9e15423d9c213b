package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// halfPixelReference upsamples one (h, w, 2) grid by PyTorch's align_corners=False
// formula, written per output cell, then clamps.
func halfPixelReference(grid []float64, h, w, ho, wo int) []float64 {
	src := func(o, in, out int) (int, int, float64) {
		s := math.Max(0, (float64(o)+0.5)*float64(in)/float64(out)-0.5)
		i0 := int(math.Floor(s))
		return i0, min(i0+1, in-1), s - float64(i0)
	}
	out := make([]float64, ho*wo*2)
	for i := range ho {
		y0, y1, ly := src(i, h, ho)
		for j := range wo {
			x0, x1, lx := src(j, w, wo)
			for k := range 2 {
				at := func(r, c int) float64 { return grid[(r*w+c)*2+k] }
				v := (1-ly)*((1-lx)*at(y0, x0)+lx*at(y0, x1)) + ly*((1-lx)*at(y1, x0)+lx*at(y1, x1))
				out[(i*wo+j)*2+k] = math.Max(-1, math.Min(1, v))
			}
		}
	}
	return out
}

// TestUpsampleGridHalfPixel: the align_corners=False grid upsample against its
// formula, and its gradient by finite differences.
func TestUpsampleGridHalfPixel(t *testing.T) {
	for i, tc := range []struct{ n, h, w, ho, wo int }{
		{2, 4, 6, 9, 11},
		{1, 7, 3, 5, 8},
		{1, 31, 31, 48, 48},
	} {
		t.Run(fmt.Sprintf("%dx%d_to_%dx%d", tc.w, tc.h, tc.wo, tc.ho), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 18))
			grid := uniformIn(rng, tc.n*tc.h*tc.w*2, -1.3, 1.3)
			g := gorgonia.NewGraph()
			x := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(tc.n, tc.h, tc.w, 2), gorgonia.WithName("grid"),
				gorgonia.WithValue(tensor.New(tensor.WithShape(tc.n, tc.h, tc.w, 2), tensor.WithBacking(grid))))
			up, err := UpsampleGridCorners(x, tc.ho, tc.wo, false)
			if err != nil {
				t.Fatal(err)
			}
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			got := up.Value().Data().([]float64)
			per := tc.h * tc.w * 2
			for b := range tc.n {
				want := halfPixelReference(grid[b*per:(b+1)*per], tc.h, tc.w, tc.ho, tc.wo)
				for j, v := range want {
					if d := math.Abs(got[b*len(want)+j] - v); d > 1e-12 {
						t.Fatalf("image %d value %d: got %v, want %v", b, j, got[b*len(want)+j], v)
					}
				}
			}
			if tc.h == 31 {
				return // the gradient is checked on the small cases
			}
			errs := gradCheck(t, uint64(i), []fdInput{{"grid", tensor.Shape{tc.n, tc.h, tc.w, 2}, grid, true}},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) {
					return UpsampleGridCorners(in[0], tc.ho, tc.wo, false)
				})
			if errs[0] > 1e-6 {
				t.Errorf("gradient to the grid: relative error %g, want under 1e-6", errs[0])
			}
		})
	}
}
