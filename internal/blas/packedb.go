package blas

import "fmt"

// BPacker writes part of a k x n matrix B, rows [p0, p0+kc) and columns [j0, j0+nc),
// into dst as panels of nr columns, one after the other: panel q holds columns
// j0+q*nr ..., stored k-major (kc groups of nr values, dst[q*nr*kc + p*nr + j] =
// B[p0+p][j0+q*nr+j]), the columns past nc zero. dst holds ceil(nc/nr)*nr*kc values.
// It lets a caller whose B is a function of other data (a convolution's im2col matrix
// of an image) hand the GEMM its panels without building B. (An interface rather than
// a func, so that a caller can reuse one packer without allocating per call.)
type BPacker interface {
	PackB(p0, j0, kc, nc, nr int, dst []float32)
}

// PacksB reports whether the engine in use takes B from a BPacker (SgemmPackB).
func PacksB() bool {
	s, err := resolved()
	if err != nil {
		return false
	}
	_, ok := s.engine.(*nativeEngine)
	return ok
}

// SgemmPackB computes C = alpha * op(A) * B + beta * C like Sgemm, with B (k x n)
// given by pack, when the engine in use packs B itself (the native one). It returns
// false, having done nothing, for an engine that takes B only as a matrix: the caller
// then builds B and calls Sgemm.
func SgemmPackB(tA bool, m, n, k int, alpha float32, a []float32, lda int, pack BPacker, beta float32, c []float32, ldc int) (bool, error) {
	s, err := resolved()
	if err != nil {
		return false, fmt.Errorf("sgemm: %w", err)
	}
	// B is the packer's to get right: the rest is checked as Sgemm checks it, with
	// the length of a B that would fit.
	if err := checkGemm(tA, false, m, n, k, len(a), lda, max(k-1, 0)*max(n, 1)+n, max(n, 1), len(c), ldc); err != nil {
		return false, fmt.Errorf("sgemm: %w", err)
	}
	if pack == nil {
		return false, fmt.Errorf("sgemm: no B packer")
	}
	e, ok := s.engine.(*nativeEngine)
	if !ok {
		return false, nil
	}
	if m == 0 || n == 0 {
		return true, nil
	}
	if k == 0 {
		scaleRows(m, n, beta, c, ldc)
		return true, nil
	}
	e.sgemmPackB(tA, m, n, k, alpha, a, lda, pack, beta, c, ldc)
	return true, nil
}

// sgemmPackB is sgemm's loop nest with op(B) packed by the caller's pack.
func (e *nativeEngine) sgemmPackB(tA bool, m, n, k int, alpha float32, a []float32, lda int, pack BPacker, beta float32, c []float32, ldc int) {
	mk := &e.k
	ws := e.pool.Get().(*workspace)
	defer e.pool.Put(ws)
	kcMax := ceilDiv(k, ceilDiv(k, mk.kc))
	for jc := 0; jc < n; jc += mk.nc {
		nc := min(mk.nc, n-jc)
		for pc := 0; pc < k; pc += kcMax {
			kc := min(kcMax, k-pc)
			pack.PackB(pc, jc, kc, nc, mk.nr, ws.b[:roundUp(nc, mk.nr)*kc])
			blk := block{kc: kc, nc: nc, beta: beta}
			if pc > 0 {
				blk.beta, blk.load = 1, 1
			} else if beta != 0 {
				blk.load = 1
			}
			for ic := 0; ic < m; ic += mk.mc {
				blk.mc = min(mk.mc, m-ic)
				packA(tA, alpha, a, lda, ic, pc, blk.mc, kc, mk.mr, ws.a)
				e.macroKernel(&blk, ws, c[ic*ldc+jc:], ldc)
			}
		}
	}
}
