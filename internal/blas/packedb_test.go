package blas

import (
	"math/rand/v2"
	"testing"
)

// matrixPacker is the BPacker of a row-major k x n matrix b: the plain panel layout.
type matrixPacker struct {
	b []float32
	n int
}

func (mp matrixPacker) PackB(p0, j0, kc, nc, nr int, dst []float32) {
	for q := 0; q*nr < nc; q++ {
		for p := range kc {
			for j := range nr {
				v := float32(0)
				if col := q*nr + j; col < nc {
					v = mp.b[(p0+p)*mp.n+j0+col]
				}
				dst[q*nr*kc+p*nr+j] = v
			}
		}
	}
}

func packFrom(b []float32, n int) BPacker { return matrixPacker{b, n} }

// TestSgemmPackB checks the packed-B product against the plain reference on shapes
// that cross every blocking edge, both A layouts, with and without beta.
func TestSgemmPackB(t *testing.T) {
	for _, e := range nativeEngines(t) {
		mk := e.k
		for _, s := range []struct{ m, n, k int }{
			{1, 1, 1}, {7, 5, 3}, {mk.mr, mk.nr, 27}, {mk.mr + 1, mk.nr + 1, mk.kc + 1},
			{32, 4096, 27}, {mk.mc + 3, mk.nc + 5, 2*mk.kc + 7},
		} {
			for _, tA := range []bool{false, true} {
				for _, beta := range []float32{0, 0.5} {
					r := rand.New(rand.NewPCG(uint64(s.m*s.n), uint64(s.k)))
					lda := s.k
					if tA {
						lda = s.m
					}
					a := randSlice[float32](r, s.m*s.k)
					b := randSlice[float32](r, s.k*s.n)
					c := randSlice[float32](r, s.m*s.n)
					want := append([]float32(nil), c...)
					got := append([]float32(nil), c...)
					const alpha = 1.5
					for i := range s.m {
						for j := range s.n {
							var acc float64
							for p := range s.k {
								var av float32
								if tA {
									av = a[p*lda+i]
								} else {
									av = a[i*lda+p]
								}
								acc += float64(av) * float64(b[p*s.n+j])
							}
							want[i*s.n+j] = float32(alpha*acc) + beta*c[i*s.n+j]
						}
					}
					e.sgemmPackB(tA, s.m, s.n, s.k, alpha, a, lda, packFrom(b, s.n), beta, got, s.n)
					compare(t, mk.name, got, want, c, s.m, s.n, s.n, 1e-4*float64(s.k))
				}
			}
		}
	}
}

// TestPublicSgemmPackB checks the exported entry: its answer where the engine packs B,
// false and C untouched where it does not, and its argument checks.
func TestPublicSgemmPackB(t *testing.T) {
	const m, n, k = 5, 9, 4
	r := rand.New(rand.NewPCG(1, 2))
	a, b := randSlice[float32](r, m*k), randSlice[float32](r, k*n)
	want := make([]float32, m*n)
	if err := Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, m*n)
	ok, err := SgemmPackB(false, m, n, k, 1, a, k, packFrom(b, n), 0, got, n)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := Info()
	if ok != (info.Engine == "native") || ok != PacksB() {
		t.Errorf("engine %s: SgemmPackB reported %v", info.Engine, ok)
	}
	if ok {
		compare(t, "public", got, want, make([]float32, m*n), m, n, n, 1e-5)
	} else {
		for _, v := range got {
			if v != 0 {
				t.Fatalf("an engine without packed B wrote C")
			}
		}
	}
	if _, err := SgemmPackB(false, m, n, k, 1, a[:3], k, packFrom(b, n), 0, got, n); err == nil {
		t.Error("a short A was accepted")
	}
	if _, err := SgemmPackB(false, m, n, k, 1, a, k, packFrom(b, n), 0, got[:n], n); err == nil {
		t.Error("a short C was accepted")
	}
}
