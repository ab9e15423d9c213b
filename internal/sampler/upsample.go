package sampler

import (
	"fmt"

	"zoomtrain/internal/kernels"
	"zoomtrain/internal/opkit"
)

// lerpAxis holds, for each output index of one axis, the two source indices and the
// weight of the second, for linear interpolation (kernels.NewLerp).
type lerpAxis struct {
	i0, i1 []int
	f      []float64
}

func newLerpAxis(n, no int, alignCorners bool) lerpAxis {
	l := kernels.NewLerp(n, no, alignCorners)
	return lerpAxis{i0: l.I0, i1: l.I1, f: l.F}
}

// upsampler interpolates grids of h x w cells to ho x wo.
type upsampler struct {
	h, w, ho, wo int
	ys, xs       lerpAxis
}

func newUpsampler(h, w, ho, wo int) *upsampler { return newUpsamplerCorners(h, w, ho, wo, true) }

func newUpsamplerCorners(h, w, ho, wo int, alignCorners bool) *upsampler {
	return &upsampler{h: h, w: w, ho: ho, wo: wo, ys: newLerpAxis(h, ho, alignCorners), xs: newLerpAxis(w, wo, alignCorners)}
}

// upForward writes the upsampled, clamped grid into out (ho x wo x 2).
func upForward[T opkit.Float](u *upsampler, grid, out []T) {
	for oy := range u.ho {
		fy := T(u.ys.f[oy])
		r0 := grid[2*u.ys.i0[oy]*u.w : 2*(u.ys.i0[oy]+1)*u.w]
		r1 := grid[2*u.ys.i1[oy]*u.w : 2*(u.ys.i1[oy]+1)*u.w]
		row := out[2*oy*u.wo : 2*(oy+1)*u.wo]
		for ox := range u.wo {
			fx := T(u.xs.f[ox])
			c0, c1 := 2*u.xs.i0[ox], 2*u.xs.i1[ox]
			for k := range 2 {
				v := (1-fy)*((1-fx)*r0[c0+k]+fx*r0[c1+k]) + fy*((1-fx)*r1[c0+k]+fx*r1[c1+k])
				row[2*ox+k] = clamp1(v)
			}
		}
	}
}

// upBackward overwrites dgrid (h x w x 2) with the gradient given dout (ho x wo x 2),
// passing it through the clamp where its input lies in [-1, 1].
func upBackward[T opkit.Float](u *upsampler, grid, dout, dgrid []T) {
	clear(dgrid[:2*u.h*u.w])
	for oy := range u.ho {
		fy := T(u.ys.f[oy])
		o0, o1 := 2*u.ys.i0[oy]*u.w, 2*u.ys.i1[oy]*u.w
		r0, r1 := grid[o0:o0+2*u.w], grid[o1:o1+2*u.w]
		d0, d1 := dgrid[o0:o0+2*u.w], dgrid[o1:o1+2*u.w]
		row := dout[2*oy*u.wo : 2*(oy+1)*u.wo]
		for ox := range u.wo {
			fx := T(u.xs.f[ox])
			c0, c1 := 2*u.xs.i0[ox], 2*u.xs.i1[ox]
			for k := range 2 {
				v := (1-fy)*((1-fx)*r0[c0+k]+fx*r0[c1+k]) + fy*((1-fx)*r1[c0+k]+fx*r1[c1+k])
				if v < -1 || v > 1 {
					continue
				}
				d := row[2*ox+k]
				d0[c0+k] += (1 - fy) * (1 - fx) * d
				d0[c1+k] += (1 - fy) * fx * d
				d1[c0+k] += fy * (1 - fx) * d
				d1[c1+k] += fy * fx * d
			}
		}
	}
}

// upBatch upsamples n grids, spreading them over the available cores.
func upBatch[T opkit.Float](u *upsampler, n int, grid, out []T) {
	gp, op := 2*u.h*u.w, 2*u.ho*u.wo
	opkit.ForCost(n, 10*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			upForward(u, grid[i*gp:(i+1)*gp], out[i*op:(i+1)*op])
		}
	})
}

// upBatchBackward is the batched upBackward.
func upBatchBackward[T opkit.Float](u *upsampler, n int, grid, dout, dgrid []T) {
	gp, op := 2*u.h*u.w, 2*u.ho*u.wo
	opkit.ForCost(n, 12*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			upBackward(u, grid[i*gp:(i+1)*gp], dout[i*op:(i+1)*op], dgrid[i*gp:(i+1)*gp])
		}
	})
}

func checkUpsample(grid []int, h, w, ho, wo int) {
	if h < 1 || w < 1 || ho < 1 || wo < 1 {
		panic(fmt.Sprintf("sampler: upsample %dx%d to %dx%d (w x h): sizes must be positive", w, h, wo, ho))
	}
	if grid[0] < 2*h*w || grid[1] < 2*ho*wo {
		panic(fmt.Sprintf("sampler: upsample %dx%d to %dx%d (w x h) got slices of %d and %d elements", w, h, wo, ho, grid[0], grid[1]))
	}
}

// Upsample writes into out (ho x wo x 2) the bilinear upsampling (align_corners = true)
// of grid (h x w x 2), clamped to [-1, 1]. It panics if a slice is too short.
func Upsample[T opkit.Float](grid []T, h, w, ho, wo int, out []T) {
	checkUpsample([]int{len(grid), len(out)}, h, w, ho, wo)
	upForward(newUpsampler(h, w, ho, wo), grid, out)
}

// UpsampleBackward writes into dgrid (h x w x 2) the gradient to grid given the
// gradient dout (ho x wo x 2) to its upsampled, clamped copy.
func UpsampleBackward[T opkit.Float](grid []T, h, w, ho, wo int, dout, dgrid []T) {
	checkUpsample([]int{len(grid), len(dout)}, h, w, ho, wo)
	checkUpsample([]int{len(dgrid), len(dout)}, h, w, ho, wo)
	upBackward(newUpsampler(h, w, ho, wo), grid, dout, dgrid)
}
