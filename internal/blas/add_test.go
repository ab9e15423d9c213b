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

// TestBlock2D checks AddTo2D and Copy2D against plain loops on blocks whose rows cross the
// vector widths, with strides longer than a row, and that nothing outside the block
// is written.
func TestBlock2D(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ rows, cols, dstStride, srcStride int }{
		{0, 5, 5, 5}, {3, 0, 4, 4}, {1, 1, 1, 1}, {2, 3, 3, 3}, {4, 7, 9, 8},
		{3, 15, 16, 15}, {5, 31, 32, 31}, {2, 32, 32, 40}, {7, 33, 35, 33}, {3, 64, 64, 64},
	} {
		for _, op := range []struct {
			name string
			fn   func(dst []float32, dstStride int, src []float32, srcStride, rows, cols int)
			ref  func(d, s float32) float32
		}{
			{"AddTo2D", AddTo2D, func(d, s float32) float32 { return d + s }},
			{"Copy2D", Copy2D, func(_, s float32) float32 { return s }},
		} {
			dst := randSlice[float32](r, tc.rows*tc.dstStride+3)
			src := randSlice[float32](r, tc.rows*tc.srcStride+3)
			want := append([]float32(nil), dst...)
			for y := range tc.rows {
				for i := range tc.cols {
					at := 1 + y*tc.dstStride + i
					want[at] = op.ref(want[at], src[2+y*tc.srcStride+i])
				}
			}
			op.fn(dst[1:], tc.dstStride, src[2:], tc.srcStride, tc.rows, tc.cols)
			for i := range dst {
				if dst[i] != want[i] {
					t.Fatalf("%s %+v: dst[%d] = %v, want %v", op.name, tc, i, dst[i], want[i])
				}
			}
		}
	}
}

// TestSum checks Sum against a float64 loop for lengths across the vector widths and
// at unaligned offsets; float32 partial sums of values in [-1, 1) stay within 1e-5 of
// it relative to the length.
func TestSum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 31, 32, 33, 100, 1024, 4099} {
		for _, off := range []int{0, 1} {
			v := randSlice[float32](r, n+off)[off:]
			var want float64
			for _, x := range v {
				want += float64(x)
			}
			got := Sum(v)
			if d := got - want; d > 1e-5*float64(max(n, 1)) || -d > 1e-5*float64(max(n, 1)) {
				t.Errorf("n %d offset %d: Sum = %v, want %v", n, off, got, want)
			}
		}
	}
}
