package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// nativeEngines returns a native engine for every micro-kernel this CPU can
// run; the tests that need one skip, saying so, where there is none.
func nativeEngines(t testing.TB) []*nativeEngine {
	t.Helper()
	var es []*nativeEngine
	for _, k := range microKernels(hostFeatures()) {
		es = append(es, newNative(k))
	}
	if len(es) == 0 {
		t.Skipf("no native micro-kernel for this CPU (%s)", hostFeatures())
	}
	return es
}

// TestMicroKernel runs each assembly kernel (and its narrower edge
// variants) alone on packed panels against a plain loop, for k from 1 to
// past the unrolling, with and without C loaded.
func TestMicroKernel(t *testing.T) {
	type variant struct {
		name   string
		mr, nr int
		fn     kernelFunc
	}
	var vs []variant
	for _, e := range nativeEngines(t) {
		vs = append(vs, variant{e.k.name, e.k.mr, e.k.nr, e.k.fn})
		for i, fn := range e.k.edge {
			vs = append(vs, variant{fmt.Sprintf("%s edge %d", e.k.name, (i+1)*e.k.vec), e.k.mr, (i + 1) * e.k.vec, fn})
		}
	}
	for _, e := range vs {
		mr, nr := e.mr, e.nr
		for _, kc := range []int{1, 2, 3, 4, 7, 64, 257} {
			for _, load := range []int{0, 1} {
				r := rand.New(rand.NewPCG(uint64(kc), uint64(load)))
				a := randSlice[float32](r, mr*kc)
				b := randSlice[float32](r, nr*kc)
				const ldc = 61 // odd, wider than any tile
				c := randSlice[float32](r, mr*ldc)
				want := append([]float32(nil), c...)
				const alpha, beta = 1, -1.25 // alpha is applied in packing
				for i := range mr {
					for j := range nr {
						var s float64
						for p := range kc {
							s += float64(a[p*mr+i]) * float64(b[p*nr+j])
						}
						v := alpha * s
						if load != 0 {
							v += beta * float64(c[i*ldc+j])
						}
						want[i*ldc+j] = float32(v)
					}
				}
				e.fn(kc, &a[0], &b[0], nr, &c[0], ldc, beta, load)
				name := fmt.Sprintf("%s/kc=%d/load=%d", e.name, kc, load)
				compare(t, name, c, want, want, mr, nr, ldc, 1e-5)
			}
		}
	}
}

// TestNativeBlocking covers shapes that cross every blocking boundary (mc,
// kc, nc and the tile edges), slices that start off any alignment, and
// beta = 0 with NaN in C, which must not be read. Each kernel also runs
// with tiny blocks, which cross the boundaries at small (fast) sizes; -short
// keeps only those.
func TestNativeBlocking(t *testing.T) {
	var es []*nativeEngine
	for _, e := range nativeEngines(t) {
		tiny := e.k
		tiny.name += " tiny blocks"
		tiny.mc, tiny.kc, tiny.nc = 2*tiny.mr, 9, 2*tiny.nr
		tiny.aheadBytes = 0 // the packing's prefetching path too
		es = append(es, newNative(tiny))
		if !testing.Short() {
			es = append(es, e)
		}
	}
	for _, e := range es {
		k := e.k
		shapes := []struct{ m, n, k int }{
			{k.mc + 1, k.nc + k.nr + 1, k.kc + 1},
			{k.mr - 1, k.nr + 1, 2*k.kc + 3},
			{2*k.mc + k.mr + 1, 2*k.nc - 1, 5},
			{1, 2*k.nc + 1, 1},
			{k.mc, k.nc, k.kc},
			// Right edges of exactly one and two vectors, and between.
			{2 * k.mr, k.vec, 7},
			{k.mr + 3, k.nr + 2*k.vec, 9},
			{k.mr, 2*k.nr + k.vec + 3, 11},
		}
		for _, s := range shapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, beta := range []float32{0, 1, -0.5} {
						name := fmt.Sprintf("%s/%dx%dx%d/tA=%t/tB=%t/beta=%g", k.name, s.m, s.n, s.k, tA, tB, beta)
						t.Run(name, func(t *testing.T) { checkNative(t, e, s.m, s.n, s.k, tA, tB, beta) })
					}
				}
			}
		}
	}
}

func checkNative(t *testing.T, e *nativeEngine, m, n, k int, tA, tB bool, beta float32) {
	r := rand.New(rand.NewPCG(uint64(m*n), uint64(k)))
	ar, ac, br, bc := operands(tA, tB, m, n, k)
	lda, ldb, ldc := ac+1, bc+3, n+2
	// Offsets of 1-3 elements put every matrix off the 64-byte alignment.
	a := randSlice[float32](r, ar*lda+1)[1:]
	b := randSlice[float32](r, br*ldb+3)[3:]
	c := randSlice[float32](r, m*ldc+2)[2:]
	ref := append([]float32(nil), c...)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want := naiveGemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, ref, ldc)
	e.sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
	// Padding keeps its original (NaN, for beta = 0) values.
	for i := range m {
		for j := n; j < ldc && i*ldc+j < len(c); j++ {
			want[i*ldc+j] = orig[i*ldc+j]
		}
	}
	compareNaN(t, c, want, m, n, ldc, 1e-4)
}

// compareNaN is compare for a C whose padding may hold NaN.
func compareNaN(t *testing.T, got, want []float32, m, n, ldc int, tol float64) {
	t.Helper()
	for i := range m {
		for j := range ldc {
			idx := i*ldc + j
			if idx >= len(got) {
				break
			}
			g, w := float64(got[idx]), float64(want[idx])
			if j >= n {
				if !(g == w || math.IsNaN(g) && math.IsNaN(w)) {
					t.Fatalf("padding C[%d,%d] = %v, want untouched %v", i, j, g, w)
				}
				continue
			}
			if !(math.Abs(g-w) <= tol*(1+math.Abs(w))) {
				t.Fatalf("C[%d,%d] = %v, want %v", i, j, g, w)
			}
		}
	}
}

// TestNativeConcurrent calls one engine from several goroutines at once, as
// the convolution workers do; run it under -race.
func TestNativeConcurrent(t *testing.T) {
	for _, e := range nativeEngines(t) {
		const m, n, k, workers = 37, 301, 45, 4
		r := rand.New(rand.NewPCG(7, 8))
		a := randSlice[float32](r, m*k)
		var wg sync.WaitGroup
		errs := make([]string, workers)
		for w := range workers {
			b := randSlice[float32](r, k*n)
			wg.Go(func() {
				want := naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, make([]float32, m*n), n)
				for range 5 {
					c := make([]float32, m*n)
					e.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
					for i := range c {
						if math.Abs(float64(c[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
							errs[w] = fmt.Sprintf("worker %d: C[%d] = %v, want %v", w, i, c[i], want[i])
							return
						}
					}
				}
			})
		}
		wg.Wait()
		if msg := strings.Join(errs, ""); msg != "" {
			t.Errorf("%s: %s", e.k.name, msg)
		}
	}
}

// TestNativeNoAlloc checks that a call in steady state allocates nothing:
// the packing buffers come back from the pool.
func TestNativeNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled buffers on purpose")
	}
	for _, e := range nativeEngines(t) {
		const m, n, k = 64, 1000, 300
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		e.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		if got := testing.AllocsPerRun(10, func() { e.sgemm(false, true, m, n, k, 1, a, k, b, k, 1, c, n) }); got > 0 {
			t.Errorf("%s: %v allocations per call, want 0", e.k.name, got)
		}
	}
}

// TestTransposeInto checks the packing transpose, whose whole 8 x 8 blocks
// run in assembly, against the definition on sizes around the block.
func TestTransposeInto(t *testing.T) {
	for _, rows := range []int{1, 7, 8, 9, 16, 23} {
		for _, cols := range []int{1, 7, 8, 9, 17, 40} {
			for _, ahead := range []int{0, 1024} {
				lds, ldd := cols+3, rows+5
				src := patterned(rows*lds, rows+cols)
				dst := patterned(cols*ldd, 9)
				want := append([]float32(nil), dst...)
				for r := range rows {
					for c := range cols {
						want[c*ldd+r] = src[r*lds+c]
					}
				}
				transposeInto(src, lds, rows, cols, dst, ldd, ahead)
				for i := range want {
					if dst[i] != want[i] {
						t.Fatalf("%dx%d ahead %d: dst[%d] = %v, want %v", rows, cols, ahead, i, dst[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkMicroKernel runs each micro-kernel (and its narrower edge
// variants) alone on packed panels that stay in cache: the ceiling of the
// native SGEMM.
func BenchmarkMicroKernel(b *testing.B) {
	for _, e := range nativeEngines(b) {
		k := e.k
		fns := []kernelFunc{k.fn}
		widths := []int{k.nr}
		for i, fn := range k.edge {
			fns, widths = append(fns, fn), append(widths, (i+1)*k.vec)
		}
		for i, fn := range fns {
			nr := widths[i]
			name := strings.ReplaceAll(k.name, " ", "_")
			if nr != k.nr {
				name += fmt.Sprintf("_edge%d", nr)
			}
			b.Run(name, func(b *testing.B) {
				const kc = 256
				pa, pb := aligned(k.mr*kc), aligned(nr*kc)
				copy(pa, patterned(len(pa), 1))
				copy(pb, patterned(len(pb), 2))
				c := aligned(k.mr * nr)
				m := startFlops(b)
				for b.Loop() {
					fn(kc, &pa[0], &pb[0], nr, &c[0], nr, 1, 1)
				}
				m.report(2 * float64(k.mr*nr*kc))
			})
		}
	}
}
