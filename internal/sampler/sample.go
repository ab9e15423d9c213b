package sampler

import (
	"fmt"

	"zoomtrain/internal/opkit"
)

// tap is where one grid coordinate falls on an axis of n pixels: the two pixels to blend,
// the weight f of the second, and d(pixel coordinate)/d(grid coordinate), which is zero
// where border padding clipped the coordinate.
type tap[T opkit.Float] struct {
	i0, i1 int
	f      T
	scale  T
}

// locate maps grid coordinate v in [-1, 1] to pixel coordinate (v+1)/2 (n-1)
// (align_corners = true) and clips it to [0, n-1] (border padding). At the last pixel the
// pair (n-2, n-1) with weight 1 is used, so the gradient there is the one-sided
// difference from inside the image rather than a difference with an outside zero.
func locate[T opkit.Float](v T, n int) tap[T] {
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

// taps are the bilinear taps of every output pixel of one grid, worked out once and
// then used for each channel in turn, so that each pass reads two rows of one plane.
type taps[T opkit.Float] struct {
	off, dx, dy []int // top-left source offset, and steps to its right and lower neighbours
	fx, fy      []T   // weights of the right and lower neighbours
	sx, sy      []T   // d(pixel coordinate)/d(grid coordinate), 0 where clipped
}

func takeTaps[T opkit.Float](p *pool, n int) *taps[T] {
	return take(p, func(t *taps[T]) bool { return len(t.off) == n }, func() *taps[T] { return newTaps[T](n) })
}

func newTaps[T opkit.Float](n int) *taps[T] {
	return &taps[T]{
		off: make([]int, n), dx: make([]int, n), dy: make([]int, n),
		fx: make([]T, n), fy: make([]T, n), sx: make([]T, n), sy: make([]T, n),
	}
}

func (t *taps[T]) locate(grid []T, hIn, wIn, n int) {
	for o := range n {
		ty, tx := locate(grid[2*o+1], hIn), locate(grid[2*o], wIn)
		t.off[o] = ty.i0*wIn + tx.i0
		t.dx[o] = tx.i1 - tx.i0
		t.dy[o] = (ty.i1 - ty.i0) * wIn
		t.fx[o], t.fy[o] = tx.f, ty.f
		t.sx[o], t.sy[o] = tx.scale, ty.scale
	}
}

// sampleOne samples one image (c x hIn x wIn) at grid (ho x wo x 2) into out (c x ho x wo).
func sampleOne[T opkit.Float](img []T, c, hIn, wIn int, grid []T, ho, wo int, out []T, t *taps[T]) {
	plane, oplane := hIn*wIn, ho*wo
	t.locate(grid, hIn, wIn, oplane)
	off, dx, dy, fx, fy := t.off[:oplane], t.dx[:oplane], t.dy[:oplane], t.fx[:oplane], t.fy[:oplane]
	for ch := range c {
		p := img[ch*plane : (ch+1)*plane]
		q := out[ch*oplane : (ch+1)*oplane]
		for o, i := range off {
			a, b := p[i], p[i+dx[o]]
			cc, d := p[i+dy[o]], p[i+dy[o]+dx[o]]
			q[o] = (1-fy[o])*(a+fx[o]*(b-a)) + fy[o]*(cc+fx[o]*(d-cc))
		}
	}
}

// sampleOneDeriv is sampleOne that also writes, for each output value, its derivatives
// with respect to the pixel coordinates (x, y) of its sample point into deriv
// (c x ho x wo x 2): all the grid gradient needs of the image, so that the backward pass
// does not read the full-resolution image again.
func sampleOneDeriv[T opkit.Float](img []T, c, hIn, wIn int, grid []T, ho, wo int, out, deriv []T, t *taps[T]) {
	plane, oplane := hIn*wIn, ho*wo
	t.locate(grid, hIn, wIn, oplane)
	off, dx, dy, fx, fy := t.off[:oplane], t.dx[:oplane], t.dy[:oplane], t.fx[:oplane], t.fy[:oplane]
	for ch := range c {
		p := img[ch*plane : (ch+1)*plane]
		q := out[ch*oplane : (ch+1)*oplane]
		dv := deriv[2*ch*oplane : 2*(ch+1)*oplane]
		for o, i := range off {
			a, b := p[i], p[i+dx[o]]
			cc, d := p[i+dy[o]], p[i+dy[o]+dx[o]]
			q[o] = (1-fy[o])*(a+fx[o]*(b-a)) + fy[o]*(cc+fx[o]*(d-cc))
			dv[2*o] = (1-fy[o])*(b-a) + fy[o]*(d-cc)
			dv[2*o+1] = (1-fx[o])*(cc-a) + fx[o]*(d-b)
		}
	}
}

// gridGradFromDeriv overwrites dgrid (ho x wo x 2) with the grid gradient given dout and
// the derivatives sampleOneDeriv kept; it matches sampleOneBackward's to the last bit.
func gridGradFromDeriv[T opkit.Float](c, hIn, wIn int, grid []T, ho, wo int, dout, deriv, dgrid []T, t *taps[T]) {
	oplane := ho * wo
	t.locate(grid, hIn, wIn, oplane)
	clear(dgrid[:2*oplane])
	for ch := range c {
		g := dout[ch*oplane : (ch+1)*oplane]
		dv := deriv[2*ch*oplane : 2*(ch+1)*oplane]
		for o := range g {
			dgrid[2*o] += g[o] * dv[2*o]
			dgrid[2*o+1] += g[o] * dv[2*o+1]
		}
	}
	for o := range oplane {
		dgrid[2*o] *= t.sx[o]
		dgrid[2*o+1] *= t.sy[o]
	}
}

// sampleOneBackward overwrites dgrid with the gradient to the grid and dimg with the
// gradient to the image, given the gradient dout to the output; either may be nil, and is
// then not computed.
func sampleOneBackward[T opkit.Float](img []T, c, hIn, wIn int, grid []T, ho, wo int, dout, dimg, dgrid []T, t *taps[T]) {
	plane, oplane := hIn*wIn, ho*wo
	t.locate(grid, hIn, wIn, oplane)
	off, dx, dy, fx, fy := t.off[:oplane], t.dx[:oplane], t.dy[:oplane], t.fx[:oplane], t.fy[:oplane]
	if dgrid != nil {
		clear(dgrid[:2*oplane])
		for ch := range c {
			p := img[ch*plane : (ch+1)*plane]
			g := dout[ch*oplane : (ch+1)*oplane]
			for o, i := range off {
				a, b := p[i], p[i+dx[o]]
				cc, d := p[i+dy[o]], p[i+dy[o]+dx[o]]
				dgrid[2*o] += g[o] * ((1-fy[o])*(b-a) + fy[o]*(d-cc))
				dgrid[2*o+1] += g[o] * ((1-fx[o])*(cc-a) + fx[o]*(d-b))
			}
		}
		for o := range oplane {
			dgrid[2*o] *= t.sx[o]
			dgrid[2*o+1] *= t.sy[o]
		}
	}
	if dimg != nil {
		clear(dimg[:c*plane])
		for ch := range c {
			q := dimg[ch*plane : (ch+1)*plane]
			g := dout[ch*oplane : (ch+1)*oplane]
			for o, i := range off {
				gy := g[o] * fy[o]
				gt := g[o] - gy
				q[i] += gt * (1 - fx[o])
				q[i+dx[o]] += gt * fx[o]
				q[i+dy[o]] += gy * (1 - fx[o])
				q[i+dy[o]+dx[o]] += gy * fx[o]
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

func sampleBatch[T opkit.Float](sp *pool, s SampleShape, img, grid, out []T) {
	s.check(len(img), len(grid), len(out), [3]string{"image", "grid", "output"})
	ip, gp, op := s.C*s.H*s.W, 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	opkit.ForCost(s.N, 10*op, func(lo, hi int) {
		t := takeTaps[T](sp, s.Ho*s.Wo)
		defer give(sp, t)
		for i := lo; i < hi; i++ {
			sampleOne(img[i*ip:(i+1)*ip], s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo, out[i*op:(i+1)*op], t)
		}
	})
}

// sampleBatchDeriv is sampleBatch keeping the derivatives of sampleOneDeriv in deriv
// (N x C x Ho x Wo x 2).
func sampleBatchDeriv[T opkit.Float](sp *pool, s SampleShape, img, grid, out, deriv []T) {
	s.check(len(img), len(grid), len(out), [3]string{"image", "grid", "output"})
	ip, gp, op := s.C*s.H*s.W, 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	opkit.ForCost(s.N, 14*op, func(lo, hi int) {
		t := takeTaps[T](sp, s.Ho*s.Wo)
		defer give(sp, t)
		for i := lo; i < hi; i++ {
			sampleOneDeriv(img[i*ip:(i+1)*ip], s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo,
				out[i*op:(i+1)*op], deriv[2*i*op:2*(i+1)*op], t)
		}
	})
}

// gridGradBatchFromDeriv is the batched gridGradFromDeriv.
func gridGradBatchFromDeriv[T opkit.Float](sp *pool, s SampleShape, grid, dout, deriv, dgrid []T) {
	gp, op := 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	opkit.ForCost(s.N, 6*op, func(lo, hi int) {
		t := takeTaps[T](sp, s.Ho*s.Wo)
		defer give(sp, t)
		for i := lo; i < hi; i++ {
			gridGradFromDeriv(s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo,
				dout[i*op:(i+1)*op], deriv[2*i*op:2*(i+1)*op], dgrid[i*gp:(i+1)*gp], t)
		}
	})
}

func sampleBatchBackward[T opkit.Float](sp *pool, s SampleShape, img, grid, dout, dimg, dgrid []T) {
	s.check(len(img), len(grid), len(dout), [3]string{"image", "grid", "output gradient"})
	if dgrid != nil {
		s.check(len(img), len(dgrid), len(dout), [3]string{"image", "grid gradient", "output gradient"})
	}
	if dimg != nil {
		s.check(len(dimg), len(grid), len(dout), [3]string{"image gradient", "grid", "output gradient"})
	}
	ip, gp, op := s.C*s.H*s.W, 2*s.Ho*s.Wo, s.C*s.Ho*s.Wo
	opkit.ForCost(s.N, 20*op, func(lo, hi int) {
		t := takeTaps[T](sp, s.Ho*s.Wo)
		defer give(sp, t)
		for i := lo; i < hi; i++ {
			var di, dg []T
			if dimg != nil {
				di = dimg[i*ip : (i+1)*ip]
			}
			if dgrid != nil {
				dg = dgrid[i*gp : (i+1)*gp]
			}
			sampleOneBackward(img[i*ip:(i+1)*ip], s.C, s.H, s.W, grid[i*gp:(i+1)*gp], s.Ho, s.Wo,
				dout[i*op:(i+1)*op], di, dg, t)
		}
	})
}

// Sample samples one image img (c x hIn x wIn, planar) bilinearly at grid (ho x wo x 2,
// last axis (x, y)) into out (c x ho x wo), with border padding and align_corners = true.
// It panics if a slice is too short.
func Sample[T opkit.Float](img []T, c, hIn, wIn int, grid []T, ho, wo int, out []T) {
	sampleBatch(nil, SampleShape{1, c, hIn, wIn, ho, wo}, img, grid, out)
}

// SampleBatch samples s.N images (N x C x H x W) at their grids (N x Ho x Wo x 2) into
// out (N x C x Ho x Wo), spreading the batch over the available cores.
func SampleBatch[T opkit.Float](s SampleShape, img, grid, out []T) {
	sampleBatch(nil, s, img, grid, out)
}

// SampleBackward overwrites dgrid with the gradient to the grids and dimg with the
// gradient to the images, given the gradient dout to the sampled output. Either may be
// nil and is then skipped. The gradient to a coordinate that border padding clipped is 0.
func SampleBackward[T opkit.Float](s SampleShape, img, grid, dout, dimg, dgrid []T) {
	sampleBatchBackward(nil, s, img, grid, dout, dimg, dgrid)
}
