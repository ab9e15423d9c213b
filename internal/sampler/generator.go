package sampler

import (
	"fmt"
	"math"

	"zoomtrain/internal/opkit"
)

// Generator is the grid generator of the paper's equations 2 and 3 for one grid shape and
// parameter set, in the separable matrix form of SPEC.md. The matrices are computed once,
// in float64, by NewGenerator; a Generator is immutable and safe for concurrent use.
type Generator struct {
	p   Params
	m64 mats[float64]
	m32 mats[float32]
	// scratch keeps the workers' work space between calls.
	scratch *pool
}

// mats holds the generator's matrices, row-major, stacked so that each stage is one
// matrix product. Column counts are padded to wp, a multiple of 8, so that the float32
// products can use whole vector registers; the padding is zero.
//
//	l  = [A_h; C_h]       (2h x h)    left factors
//	lt = [A_h^T  C_h^T]   (h x 2h)    their transposes, for the backward pass
//	r  = [A_w^T  C_w^T]   (w x 2wp)   right factors, C_w^T starting at column wp
//	rt = [A_w; C_w]       (2wp x wp)  their transposes, C_w starting at row wp
type mats[T opkit.Float] struct {
	l, lt, r, rt []T
	wp           int
	mul          func(m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int)
}

// NewGenerator validates p and precomputes the generator's matrices.
func NewGenerator(p Params) (*Generator, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ah, ch := axisMatrices(p.H, p.Padding, p.FWHM, p.Mode)
	aw, cw := axisMatrices(p.W, p.Padding, p.FWHM, p.Mode)
	h, w := p.H, p.W
	wp := (w + 7) &^ 7
	m := mats[float64]{
		l:   make([]float64, 2*h*h),
		lt:  make([]float64, 2*h*h),
		r:   make([]float64, w*2*wp),
		rt:  make([]float64, 2*wp*wp),
		wp:  wp,
		mul: gemm[float64],
	}
	copy(m.l, ah)
	copy(m.l[h*h:], ch)
	for i := range h {
		for j := range h {
			m.lt[i*2*h+j] = ah[j*h+i]
			m.lt[i*2*h+h+j] = ch[j*h+i]
		}
	}
	for i := range w {
		for j := range w {
			m.r[i*2*wp+j] = aw[j*w+i]
			m.r[i*2*wp+wp+j] = cw[j*w+i]
			m.rt[i*wp+j] = aw[i*w+j]
			m.rt[(wp+i)*wp+j] = cw[i*w+j]
		}
	}
	return &Generator{p: p, scratch: &pool{}, m64: m, m32: mats[float32]{
		l: to32(m.l), lt: to32(m.lt), r: to32(m.r), rt: to32(m.rt), wp: wp, mul: gemm32,
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

// gaussian1D is the unnormalised 1-D kernel g(a) = exp(-4 ln2 (a-P)^2 / F^2), a = 0..2P.
func gaussian1D(padding int, fwhm float64) []float64 {
	k := make([]float64, 2*padding+1)
	for a := range k {
		d := float64(a - padding)
		k[a] = math.Exp(-4 * math.Ln2 * d * d / (fwhm * fwhm))
	}
	return k
}

// padIndex maps index p of the padded axis (0 .. n+2P-1) to the index of the map cell
// whose value it holds.
func padIndex(p, n, padding int, mode PaddingMode) int {
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
	k := gaussian1D(padding, fwhm)
	a = make([]float64, n*n)
	c = make([]float64, n*n)
	for i := range n {
		for t, kv := range k {
			p := i + t
			q := padIndex(p, n, padding, mode)
			a[i*n+q] += kv
			c[i*n+q] += kv * float64(p-padding) / float64(n-1)
		}
	}
	return a, c
}

// work is one goroutine's scratch space for the generator; rows are wp wide.
type work[T opkit.Float] struct {
	sp []T // the map, padded          (h x wp)
	ls []T // [A_h S; C_h S]            (2h x wp)
	pr []T // [den  num_x]              (h x 2wp)
	ny []T // num_y                     (h x wp)
	dd []T // [dden  dnum_x]            (h x 2wp)
	dy []T // dnum_y                    (h x wp)
	vw []T // [dden A_w + dnum_x C_w; dnum_y A_w]  (2h x wp)
	ds []T // the map's gradient        (h x wp)
}

func newWork[T opkit.Float](h, wp int) *work[T] {
	buf := make([]T, 12*h*wp)
	next := func(rows int) []T {
		s := buf[:rows*wp]
		buf = buf[rows*wp:]
		return s
	}
	return &work[T]{sp: next(h), ls: next(2 * h), pr: next(2 * h), ny: next(h), dd: next(2 * h), dy: next(h), vw: next(2 * h), ds: next(h)}
}

// raw computes den, num_x (in ws.pr) and num_y (in ws.ny) for one map s (h x w).
func raw[T opkit.Float](m *mats[T], h, w int, s []T, ws *work[T]) {
	wp := m.wp
	for i := range h {
		copy(ws.sp[i*wp:i*wp+w], s[i*w:(i+1)*w])
	}
	m.mul(2*h, wp, h, m.l, h, ws.sp, wp, ws.ls, wp)
	m.mul(h, 2*wp, w, ws.ls, wp, m.r, 2*wp, ws.pr, 2*wp)
	m.mul(h, wp, w, ws.ls[h*wp:], wp, m.r, 2*wp, ws.ny, wp)
}

// gridForward writes clamp(2 num/den - 1) for one map into grid (h x w x 2).
func gridForward[T opkit.Float](m *mats[T], h, w int, s, grid []T, ws *work[T]) {
	raw(m, h, w, s, ws)
	wp := m.wp
	for i := range h {
		pr := ws.pr[i*2*wp : (i+1)*2*wp]
		ny := ws.ny[i*wp : (i+1)*wp]
		gr := grid[i*2*w : (i+1)*2*w]
		for j := range w {
			den := pr[j]
			gr[2*j] = clamp1(2*pr[wp+j]/den - 1)
			gr[2*j+1] = clamp1(2*ny[j]/den - 1)
		}
	}
}

// gridBackward writes into ds (h x w) the gradient to one map s given the gradient dgrid
// (h x w x 2) to its clamped grid. The clamp passes the gradient where its input lies in
// [-1, 1], as PyTorch's does.
func gridBackward[T opkit.Float](m *mats[T], h, w int, s, dgrid, ds []T, ws *work[T]) {
	raw(m, h, w, s, ws)
	wp := m.wp
	for i := range h {
		pr := ws.pr[i*2*wp : (i+1)*2*wp]
		ny := ws.ny[i*wp : (i+1)*wp]
		dg := dgrid[i*2*w : (i+1)*2*w]
		dd := ws.dd[i*2*wp : (i+1)*2*wp]
		dy := ws.dy[i*wp : (i+1)*wp]
		for j := range w {
			den := pr[j]
			inv := 1 / den
			ux, uy := pr[wp+j]*inv, ny[j]*inv
			var gx, gy T
			// The same expressions as the forward pass, so both agree on what was clamped.
			if v := 2*pr[wp+j]/den - 1; v >= -1 && v <= 1 {
				gx = 2 * dg[2*j] * inv
			}
			if v := 2*ny[j]/den - 1; v >= -1 && v <= 1 {
				gy = 2 * dg[2*j+1] * inv
			}
			// d(num/den)/dden = -u/den.
			dd[j] = -(gx*ux + gy*uy)
			dd[wp+j] = gx
			dy[j] = gy
		}
	}
	// dS = A_h^T (dden A_w + dnum_x C_w) + C_h^T (dnum_y A_w).
	m.mul(h, wp, 2*wp, ws.dd, 2*wp, m.rt, wp, ws.vw, wp)
	m.mul(h, wp, wp, ws.dy, wp, m.rt, wp, ws.vw[h*wp:], wp)
	m.mul(h, wp, 2*h, m.lt, 2*h, ws.vw, wp, ws.ds, wp)
	for i := range h {
		copy(ds[i*w:(i+1)*w], ws.ds[i*wp:i*wp+w])
	}
}

func clamp1[T opkit.Float](v T) T {
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

// matsOf returns the generator's matrices in T.
func matsOf[T opkit.Float](g *Generator) *mats[T] {
	if m, ok := any(&g.m32).(*mats[T]); ok {
		return m
	}
	return any(&g.m64).(*mats[T])
}

// Grid writes the grids (n x h x w x 2) of n saliency maps s (n x h x w, row = y) into
// grid. The maps need no normalisation. It panics if a slice is too short.
func Grid[T opkit.Float](g *Generator, s []T, n int, grid []T) {
	gridBatch(g, matsOf[T](g), s, n, grid)
}

// GridBackward writes into ds (n x h x w) the gradient of a loss to the maps s given
// its gradient dgrid (n x h x w x 2) to their grids.
func GridBackward[T opkit.Float](g *Generator, s, dgrid []T, n int, ds []T) {
	gridBatchBackward(g, matsOf[T](g), s, dgrid, n, ds)
}

func gridBatch[T opkit.Float](g *Generator, m *mats[T], s []T, n int, grid []T) {
	h, w := g.p.H, g.p.W
	g.checkLen("saliency", len(s), n, h*w)
	g.checkLen("grid", len(grid), n, 2*h*w)
	opkit.ForCost(n, g.genFlops(), func(lo, hi int) {
		ws := take(g.scratch, func(*work[T]) bool { return true }, func() *work[T] { return newWork[T](h, m.wp) })
		defer give(g.scratch, ws)
		for i := lo; i < hi; i++ {
			gridForward(m, h, w, s[i*h*w:(i+1)*h*w], grid[i*2*h*w:(i+1)*2*h*w], ws)
		}
	})
}

func gridBatchBackward[T opkit.Float](g *Generator, m *mats[T], s, dgrid []T, n int, ds []T) {
	h, w := g.p.H, g.p.W
	g.checkLen("saliency", len(s), n, h*w)
	g.checkLen("grid gradient", len(dgrid), n, 2*h*w)
	g.checkLen("saliency gradient", len(ds), n, h*w)
	opkit.ForCost(n, 2*g.genFlops(), func(lo, hi int) {
		ws := take(g.scratch, func(*work[T]) bool { return true }, func() *work[T] { return newWork[T](h, m.wp) })
		defer give(g.scratch, ws)
		for i := lo; i < hi; i++ {
			gridBackward(m, h, w, s[i*h*w:(i+1)*h*w], dgrid[i*2*h*w:(i+1)*2*h*w], ds[i*h*w:(i+1)*h*w], ws)
		}
	})
}
