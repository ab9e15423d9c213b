package sampler

import "fmt"

// tap is where one grid coordinate falls on an axis of n pixels: the two pixels to blend,
// the weight f of the second, and d(pixel coordinate)/d(grid coordinate), which is zero
// where border padding clipped the coordinate.
type tap[T float] struct {
	i0, i1 int
	f      T
	scale  T
}

// locate maps grid coordinate v in [-1, 1] to pixel coordinate (v+1)/2 (n-1)
// (align_corners = true) and clips it to [0, n-1] (border padding). At the last pixel the
// pair (n-2, n-1) with weight 1 is used, so the gradient there is the one-sided
// difference from inside the image rather than a difference with an outside zero.
func locate[T float](v T, n int) tap[T] {
	half := T(n-1) / 2
	x := (v + 1) * half
	t := tap[T]{scale: half}
	switch {
	case x >= 0 && x <= T(n-1):
	case x > T(n-1):
		x, t.scale = T(n-1), 0
	default: // below 0, or NaN
		x, t.scale = 0, 0
	}
	t.i0 = min(int(x), max(n-2, 0))
	t.i1 = min(t.i0+1, n-1)
	t.f = x - T(t.i0)
	return t
}

// sampleOne samples one image (c x hIn x wIn) at grid (ho x wo x 2) into out (c x ho x wo).
func sampleOne[T float](img []T, c, hIn, wIn int, grid []T, ho, wo int, out []T) {
	plane, oplane := hIn*wIn, ho*wo
	for o := range oplane {
		ty, tx := locate(grid[2*o+1], hIn), locate(grid[2*o], wIn)
		r0, r1 := ty.i0*wIn, ty.i1*wIn
		w00, w01 := (1-ty.f)*(1-tx.f), (1-ty.f)*tx.f
		w10, w11 := ty.f*(1-tx.f), ty.f*tx.f
		for ch := range c {
			p := img[ch*plane : (ch+1)*plane]
			out[ch*oplane+o] = w00*p[r0+tx.i0] + w01*p[r0+tx.i1] + w10*p[r1+tx.i0] + w11*p[r1+tx.i1]
		}
	}
}

// sampleOneBackward overwrites dgrid with the gradient to the grid and dimg with the
// gradient to the image, given the gradient dout to the output; either may be nil, and is
// then not computed.
func sampleOneBackward[T float](img []T, c, hIn, wIn int, grid []T, ho, wo int, dout, dimg, dgrid []T) {
	plane, oplane := hIn*wIn, ho*wo
	if dimg != nil {
		clear(dimg[:c*plane])
	}
	for o := range oplane {
		ty, tx := locate(grid[2*o+1], hIn), locate(grid[2*o], wIn)
		r0, r1 := ty.i0*wIn, ty.i1*wIn
		if dgrid != nil {
			var gx, gy T
			for ch := range c {
				p := img[ch*plane : (ch+1)*plane]
				d := dout[ch*oplane+o]
				v00, v01, v10, v11 := p[r0+tx.i0], p[r0+tx.i1], p[r1+tx.i0], p[r1+tx.i1]
				gx += d * ((1-ty.f)*(v01-v00) + ty.f*(v11-v10))
				gy += d * ((1-tx.f)*(v10-v00) + tx.f*(v11-v01))
			}
			dgrid[2*o] = gx * tx.scale
			dgrid[2*o+1] = gy * ty.scale
		}
		if dimg != nil {
			w00, w01 := (1-ty.f)*(1-tx.f), (1-ty.f)*tx.f
			w10, w11 := ty.f*(1-tx.f), ty.f*tx.f
			for ch := range c {
				q := dimg[ch*plane : (ch+1)*plane]
				d := dout[ch*oplane+o]
				q[r0+tx.i0] += w00 * d
				q[r0+tx.i1] += w01 * d
				q[r1+tx.i0] += w10 * d
				q[r1+tx.i1] += w11 * d
			}
		}
	}
}

// SampleShape is the geometry of a batched grid sample: N images of C x H x W sampled
// at grids of Ho x Wo into N x C x Ho x Wo.
type SampleShape struct {
	N, C, H, W, Ho, Wo int
}

func (s SampleShape) check(img, grid, out int, names [3]string) {
	if s.N < 0 || s.C < 1 || s.H < 1 || s.W < 1 || s.Ho < 1 || s.Wo < 1 {
		panic(fmt.Sprintf("sampler: invalid sample shape %+v", s))
	}
	want := [3]int{s.N * s.C * s.H * s.W, s.N * s.Ho * s.Wo * 2, s.N * s.C * s.Ho * s.Wo}
	for i, got := range [3]int{img, grid, out} {
		if got < want[i] {
			panic(fmt.Sprintf("sampler: %s has %d elements, want %d for %+v", names[i], got, want[i], s))
		}
	}
}

func sampleBatch[T float](s SampleShape, img, grid, out []T) {
	s.check(len(img), len(grid), len(out), [3]string{"image", "grid", "output"})
	ip, gp, op := s.C*s.H*s.W, 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	parallel(s.N, 10*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sampleOne(img[i*ip:(i+1)*ip], s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo, out[i*op:(i+1)*op])
		}
	})
}

func sampleBatchBackward[T float](s SampleShape, img, grid, dout, dimg, dgrid []T) {
	s.check(len(img), len(grid), len(dout), [3]string{"image", "grid", "output gradient"})
	if dgrid != nil {
		s.check(len(img), len(dgrid), len(dout), [3]string{"image", "grid gradient", "output gradient"})
	}
	if dimg != nil {
		s.check(len(dimg), len(grid), len(dout), [3]string{"image gradient", "grid", "output gradient"})
	}
	ip, gp, op := s.C*s.H*s.W, 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	parallel(s.N, 20*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var di, dg []T
			if dimg != nil {
				di = dimg[i*ip : (i+1)*ip]
			}
			if dgrid != nil {
				dg = dgrid[i*gp : (i+1)*gp]
			}
			sampleOneBackward(img[i*ip:(i+1)*ip], s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo,
				dout[i*op:(i+1)*op], di, dg)
		}
	})
}

// Sample64 samples one image img (c x hIn x wIn, planar) bilinearly at grid (ho x wo x 2,
// last axis (x, y)) into out (c x ho x wo), with border padding and align_corners = true.
// It panics if a slice is too short.
func Sample64(img []float64, c, hIn, wIn int, grid []float64, ho, wo int, out []float64) {
	sampleBatch(SampleShape{1, c, hIn, wIn, ho, wo}, img, grid, out)
}

// Sample32 is Sample64 in float32.
func Sample32(img []float32, c, hIn, wIn int, grid []float32, ho, wo int, out []float32) {
	sampleBatch(SampleShape{1, c, hIn, wIn, ho, wo}, img, grid, out)
}

// SampleBatch64 samples s.N images (N x C x H x W) at their grids (N x Ho x Wo x 2) into
// out (N x C x Ho x Wo), spreading the batch over the available cores.
func SampleBatch64(s SampleShape, img, grid, out []float64) { sampleBatch(s, img, grid, out) }

// SampleBatch32 is SampleBatch64 in float32.
func SampleBatch32(s SampleShape, img, grid, out []float32) { sampleBatch(s, img, grid, out) }

// SampleBackward64 overwrites dgrid with the gradient to the grids and dimg with the
// gradient to the images, given the gradient dout to the sampled output. Either may be
// nil and is then skipped. The gradient to a coordinate that border padding clipped is 0.
func SampleBackward64(s SampleShape, img, grid, dout, dimg, dgrid []float64) {
	sampleBatchBackward(s, img, grid, dout, dimg, dgrid)
}

// SampleBackward32 is SampleBackward64 in float32.
func SampleBackward32(s SampleShape, img, grid, dout, dimg, dgrid []float32) {
	sampleBatchBackward(s, img, grid, dout, dimg, dgrid)
}
