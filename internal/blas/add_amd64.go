package blas

import "golang.org/x/sys/cpu"

//go:noescape
func addAVX2(dst, src *float32, n int)

// hasVectorAdd reports whether addAVX2 can run.
func hasVectorAdd() bool { return cpu.X86.HasAVX2 }

//go:noescape
func add2DAVX2(dst, src *float32, rows, cols, dstStride, srcStride int)

//go:noescape
func copy2DAVX2(dst, src *float32, rows, cols, dstStride, srcStride int)

//go:noescape
func sum8AVX2(v *float32, n int, out *[8]float32)
