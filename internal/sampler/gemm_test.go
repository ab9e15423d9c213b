package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemm32MatchesReference checks the float32 matrix product (vector kernels where the
// CPU has them) against a float64 triple loop, on padded strides and odd row counts.
func TestGemm32MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tc := range []struct{ m, n, k, lda, ldb, ldc int }{
		{31, 32, 31, 31, 32, 32},
		{62, 64, 31, 31, 64, 64},
		{7, 8, 5, 9, 8, 16},
		{5, 40, 13, 13, 48, 40},
		{3, 5, 4, 4, 5, 5},
		{4, 16, 0, 1, 16, 16},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d", tc.m, tc.n, tc.k), func(t *testing.T) {
			a := make([]float32, tc.m*tc.lda)
			b := make([]float32, max(tc.k, 1)*tc.ldb)
			for i := range a {
				a[i] = rng.Float32()*2 - 1
			}
			for i := range b {
				b[i] = rng.Float32()*2 - 1
			}
			c := make([]float32, tc.m*tc.ldc)
			for i := range c {
				c[i] = float32(math.NaN()) // must be overwritten
			}
			gemm32(tc.m, tc.n, tc.k, a, tc.lda, b, tc.ldb, c, tc.ldc)
			plain := make([]float32, len(c))
			gemm(tc.m, tc.n, tc.k, a, tc.lda, b, tc.ldb, plain, tc.ldc) // the fallback
			for i := range tc.m {
				for j := range tc.n {
					var want float64
					for kk := range tc.k {
						want += float64(a[i*tc.lda+kk]) * float64(b[kk*tc.ldb+j])
					}
					if got := c[i*tc.ldc+j]; !(math.Abs(float64(got)-want) <= 1e-5) {
						t.Fatalf("c[%d][%d] = %g, want %g", i, j, got, want)
					}
					if got := plain[i*tc.ldc+j]; !(math.Abs(float64(got)-want) <= 1e-5) {
						t.Fatalf("plain c[%d][%d] = %g, want %g", i, j, got, want)
					}
				}
			}
		})
	}
}
