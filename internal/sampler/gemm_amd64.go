package sampler

import "golang.org/x/sys/cpu"

// hasFMA says whether the AVX2 + FMA kernels in gemm_amd64.s can run.
func hasFMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

//go:noescape
func gemm2x32(a *float32, lda int, b *float32, ldb int, k int, c *float32, ldc int)

//go:noescape
func gemm1x8(a *float32, b *float32, ldb int, k int, c *float32)

// gemm32 is gemm for float32, using the vector kernels when the CPU has them and n is a
// multiple of 8 (the generator pads its matrices so that it is).
func gemm32(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if !hasFMA() || n%8 != 0 || m == 0 || n == 0 {
		gemm(m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	// The kernels do no bounds checks: check the extents once here.
	_ = a[(m-1)*lda+k-1]
	_ = b[(k-1)*ldb+n-1]
	_ = c[(m-1)*ldc+n-1]
	i := 0
	for ; i+2 <= m; i += 2 {
		j := 0
		for ; j+32 <= n; j += 32 {
			gemm2x32(&a[i*lda], lda, &b[j], ldb, k, &c[i*ldc+j], ldc)
		}
		for ; j < n; j += 8 {
			gemm1x8(&a[i*lda], &b[j], ldb, k, &c[i*ldc+j])
			gemm1x8(&a[(i+1)*lda], &b[j], ldb, k, &c[(i+1)*ldc+j])
		}
	}
	if i < m {
		for j := 0; j < n; j += 8 {
			gemm1x8(&a[i*lda], &b[j], ldb, k, &c[i*ldc+j])
		}
	}
}
