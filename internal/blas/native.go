package blas

import (
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas/gonum"
)

// microKernel is one register-tile kernel with the cache blocking that suits
// it: op(A) is cut into mc x kc blocks and op(B) into kc x nc blocks, each
// packed into contiguous panels of mr rows (A) and nr columns (B).
type microKernel struct {
	name           string
	mr, nr         int
	mc, kc, nc     int
	fn             func(kc int, a, b, c *float32, ldc int, alpha, beta float32, load int)
	packedA, packB int // sizes of the packing buffers, set by newNative
}

// nativeEngine is the packed, cache-blocked SGEMM on our own micro-kernel,
// single-threaded per call (callers parallelise over the batch). Dgemm goes
// to gonum. Safe for concurrent use: every call takes its own workspace.
type nativeEngine struct {
	k    microKernel
	pool *sync.Pool // of *workspace
}

// workspace holds one call's packing buffers and edge tile, 64-byte aligned
// and reused across calls.
type workspace struct {
	a, b, tile []float32
}

func newNative(k microKernel) *nativeEngine {
	k.packedA = roundUp(k.mc, k.mr) * k.kc
	k.packB = roundUp(k.nc, k.nr) * k.kc
	e := &nativeEngine{k: k}
	e.pool = &sync.Pool{New: func() any {
		return &workspace{a: aligned(k.packedA), b: aligned(k.packB), tile: aligned(k.mr * k.nr)}
	}}
	return e
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// aligned returns n float32s starting on a 64-byte boundary (a cache line,
// and the width of a zmm load).
func aligned(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0]))%64) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

func (e *nativeEngine) name() string   { return "native (" + e.k.name + ")" }
func (e *nativeEngine) setThreads(int) {}

func (e *nativeEngine) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gonum.Implementation{}.Dgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemm is the Goto/BLIS loop nest: for each nc-wide slab of columns and
// kc-deep slice of the inner dimension, pack op(B); for each mc-tall block
// of rows, pack op(A); then run the micro-kernel over the mr x nr tiles.
// The first k slice applies beta (without reading C when beta is 0), later
// ones accumulate. Sizes are checked by the caller, and m, n, k > 0.
func (e *nativeEngine) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mk := &e.k
	ws := e.pool.Get().(*workspace)
	defer e.pool.Put(ws)
	for jc := 0; jc < n; jc += mk.nc {
		nc := min(mk.nc, n-jc)
		for pc := 0; pc < k; pc += mk.kc {
			kc := min(mk.kc, k-pc)
			packB(tB, b, ldb, pc, jc, kc, nc, mk.nr, ws.b)
			blockBeta, load := beta, 0
			if pc > 0 {
				blockBeta, load = 1, 1
			} else if beta != 0 {
				load = 1
			}
			for ic := 0; ic < m; ic += mk.mc {
				mc := min(mk.mc, m-ic)
				packA(tA, a, lda, ic, pc, mc, kc, mk.mr, ws.a)
				e.macroKernel(mc, nc, kc, alpha, blockBeta, load, ws, c[ic*ldc+jc:], ldc)
			}
		}
	}
}

// macroKernel multiplies the packed mc x kc block of A by the packed kc x nc
// block of B into C (which starts at the block's top-left element).
func (e *nativeEngine) macroKernel(mc, nc, kc int, alpha, beta float32, load int, ws *workspace, c []float32, ldc int) {
	mk := &e.k
	mr, nr := mk.mr, mk.nr
	tile := ws.tile
	for jr := 0; jr < nc; jr += nr {
		nrr := min(nr, nc-jr)
		bp := &ws.b[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			mrr := min(mr, mc-ir)
			ap := &ws.a[ir*kc]
			if mrr == mr && nrr == nr {
				mk.fn(kc, ap, bp, &c[ir*ldc+jr], ldc, alpha, beta, load)
				continue
			}
			// An edge tile: compute the whole tile from the zero-padded
			// panels, then merge only its valid part into C.
			mk.fn(kc, ap, bp, &tile[0], nr, alpha, 0, 0)
			for i := range mrr {
				row := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+nrr]
				t := tile[i*nr : i*nr+nrr]
				if load == 0 {
					copy(row, t)
					continue
				}
				for j, v := range t {
					row[j] = v + beta*row[j]
				}
			}
		}
	}
}

// packA copies the mc x kc block of op(A) at (i0, p0) into panels of mr
// rows, each stored k-major (kc groups of mr values), the last panel padded
// with zeros.
func packA(tA bool, a []float32, lda, i0, p0, mc, kc, mr int, dst []float32) {
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		panel := dst[ip*kc : ip*kc+mr*kc]
		if tA {
			// op(A)[i][p] = A[p][i]: each k step is a contiguous run of A.
			for p := range kc {
				src := a[(p0+p)*lda+i0+ip : (p0+p)*lda+i0+ip+rows]
				g := panel[p*mr : p*mr+mr]
				copy(g, src)
				clear(g[rows:])
			}
			continue
		}
		for r := range rows {
			src := a[(i0+ip+r)*lda+p0 : (i0+ip+r)*lda+p0+kc]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := range kc {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies the kc x nc block of op(B) at (p0, j0) into panels of nr
// columns, each stored k-major (kc groups of nr values), the last panel
// padded with zeros.
func packB(tB bool, b []float32, ldb, p0, j0, kc, nc, nr int, dst []float32) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		panel := dst[jp*kc : jp*kc+nr*kc]
		if !tB {
			for p := range kc {
				src := b[(p0+p)*ldb+j0+jp : (p0+p)*ldb+j0+jp+cols]
				g := panel[p*nr : p*nr+nr]
				copy(g, src)
				clear(g[cols:])
			}
			continue
		}
		// op(B)[p][j] = B[j][p]: each column of the panel is a row of B.
		for j := range cols {
			src := b[(j0+jp+j)*ldb+p0 : (j0+jp+j)*ldb+p0+kc]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := range kc {
				panel[p*nr+j] = 0
			}
		}
	}
}
