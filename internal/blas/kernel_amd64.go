package blas

import "golang.org/x/sys/cpu"

// The micro-kernels compute one mr x nr tile of C from a packed A panel (kc
// groups of mr values) and a packed B panel (kc groups of nr values), with C
// row-major at stride ldc (in elements): C = alpha*A*B, plus beta*C when load
// is non-zero (so that beta = 0 never reads C). Vectors run along the rows
// of C, the values of A are broadcast.
//
// AVX-512: 8 x 48, 24 zmm accumulators, 3 zmm of B per k step.
// AVX2+FMA: 6 x 16, 12 ymm accumulators, 2 ymm of B per k step.

//go:noescape
func kernelAVX512x8x48(kc int, a, b, c *float32, ldc int, alpha, beta float32, load int)

//go:noescape
func kernelAVX2x6x16(kc int, a, b, c *float32, ldc int, alpha, beta float32, load int)

// hostFeatures reads the CPU's features (x/sys/cpu has checked that the OS
// saves the vector registers).
func hostFeatures() features {
	return features{
		avx2:       cpu.X86.HasAVX2,
		fma:        cpu.X86.HasFMA,
		avx512f:    cpu.X86.HasAVX512F,
		avx512dq:   cpu.X86.HasAVX512DQ,
		avx512bw:   cpu.X86.HasAVX512BW,
		avx512vl:   cpu.X86.HasAVX512VL,
		avx512bf16: cpu.X86.HasAVX512BF16,
	}
}

// microKernels lists the kernels this build has, best first, for CPUs with
// the features f.
func microKernels(f features) []microKernel {
	var ks []microKernel
	if f.avx512f && f.fma {
		ks = append(ks, microKernel{name: "avx512 8x48", mr: 8, nr: 48, mc: 128, kc: 256, nc: 480, fn: kernelAVX512x8x48})
	}
	if f.avx2 && f.fma {
		ks = append(ks, microKernel{name: "avx2 6x16", mr: 6, nr: 16, mc: 120, kc: 256, nc: 480, fn: kernelAVX2x6x16})
	}
	return ks
}
