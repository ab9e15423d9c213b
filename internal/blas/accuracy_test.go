package blas

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// TestSgemmAccuracy measures every engine's rounding on the products the
// convolutions make per image (forward, column gradient, weight gradient, with
// their transposes), against float64 products of the same float32 inputs. The
// error of each entry is taken relative to the sum of its terms' magnitudes
// (|beta c_ij| + sum_p |a_ip b_pj|), which no summation order can beat by more than K times
// the unit roundoff. The bounds are far below that worst case and a few times the
// errors measured on this project's machine; an engine that loses accuracy, by
// a wrong blocking or an accumulation in lower precision, fails here rather than
// as lost points of accuracy after a training run.
func TestSgemmAccuracy(t *testing.T) {
	// A product with both operands transposed and beta 0.5 besides the convolutions'.
	shapes := append(slices.Clone(imageProducts), product{"both_transposed", true, true, 70, 130, 300, 0.5})
	const (
		maxBound = 1e-6 // worst entry, relative to its terms' magnitudes
		rmsBound = 1e-7 // root mean square over the product
	)
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range shapes {
		ar, ac, br, bc := operands(s.tA, s.tB, s.m, s.n, s.k)
		a, b, c0 := randSlice[float32](r, ar*ac), randSlice[float32](r, br*bc), randSlice[float32](r, s.m*s.n)
		at := func(i, p int) float64 {
			if s.tA {
				return float64(a[p*ac+i])
			}
			return float64(a[i*ac+p])
		}
		bt := func(p, j int) float64 {
			if s.tB {
				return float64(b[j*bc+p])
			}
			return float64(b[p*bc+j])
		}
		exact := make([]float64, s.m*s.n)
		scale := make([]float64, s.m*s.n)
		for i := range s.m {
			for j := range s.n {
				c := float64(s.beta) * float64(c0[i*s.n+j])
				sum, mag := c, math.Abs(c)
				for p := range s.k {
					x := at(i, p) * bt(p, j)
					sum += x
					mag += math.Abs(x)
				}
				exact[i*s.n+j], scale[i*s.n+j] = sum, mag
			}
		}
		for name, e := range engines(t) {
			c := append([]float32(nil), c0...)
			e.sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, ac, b, bc, s.beta, c, s.n)
			errs := make([]float64, len(c))
			var sq float64
			for i := range c {
				errs[i] = math.Abs(float64(c[i])-exact[i]) / scale[i]
				sq += errs[i] * errs[i]
			}
			sort.Float64s(errs)
			worst, rms := errs[len(errs)-1], math.Sqrt(sq/float64(len(errs)))
			t.Logf("%-16s %-14s worst %.2e  rms %.2e", s.name, name, worst, rms)
			if !(worst <= maxBound) || !(rms <= rmsBound) {
				t.Errorf("%s on %s: worst relative error %.2e (bound %.0e), rms %.2e (bound %.0e)", s.name, name, worst, maxBound, rms, rmsBound)
			}
		}
	}
}
