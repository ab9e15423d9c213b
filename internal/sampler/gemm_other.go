//go:build !amd64

package sampler

func gemm32(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	gemm(m, n, k, a, lda, b, ldb, c, ldc)
}
