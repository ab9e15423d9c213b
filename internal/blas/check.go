package blas

import (
	"fmt"
	"math"
)

// naiveGemm is the plain reference: a triple loop accumulating in float64,
// returning a new C.
func naiveGemm[T float32 | float64](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) []T {
	out := append([]T(nil), c...)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				var av, bv T
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			out[i*ldc+j] = T(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
		}
	}
	return out
}

// checkEngine runs a small product with every transpose, a padded leading
// dimension and both beta paths through e and compares it with naiveGemm: a
// library that loads but computes wrongly (a broken build, a kernel the CPU
// mis-runs) is not used.
func checkEngine(e engine) error {
	const m, n, k, pad = 13, 53, 19, 3
	for _, beta := range []float32{0, 0.5} {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				ar, ac := m, k
				if tA {
					ar, ac = k, m
				}
				br, bc := k, n
				if tB {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+pad, bc+pad, n+pad
				a := patterned(ar*lda, 1)
				b := patterned(br*ldb, 2)
				c := patterned(m*ldc, 3)
				if beta == 0 {
					for i := range c {
						c[i] = float32(math.NaN()) // beta = 0 must not read C
					}
				}
				want := naiveGemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
				if beta == 0 {
					// The reference multiplies NaN by 0; the contract is that C is not read.
					ref := append([]float32(nil), c...)
					clear(ref)
					want = naiveGemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, 0, ref, ldc)
				}
				got := append([]float32(nil), c...)
				e.sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, got, ldc)
				for i := range m {
					for j := range n {
						g, w := got[i*ldc+j], want[i*ldc+j]
						if d := math.Abs(float64(g - w)); !(d <= 1e-4*(1+math.Abs(float64(w)))) {
							return fmt.Errorf("%s: sgemm tA=%t tB=%t beta=%g: C[%d,%d] = %g, want %g", e.name(), tA, tB, beta, i, j, g, w)
						}
					}
				}
			}
		}
	}
	return nil
}

// patterned fills n values in [-1, 1) from a fixed integer sequence.
func patterned(n, seed int) []float32 {
	s := make([]float32, n)
	x := uint32(seed)*2654435761 + 1
	for i := range s {
		x = x*1664525 + 1013904223
		s[i] = float32(x>>8)/float32(1<<23) - 1
	}
	return s
}
