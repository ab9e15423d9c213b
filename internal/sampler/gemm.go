package sampler

import "zoomtrain/internal/opkit"

// The generator's products have their own small GEMM (this loop, and the AVX2 kernels of
// gemm_amd64.s for float32) rather than going through internal/blas, for two reasons
// measured on 32 maps of 31 x 31: it is no slower (forward + backward, GOMAXPROCS=1,
// eight interleaved runs: median about 0.70 ms here against 0.82 ms through OpenBLAS),
// and its results do not depend on the BLAS installed. OpenBLAS gives the float32 grids
// of the vector kernels bit for bit but not the float64 ones of the plain loop; gonum
// the reverse. Through internal/blas, a trained model would change with the library.

// gemm sets c = a b for row-major a (m x k, row stride lda), b (k x n, stride ldb) and
// c (m x n, stride ldc). The matrices here are at most a few hundred wide, so a plain
// loop in i-k-j order (unit stride on b and c) is enough; four rows of c at a time share
// each load of a row of b.
func gemm[T opkit.Float](m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	i := 0
	for ; i+4 <= m; i += 4 {
		c0 := c[i*ldc : i*ldc+n]
		c1 := c[(i+1)*ldc : (i+1)*ldc+n]
		c2 := c[(i+2)*ldc : (i+2)*ldc+n]
		c3 := c[(i+3)*ldc : (i+3)*ldc+n]
		clear(c0)
		clear(c1)
		clear(c2)
		clear(c3)
		a0 := a[i*lda : i*lda+k]
		a1 := a[(i+1)*lda : (i+1)*lda+k]
		a2 := a[(i+2)*lda : (i+2)*lda+k]
		a3 := a[(i+3)*lda : (i+3)*lda+k]
		for kk := range a0 {
			v0, v1, v2, v3 := a0[kk], a1[kk], a2[kk], a3[kk]
			bk := b[kk*ldb : kk*ldb+n]
			c0, c1, c2, c3 := c0[:len(bk)], c1[:len(bk)], c2[:len(bk)], c3[:len(bk)]
			for j, bv := range bk {
				c0[j] += v0 * bv
				c1[j] += v1 * bv
				c2[j] += v2 * bv
				c3[j] += v3 * bv
			}
		}
	}
	for ; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		clear(ci)
		for kk, av := range a[i*lda : i*lda+k] {
			bk := b[kk*ldb : kk*ldb+n]
			ci := ci[:len(bk)]
			for j, bv := range bk {
				ci[j] += av * bv
			}
		}
	}
}
