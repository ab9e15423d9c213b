package sampler

import (
	"fmt"
	"math"
)

// Generator is the grid generator of the paper's equations 2 and 3 for one grid shape and
// parameter set, in the separable matrix form of SPEC.md. The matrices are computed once,
// in float64, by NewGenerator; a Generator is immutable and safe for concurrent use.
type Generator struct {
	p   Params
	m64 mats[float64]
	m32 mats[float32]
}

// mats holds the generator's matrices, row-major, stacked so that each stage is one
// matrix product:
//
//	l  = [A_h; C_h]       (2h x h)   left factors
//	lt = [A_h^T  C_h^T]   (h x 2h)   their transposes, for the backward pass
//	r  = [A_w^T  C_w^T]   (w x 2w)   right factors
//	rt = [A_w; C_w]       (2w x w)
type mats[T float] struct {
	l, lt, r, rt []T
}

// NewGenerator validates p and precomputes the generator's matrices.
func NewGenerator(p Params) (*Generator, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ah, ch := axisMatrices(p.H, p.Padding, p.FWHM, p.Mode)
	aw, cw := axisMatrices(p.W, p.Padding, p.FWHM, p.Mode)
	h, w := p.H, p.W
	m := mats[float64]{
		l:  make([]float64, 2*h*h),
		lt: make([]float64, 2*h*h),
		r:  make([]float64, 2*w*w),
		rt: make([]float64, 2*w*w),
	}
	copy(m.l, ah)
	copy(m.l[h*h:], ch)
	for i := range h {
		for j := range h {
			m.lt[i*2*h+j] = ah[j*h+i]
			m.lt[i*2*h+h+j] = ch[j*h+i]
		}
	}
	copy(m.rt, aw)
	copy(m.rt[w*w:], cw)
	for i := range w {
		for j := range w {
			m.r[i*2*w+j] = aw[j*w+i]
			m.r[i*2*w+w+j] = cw[j*w+i]
		}
	}
	return &Generator{p: p, m64: m, m32: mats[float32]{
		l: to32(m.l), lt: to32(m.lt), r: to32(m.r), rt: to32(m.rt),
	}}, nil
}

// Params returns the parameters the generator was built with.
func (g *Generator) Params() Params { return g.p }

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// Gaussian1D is the unnormalised 1-D kernel g(a) = exp(-4 ln2 (a-P)^2 / F^2), a = 0..2P.
func Gaussian1D(padding int, fwhm float64) []float64 {
	k := make([]float64, 2*padding+1)
	for a := range k {
		d := float64(a - padding)
		k[a] = math.Exp(-4 * math.Ln2 * d * d / (fwhm * fwhm))
	}
	return k
}

// PadIndex maps index p of the padded axis (0 .. n+2P-1) to the index of the map cell
// whose value it holds.
func PadIndex(p, n, padding int, mode PaddingMode) int {
	q := p - padding
	if mode == Reflect {
		if q < 0 {
			q = -q
		}
		if q > n-1 {
			q = 2*(n-1) - q
		}
	}
	return min(max(q, 0), n-1)
}

// axisMatrices returns A = G R and C = G diag(coord) R (n x n each, row-major) for one
// axis of length n: R pads, G correlates with the 1-D Gaussian, coord(p) = (p-P)/(n-1).
func axisMatrices(n, padding int, fwhm float64, mode PaddingMode) (a, c []float64) {
	k := Gaussian1D(padding, fwhm)
	a = make([]float64, n*n)
	c = make([]float64, n*n)
	for i := range n {
		for t, kv := range k {
			p := i + t
			q := PadIndex(p, n, padding, mode)
			a[i*n+q] += kv
			c[i*n+q] += kv * float64(p-padding) / float64(n-1)
		}
	}
	return a, c
}

// work is one goroutine's scratch space for the generator.
type work[T float] struct {
	ls []T // [A_h S; C_h S]       (2h x w)
	pr []T // [den  num_x]         (h x 2w)
	ny []T // num_y                (h x w)
	dd []T // [dden dnum_x]        (h x 2w)
	dy []T // dnum_y               (h x w)
	vw []T // [dden A_w + dnum_x C_w; dnum_y A_w]  (2h x w)
}

func newWork[T float](h, w int) *work[T] {
	buf := make([]T, 2*h*w*5+h*w)
	ws := &work[T]{}
	ws.ls, buf = buf[:2*h*w], buf[2*h*w:]
	ws.pr, buf = buf[:2*h*w], buf[2*h*w:]
	ws.ny, buf = buf[:h*w], buf[h*w:]
	ws.dd, buf = buf[:2*h*w], buf[2*h*w:]
	ws.dy, buf = buf[:h*w], buf[h*w:]
	ws.vw = buf[:2*h*w]
	return ws
}

// raw computes den, num_x (in ws.pr) and num_y (in ws.ny) for one map s (h x w).
func raw[T float](m *mats[T], h, w int, s []T, ws *work[T]) {
	gemm(2*h, w, h, m.l, h, s, w, ws.ls, w)
	gemm(h, 2*w, w, ws.ls, w, m.r, 2*w, ws.pr, 2*w)
	gemm(h, w, w, ws.ls[h*w:], w, m.r, 2*w, ws.ny, w)
}

// gridForward writes clamp(2 num/den - 1) for one map into grid (h x w x 2).
func gridForward[T float](m *mats[T], h, w int, s, grid []T, ws *work[T]) {
	raw(m, h, w, s, ws)
	for i := range h {
		pr := ws.pr[i*2*w : (i+1)*2*w]
		ny := ws.ny[i*w : (i+1)*w]
		gr := grid[i*2*w : (i+1)*2*w]
		for j := range w {
			den := pr[j]
			gr[2*j] = clamp1(2*pr[w+j]/den - 1)
			gr[2*j+1] = clamp1(2*ny[j]/den - 1)
		}
	}
}

// gridBackward writes into ds (h x w) the gradient to one map s given the gradient dgrid
// (h x w x 2) to its clamped grid. The clamp passes the gradient where its input lies in
// [-1, 1], as PyTorch's does.
func gridBackward[T float](m *mats[T], h, w int, s, dgrid, ds []T, ws *work[T]) {
	raw(m, h, w, s, ws)
	for i := range h {
		pr := ws.pr[i*2*w : (i+1)*2*w]
		ny := ws.ny[i*w : (i+1)*w]
		dg := dgrid[i*2*w : (i+1)*2*w]
		dd := ws.dd[i*2*w : (i+1)*2*w]
		dy := ws.dy[i*w : (i+1)*w]
		for j := range w {
			den := pr[j]
			inv := 1 / den
			ux, uy := pr[w+j]*inv, ny[j]*inv
			var gx, gy T
			// The same expressions as the forward pass, so both agree on what was clamped.
			if v := 2*pr[w+j]/den - 1; v >= -1 && v <= 1 {
				gx = 2 * dg[2*j] * inv
			}
			if v := 2*ny[j]/den - 1; v >= -1 && v <= 1 {
				gy = 2 * dg[2*j+1] * inv
			}
			// d(num/den)/dden = -u/den.
			dd[j] = -(gx*ux + gy*uy)
			dd[w+j] = gx
			dy[j] = gy
		}
	}
	// dS = A_h^T (dden A_w + dnum_x C_w) + C_h^T (dnum_y A_w).
	gemm(h, w, 2*w, ws.dd, 2*w, m.rt, w, ws.vw, w)
	gemm(h, w, w, ws.dy, w, m.rt, w, ws.vw[h*w:], w)
	gemm(h, w, 2*h, m.lt, 2*h, ws.vw, w, ds, w)
}

func clamp1[T float](v T) T {
	// Written so that NaN passes through rather than becoming a border value.
	if v < -1 {
		return -1
	}
	if v > 1 {
		return 1
	}
	return v
}

// genFlops is a rough operation count per map, to decide on goroutines.
func (g *Generator) genFlops() int {
	h, w := g.p.H, g.p.W
	return 6 * h * w * (h + w)
}

func (g *Generator) checkLen(name string, got, n, per int) {
	if got < n*per {
		panic(fmt.Sprintf("sampler: %s has %d elements, want %d (%d maps of %dx%d)", name, got, n*per, n, g.p.W, g.p.H))
	}
}

// Grid64 writes the grid (h x w x 2) of one saliency map s (h x w, row = y) into grid.
// The map needs no normalisation. It panics if a slice is too short.
func (g *Generator) Grid64(s, grid []float64) { g.GridBatch64(s, 1, grid) }

// Grid32 is Grid64 in float32.
func (g *Generator) Grid32(s, grid []float32) { g.GridBatch32(s, 1, grid) }

// GridBatch64 writes the grids of n maps (n x h x w) into grid (n x h x w x 2).
func (g *Generator) GridBatch64(s []float64, n int, grid []float64) {
	gridBatch(g, &g.m64, s, n, grid)
}

// GridBatch32 is GridBatch64 in float32.
func (g *Generator) GridBatch32(s []float32, n int, grid []float32) {
	gridBatch(g, &g.m32, s, n, grid)
}

// GridBackward64 writes into ds (n x h x w) the gradient of a loss to the maps s given
// its gradient dgrid (n x h x w x 2) to their grids.
func (g *Generator) GridBackward64(s, dgrid []float64, n int, ds []float64) {
	gridBatchBackward(g, &g.m64, s, dgrid, n, ds)
}

// GridBackward32 is GridBackward64 in float32.
func (g *Generator) GridBackward32(s, dgrid []float32, n int, ds []float32) {
	gridBatchBackward(g, &g.m32, s, dgrid, n, ds)
}

func gridBatch[T float](g *Generator, m *mats[T], s []T, n int, grid []T) {
	h, w := g.p.H, g.p.W
	g.checkLen("saliency", len(s), n, h*w)
	g.checkLen("grid", len(grid), n, 2*h*w)
	parallel(n, g.genFlops(), func(lo, hi int) {
		ws := newWork[T](h, w)
		for i := lo; i < hi; i++ {
			gridForward(m, h, w, s[i*h*w:(i+1)*h*w], grid[i*2*h*w:(i+1)*2*h*w], ws)
		}
	})
}

func gridBatchBackward[T float](g *Generator, m *mats[T], s, dgrid []T, n int, ds []T) {
	h, w := g.p.H, g.p.W
	g.checkLen("saliency", len(s), n, h*w)
	g.checkLen("grid gradient", len(dgrid), n, 2*h*w)
	g.checkLen("saliency gradient", len(ds), n, h*w)
	parallel(n, 2*g.genFlops(), func(lo, hi int) {
		ws := newWork[T](h, w)
		for i := lo; i < hi; i++ {
			gridBackward(m, h, w, s[i*h*w:(i+1)*h*w], dgrid[i*2*h*w:(i+1)*2*h*w], ds[i*h*w:(i+1)*h*w], ws)
		}
	})
}
