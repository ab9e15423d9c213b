// Package sampler is the saliency-based sampling layer of "Learning to Zoom" (Recasens et
// al., ECCV 2018): the grid generator that turns a saliency map into a sampling grid,
// bilinear upsampling of that grid, and bilinear grid sampling of the image. Each stage
// has plain-Go kernels, generic over float32 (the fast path) and float64 (the reference
// and the gradient checks), and a Gorgonia operation with gradients; Warp chains the
// three on images outside a graph.
//
// Conventions follow SPEC.md: grids are (h, w, 2) with the last axis (x, y) in [-1, 1];
// x = -1 is the centre of the first column and +1 the centre of the last
// (align_corners = true); sampling uses border padding.
package sampler

import (
	"errors"
	"fmt"
	"math"

	"zoomtrain/internal/opkit"
)

// PaddingMode says how the saliency map is extended beyond its border before the
// Gaussian correlation.
type PaddingMode string

const (
	// Replicate repeats the border cells: the paper's choice, which makes a uniform map
	// give the identity grid.
	Replicate PaddingMode = "replicate"
	// Reflect mirrors the map about its border cells (the anti-cropping variant of later
	// work); it needs the padding to be smaller than the map.
	Reflect PaddingMode = "reflect"
)

// Params are the grid generator's parameters: the grid (and saliency map) shape H x W,
// the padding P on each side, the Gaussian kernel's full width at half maximum, and the
// padding mode.
type Params struct {
	H, W, Padding int
	FWHM          float64
	Mode          PaddingMode
}

// DefaultParams are the paper's: a 31 x 31 grid, P = 30, FWHM = 13, replicate padding.
func DefaultParams() Params {
	return Params{H: 31, W: 31, Padding: 30, FWHM: 13, Mode: Replicate}
}

// ErrParams is wrapped into every error about invalid generator parameters.
var ErrParams = errors.New("invalid grid generator parameters")

// MaxGridSide is the longest side a grid may have. The generator precomputes matrices of
// side x side values for each axis and spends 6 h w (h + w) operations per map: a grid of
// 2048 x 512 keeps 200 MB of them (270 MB allocated) and takes seconds per map, and a
// longer side would soon exhaust memory or time (2 x 200000 asks for 640 GB) for no
// purpose: the paper's grid is 31 x 31.
const MaxGridSide = 2048

// maxCells bounds the grid's area, so that the per-map work space stays small.
const maxCells = 1 << 20

// Validate reports the first problem with p, or nil.
func (p Params) Validate() error {
	switch {
	case p.H < 2 || p.W < 2:
		return fmt.Errorf("%w: grid %dx%d (w x h) must be at least 2x2", ErrParams, p.W, p.H)
	case p.H > MaxGridSide || p.W > MaxGridSide:
		return fmt.Errorf("%w: grid %dx%d (w x h) has a side longer than %d", ErrParams, p.W, p.H, MaxGridSide)
	case p.H*p.W > maxCells:
		return fmt.Errorf("%w: grid %dx%d (w x h) is larger than %d cells", ErrParams, p.W, p.H, maxCells)
	case p.Padding < 0 || p.Padding > maxCells:
		return fmt.Errorf("%w: padding %d must be between 0 and %d", ErrParams, p.Padding, maxCells)
	case !(p.FWHM > 0) || math.IsInf(p.FWHM, 0):
		return fmt.Errorf("%w: fwhm %g must be positive and finite", ErrParams, p.FWHM)
	}
	switch p.Mode {
	case Replicate:
	case Reflect:
		if p.Padding >= p.H || p.Padding >= p.W {
			return fmt.Errorf("%w: reflect padding %d must be smaller than the map's height %d and width %d",
				ErrParams, p.Padding, p.H, p.W)
		}
	default:
		return fmt.Errorf("%w: padding mode %q is not %q or %q", ErrParams, p.Mode, Replicate, Reflect)
	}
	return nil
}

// CheckSaliency reports why s cannot be a saliency map, or nil: every value must be
// finite and non-negative, and at least one positive (the grid divides by the map's
// Gaussian-weighted sum).
func CheckSaliency[T opkit.Float](s []T) error {
	positive := false
	for i, v := range s {
		f := float64(v)
		switch {
		case math.IsNaN(f) || math.IsInf(f, 0):
			return fmt.Errorf("saliency map has a non-finite value (%v) at index %d", f, i)
		case f < 0:
			return fmt.Errorf("saliency map has a negative value (%v) at index %d", f, i)
		case f > 0:
			positive = true
		}
	}
	if !positive {
		return errors.New("saliency map is all zero")
	}
	return nil
}
