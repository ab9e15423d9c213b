package blas

// AddTo adds src to dst element by element: dst[i] += src[i] for i < len(dst), with
// AVX2 where the CPU has it. src must be at least as long as dst. It is the inner loop
// of a convolution's col2im, which the compiler leaves scalar.
func AddTo(dst, src []float32) {
	src = src[:len(dst)]
	if len(dst) >= 8 && hasVectorAdd() {
		addAVX2(&dst[0], &src[0], len(dst))
		return
	}
	for i := range dst {
		dst[i] += src[i]
	}
}

// AddTo2D adds a rows x cols block of src to one of dst, each stored row after row with
// its own stride (in elements): dst[r*dstStride+i] += src[r*srcStride+i]. It is one
// call for a whole kernel tap of a convolution's col2im, whose rows are too short for
// a call each. Strides are at least cols; a block that does not fit panics as an index
// out of range does.
func AddTo2D(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	// Both blocks' last elements must be in range (the strides are at least cols).
	_ = dst[(rows-1)*dstStride+cols-1]
	_ = src[(rows-1)*srcStride+cols-1]
	if hasVectorAdd() {
		add2DAVX2(&dst[0], &src[0], rows, cols, dstStride, srcStride)
		return
	}
	for r := range rows {
		d := dst[r*dstStride : r*dstStride+cols]
		s := src[r*srcStride : r*srcStride+cols]
		for i := range d {
			d[i] += s[i]
		}
	}
}

// Copy2D copies a rows x cols block of src onto one of dst, strided as in AddTo2D:
// dst[r*dstStride+i] = src[r*srcStride+i]. It is one call for a kernel tap of a
// convolution's im2col at stride 1.
func Copy2D(dst []float32, dstStride int, src []float32, srcStride int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	_ = dst[(rows-1)*dstStride+cols-1]
	_ = src[(rows-1)*srcStride+cols-1]
	if hasVectorAdd() {
		copy2DAVX2(&dst[0], &src[0], rows, cols, dstStride, srcStride)
		return
	}
	for r := range rows {
		copy(dst[r*dstStride:r*dstStride+cols], src[r*srcStride:r*srcStride+cols])
	}
}

// Sum returns the sum of v, in float64: with AVX2, 32 float32 partial sums
// (each of every 32nd element), added up in float64 with the tail; else four
// float32 partial sums. The order is fixed by len(v), so the result is the same run
// to run. It is a convolution's bias gradient, one feature map at a time.
func Sum(v []float32) float64 {
	var s float64
	n := len(v) &^ 7
	if n > 0 && hasVectorAdd() {
		var lanes [8]float32
		sum8AVX2(&v[0], n, &lanes)
		for _, x := range lanes {
			s += float64(x)
		}
		v = v[n:]
	}
	var a0, a1, a2, a3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a0 += v[i]
		a1 += v[i+1]
		a2 += v[i+2]
		a3 += v[i+3]
	}
	s += float64(a0) + float64(a1) + float64(a2) + float64(a3)
	for ; i < len(v); i++ {
		s += float64(v[i])
	}
	return s
}
