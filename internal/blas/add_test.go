package blas

import (
	"math/rand/v2"
	"testing"
)

// TestAddTo checks AddTo against a plain loop for lengths across the vector widths,
// at unaligned offsets, and that nothing past dst is written.
func TestAddTo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 1000} {
		for _, off := range []int{0, 1, 3} {
			dst := randSlice[float32](r, n+off+4)
			src := randSlice[float32](r, n+off)
			want := append([]float32(nil), dst...)
			for i := range n {
				want[off+i] += src[off+i]
			}
			AddTo(dst[off:off+n], src[off:])
			for i := range dst {
				if dst[i] != want[i] {
					t.Fatalf("n %d offset %d: dst[%d] = %v, want %v", n, off, i, dst[i], want[i])
				}
			}
		}
	}
}

func BenchmarkAddTo(b *testing.B) {
	dst, src := make([]float32, 4096), make([]float32, 4096)
	for b.Loop() {
		AddTo(dst, src)
	}
	b.SetBytes(3 * 4 * 4096)
}
