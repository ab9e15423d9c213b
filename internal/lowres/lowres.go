// Package lowres is stage 1 of the pipeline: the antialiased low-resolution copies of
// the source images that a model takes as inputs, the saliency network's view of each
// image and the uniform baseline's task input. They are fixed functions of the images
// with no gradient, so they are made with the data (the loader's workers make them
// ahead of the step) rather than inside the graph; the model only declares which it
// takes (graph.Spec.Inputs).
package lowres

import (
	"fmt"

	"zoomtrain/internal/kernels"
)

// Inputs describes the low-resolution copies a model takes: one per side, each the
// antialiased bilinear downsample (kernels.ResizePlain32) of the 3-channel sources,
// or with Pool their adaptive average pool (the official Saliency-Sampler's).
type Inputs struct {
	Resolution int   // the sources are 3 x Resolution x Resolution
	Sides      []int // copy k is 3 x Sides[k] x Sides[k]
	Pool       bool
}

// Size is the number of values of copy k for n images.
func (in Inputs) Size(k, n int) int { return n * 3 * in.Sides[k] * in.Sides[k] }

// Validate checks that every side fits the source resolution.
func (in Inputs) Validate() error {
	for _, s := range in.Sides {
		if s < 1 || s > in.Resolution {
			return fmt.Errorf("low-resolution side %d outside [1, source resolution %d]", s, in.Resolution)
		}
	}
	return nil
}

// Make writes the copies of the n images of x (NCHW) into dst, dst[k] taking the first
// Size(k, n) values of its slice.
func (in Inputs) Make(x []float32, n int, dst [][]float32) error {
	r := in.Resolution
	if n < 0 || len(x) < n*3*r*r {
		return fmt.Errorf("low-resolution copies: %d values hold no %d images of 3 x %d x %d", len(x), n, r, r)
	}
	if len(dst) != len(in.Sides) {
		return fmt.Errorf("low-resolution copies: %d buffers for %d sides", len(dst), len(in.Sides))
	}
	for k, s := range in.Sides {
		if len(dst[k]) < in.Size(k, n) {
			return fmt.Errorf("low-resolution copies: buffer of %d values for %d images at %d x %d", len(dst[k]), n, s, s)
		}
		// The images' planes are contiguous: one call resizes all of them.
		kernels.Downsample32(in.Pool, x, 3*n, r, r, s, s, dst[k])
	}
	return nil
}

// New returns the copies of the n images of x in new buffers.
func (in Inputs) New(x []float32, n int) ([][]float32, error) {
	dst := make([][]float32, len(in.Sides))
	for k := range in.Sides {
		dst[k] = make([]float32, in.Size(k, n))
	}
	if err := in.Make(x, n, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// Check reports whether copies holds exactly the copies of n images.
func (in Inputs) Check(copies [][]float32, n int) error {
	if len(copies) != len(in.Sides) {
		return fmt.Errorf("batch carries %d low-resolution copies, the model takes %d (sides %v)", len(copies), len(in.Sides), in.Sides)
	}
	for k, s := range in.Sides {
		if len(copies[k]) != in.Size(k, n) {
			return fmt.Errorf("low-resolution copy %d has %d values, %d images at 3 x %d x %d need %d", k, len(copies[k]), n, s, s, in.Size(k, n))
		}
	}
	return nil
}
