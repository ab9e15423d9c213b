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
