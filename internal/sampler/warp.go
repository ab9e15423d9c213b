package sampler

import (
	"errors"
	"fmt"

	"zoomtrain/internal/opkit"
)

// ErrGridNotFinite is wrapped by Warp's error when the generator gives a grid with a NaN:
// a kernel too narrow to reach from some cell to any salient one makes 0/0 there.
var ErrGridNotFinite = errors.New("the grid is not finite")

// Warp runs the whole layer outside a graph on s.N images: each saliency map (p.H x p.W,
// row = y; it need not be normalised) of sal becomes a grid through the generator of p,
// the grid is upsampled to s.Ho x s.Wo, and the image (s.C x s.H x s.W, planar) of img
// is sampled through it. It returns the sampled images (N x C x Ho x Wo) and the
// upsampled grids (N x Ho x Wo x 2), or the first problem with the inputs.
func Warp[T opkit.Float](p Params, sal, img []T, s SampleShape) (out, grid []T, err error) {
	if s.N < 1 || s.C < 1 || s.H < 1 || s.W < 1 || s.Ho < 1 || s.Wo < 1 {
		return nil, nil, fmt.Errorf("warp: invalid shape %+v", s)
	}
	if len(sal) != s.N*p.H*p.W {
		return nil, nil, fmt.Errorf("warp: %d saliency values, want %d maps of %dx%d (w x h)", len(sal), s.N, p.W, p.H)
	}
	if len(img) != s.N*s.C*s.H*s.W {
		return nil, nil, fmt.Errorf("warp: %d image values, want %d images of %d x %dx%d (w x h)", len(img), s.N, s.C, s.W, s.H)
	}
	if err := CheckSaliency(sal); err != nil {
		return nil, nil, err
	}
	gen, err := NewGenerator(p)
	if err != nil {
		return nil, nil, err
	}
	coarse := make([]T, 2*len(sal))
	Grid(gen, sal, s.N, coarse)
	for _, v := range coarse {
		if v != v {
			return nil, nil, fmt.Errorf("%w: the kernel (fwhm %g) is too narrow for this map's empty regions", ErrGridNotFinite, p.FWHM)
		}
	}
	u := newUpsampler(p.H, p.W, s.Ho, s.Wo)
	grid = make([]T, s.N*s.Ho*s.Wo*2)
	upBatch(u, s.N, coarse, grid)
	out = make([]T, s.N*s.C*s.Ho*s.Wo)
	sampleBatch(nil, s, img, grid, out)
	return out, grid, nil
}
