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
	name       string
	mr, nr     int
	mc, kc, nc int
	fn         kernelFunc
	// edge[i] is fn for the first (i+1)*vec columns only, for the right
	// edge of B; vec is the floats in one vector register.
	edge []kernelFunc
	vec  int
	// fnPack is fn that also stores the B panel it reads, packed, to bp.
	fnPack         func(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int, bp *float32)
	packedA, packB int // sizes of the packing buffers, set by newNative
	// aheadBytes is the size of op(A) or op(B) from which transposing it
	// into panels prefetches along its rows: what exceeds the caches
	// streams from memory, and the rows are too many and too far apart
	// for the hardware prefetcher (dW_conv2 of BenchmarkSgemmConv: 78 to
	// 85 GFLOP/s); on operands in cache the prefetches cost 1-3%.
	aheadBytes int
}

// kernelFunc is a micro-kernel; see kernel_amd64.go.
type kernelFunc func(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

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
// An untransposed B is not packed: its rows are already contiguous runs of
// nr values, which the kernel reads at stride ldb, and the copy would cost
// as much as the product when k is small (the first convolution's k is 27).
// The first k slice applies beta (without reading C when beta is 0), later
// ones accumulate. Sizes are checked by the caller, and m, n, k > 0.
func (e *nativeEngine) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mk := &e.k
	ws := e.pool.Get().(*workspace)
	defer e.pool.Put(ws)
	// Equal k slices: a short last slice would spend its time loading and
	// storing C.
	kcMax := ceilDiv(k, ceilDiv(k, mk.kc))
	// B in place is packed a panel at a time, so the slab width only
	// bounds how long the blocks of C stay in cache between k slices; with
	// one k slice, one slab packs A once (an n of 1024 would otherwise
	// leave a slab of 16 columns, which repacks all of A).
	// Short k slices take taller blocks of A in the same buffer: the
	// column gradients (k of 64, m of 288 and 576) pack A and sweep B
	// once (dcols_conv3 of BenchmarkSgemmImage: 96 to 99 GFLOP/s).
	mcMax := max(mk.mc, mk.mc*mk.kc/kcMax/mk.mr*mk.mr)
	ncMax := mk.nc
	aheadA, aheadB := mk.ahead(m*k), mk.ahead(k*n)
	if !tB && kcMax == k {
		ncMax = n
	}
	for jc := 0; jc < n; jc += ncMax {
		nc := min(ncMax, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			blk := block{kc: kc, nc: nc}
			if tB {
				packB(b, ldb, pc, jc, kc, nc, mk.nr, ws.b, aheadB)
			} else {
				blk.b, blk.ldb = b[pc*ldb+jc:], ldb
			}
			blk.beta, blk.load = beta, 0
			if pc > 0 {
				blk.beta, blk.load = 1, 1
			} else if beta != 0 {
				blk.load = 1
			}
			for ic := 0; ic < m; ic += mcMax {
				blk.mc = min(mcMax, m-ic)
				packA(tA, alpha, a, lda, ic, pc, blk.mc, kc, mk.mr, ws.a, aheadA)
				e.macroKernel(&blk, ws, c[ic*ldc+jc:], ldc)
			}
		}
	}
}

// ahead is how far along its rows to prefetch an operand of n floats
// while packing it, in bytes; 0 for none.
func (mk *microKernel) ahead(n int) int {
	if 4*n >= mk.aheadBytes {
		return 1024
	}
	return 0
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// block is one mc x kc by kc x nc product of the loop nest; b is nil when
// op(B) is packed in the workspace, else B itself from the block's corner.
type block struct {
	mc, kc, nc int
	b          []float32
	ldb        int
	beta       float32
	load       int
}

// macroKernel multiplies the packed mc x kc block of A by the kc x nc block
// of B into C (which starts at the block's top-left element).
func (e *nativeEngine) macroKernel(blk *block, ws *workspace, c []float32, ldc int) {
	mk := &e.k
	mr, nr, kc := mk.mr, mk.nr, blk.kc
	beta, load := blk.beta, blk.load
	tile := ws.tile
	for jr := 0; jr < blk.nc; jr += nr {
		nrr := min(nr, blk.nc-jr)
		var bp, pack *float32
		ldb := nr
		switch {
		case blk.b == nil:
			bp = &ws.b[jr*kc]
		case nrr == nr:
			// B in place: the first tile reads it and packs it on the way,
			// the others read the packed copy. Rows of B a power of two
			// apart (as in every convolution) would collide in the caches'
			// sets and be read from memory by every tile.
			bp, ldb = &blk.b[jr], blk.ldb
			if blk.mc > mr {
				pack = &ws.b[0]
			}
		default:
			// The right edge of B in place: pack it, padded with zeros.
			packBRows(blk.b[jr:], blk.ldb, kc, nrr, nr, ws.b)
			bp = &ws.b[0]
		}
		// A narrower kernel for the right edge, when there is one.
		fn, width := mk.fn, nr
		if nv := ceilDiv(nrr, max(mk.vec, 1)); nrr < nr && nv <= len(mk.edge) {
			fn, width = mk.edge[nv-1], nv*mk.vec
		}
		for ir := 0; ir < blk.mc; ir += mr {
			mrr := min(mr, blk.mc-ir)
			ap := &ws.a[ir*kc]
			ct, ldct, betat, loadt := &tile[0], nr, float32(0), 0
			if mrr == mr && nrr == width {
				ct, ldct, betat, loadt = &c[ir*ldc+jr], ldc, beta, load
			}
			if pack != nil {
				mk.fnPack(kc, ap, bp, ldb, ct, ldct, betat, loadt, pack)
				bp, ldb, pack = pack, nr, nil
			} else {
				fn(kc, ap, bp, ldb, ct, ldct, betat, loadt)
			}
			if ct != &tile[0] {
				continue
			}
			// An edge tile, computed whole from the zero-padded panels:
			// merge only its valid part into C.
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

// packA copies alpha times the mc x kc block of op(A) at (i0, p0) into
// panels of mr rows, each stored k-major (kc groups of mr values), the last
// panel padded with zeros. ahead is passed to transposeInto.
func packA(tA bool, alpha float32, a []float32, lda, i0, p0, mc, kc, mr int, dst []float32, ahead int) {
	for ip := 0; ip < mc; ip += mr {
		rows := min(mr, mc-ip)
		panel := dst[ip*kc : ip*kc+mr*kc]
		if tA {
			// op(A)[i][p] = A[p][i]: each k step is a contiguous run of A.
			base := (p0)*lda + i0 + ip
			switch {
			case rows == 8 && mr == 8:
				// A whole panel of the AVX-512 kernel: array copies, two
				// moves each, where copy's call would cost more than the
				// 8 values (the column gradient's products pack A of 288
				// and 576 rows for a k of 64).
				for p := range kc {
					*(*[8]float32)(panel[p*8:]) = [8]float32(a[base+p*lda:])
				}
			default:
				for p := range kc {
					src := a[base+p*lda : base+p*lda+rows]
					g := panel[p*mr : p*mr+mr]
					copy(g, src)
					clear(g[rows:])
				}
			}
		} else {
			transposeInto(a[(i0+ip)*lda+p0:], lda, rows, kc, panel, mr, ahead)
			for r := rows; r < mr; r++ {
				for p := range kc {
					panel[p*mr+r] = 0
				}
			}
		}
		if alpha != 1 {
			for i := range panel {
				panel[i] *= alpha
			}
		}
	}
}

// transposeInto writes the transpose of the rows x cols matrix src (stride
// lds) into dst (stride ldd): dst[c*ldd+r] = src[r*lds+c]. Whole 8 x 8
// blocks go through the AVX transpose, which prefetches each row ahead
// bytes ahead when ahead > 0; each row is otherwise read whole: rows are
// often a power of two apart, and reading a little of many of them at once
// would make them collide in the caches' sets.
func transposeInto(src []float32, lds, rows, cols int, dst []float32, ldd, ahead int) {
	r0 := 0
	if hasTranspose8() && cols >= 8 {
		blocks := cols / 8
		for ; r0+8 <= rows; r0 += 8 {
			// The asm reads src[r0..r0+8) x [0, 8*blocks) and writes
			// dst[0, 8*blocks) x [r0, r0+8); check both ends first.
			_ = src[(r0+7)*lds+8*blocks-1]
			_ = dst[(8*blocks-1)*ldd+r0+7]
			transpose8(&src[r0*lds], lds, &dst[r0], ldd, blocks, ahead)
		}
		for r := 0; r < r0; r++ {
			for c := 8 * blocks; c < cols; c++ {
				dst[c*ldd+r] = src[r*lds+c]
			}
		}
	}
	for r := r0; r < rows; r++ {
		row := src[r*lds : r*lds+cols]
		for c, v := range row {
			dst[c*ldd+r] = v
		}
	}
}

// packBRows copies kc rows of cols values, ld apart, into one panel of nr
// columns, padded with zeros.
func packBRows(b []float32, ld, kc, cols, nr int, dst []float32) {
	for p := range kc {
		g := dst[p*nr : p*nr+nr]
		copy(g, b[p*ld:p*ld+cols])
		clear(g[cols:])
	}
}

// packB copies the kc x nc block at (p0, j0) of op(B) = B^T into panels of
// nr columns, each stored k-major (kc groups of nr values), the last panel
// padded with zeros. Each column of a panel is a row of B. ahead is passed
// to transposeInto.
func packB(b []float32, ldb, p0, j0, kc, nc, nr int, dst []float32, ahead int) {
	for jp := 0; jp < nc; jp += nr {
		cols := min(nr, nc-jp)
		panel := dst[jp*kc : jp*kc+nr*kc]
		transposeInto(b[(j0+jp)*ldb+p0:], ldb, cols, kc, panel, nr, ahead)
		for j := cols; j < nr; j++ {
			for p := range kc {
				panel[p*nr+j] = 0
			}
		}
	}
}
