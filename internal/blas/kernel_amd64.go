package blas

//go:generate go run gen_kernels.go

import "golang.org/x/sys/cpu"

// The micro-kernels compute one mr x nr tile of C from a packed A panel (kc
// groups of mr values) and a B panel of kc rows of nr values, ldb elements
// apart (packed, or B itself when it is not transposed), with C row-major at
// stride ldc: C = A*B, plus beta*C when load is non-zero (so that
// beta = 0 never reads C). Vectors run along the rows of C, the values of A
// are broadcast. alpha is applied when A is packed.
//
// AVX-512: 8 x 48, 24 zmm accumulators, 3 zmm of B per k step.
// AVX2+FMA: 6 x 16, 12 ymm accumulators, 2 ymm of B per k step.

//go:noescape
func kernelAVX512x8x48(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

//go:noescape
func kernelAVX512x8x16(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

//go:noescape
func kernelAVX512x8x32(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

//go:noescape
func kernelAVX2x6x8(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

//go:noescape
func kernelAVX512x8x48Pack(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int, bp *float32)

//go:noescape
func kernelAVX2x6x16Pack(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int, bp *float32)

//go:noescape
func kernelAVX2x6x16(kc int, a, b *float32, ldb int, c *float32, ldc int, beta float32, load int)

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
		amd:        isAMD(),
	}
}

// cpuidVendor returns CPUID leaf 0's vendor string, four bytes per register.
//
//go:noescape
func cpuidVendor() (ebx, edx, ecx uint32)

// isAMD reports an AMD (or Hygon, the same cores) CPU.
func isAMD() bool {
	b, d, c := cpuidVendor()
	var v [12]byte
	for i, r := range [3]uint32{b, d, c} {
		v[4*i], v[4*i+1], v[4*i+2], v[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	}
	s := string(v[:])
	return s == "AuthenticAMD" || s == "HygonGenuine"
}

// microKernels lists the kernels this build has, best first, for CPUs with
// the features f.
func microKernels(f features) []microKernel {
	var ks []microKernel
	if f.avx512f && f.fma {
		ks = append(ks, microKernel{name: "avx512 8x48", mr: 8, nr: 48, mc: 128, kc: 384, nc: 336, aheadBytes: 4 << 20, fn: kernelAVX512x8x48, fnPack: kernelAVX512x8x48Pack,
			vec: 16, edge: []kernelFunc{kernelAVX512x8x16, kernelAVX512x8x32}})
	}
	if f.avx2 && f.fma {
		ks = append(ks, microKernel{name: "avx2 6x16", mr: 6, nr: 16, mc: 120, kc: 256, nc: 480, aheadBytes: 4 << 20, fn: kernelAVX2x6x16, fnPack: kernelAVX2x6x16Pack,
			vec: 8, edge: []kernelFunc{kernelAVX2x6x8}})
	}
	return ks
}

// addChain runs n x 8 dependent one-cycle adds and returns 8n; the
// benchmarks use it to measure the clock.
//
//go:noescape
func addChain(n int) int

// transpose8 writes the transposes of blocks 8 x 8 blocks of src, side by
// side along its rows, to dst, one under the other: dst[c*ldd+r] =
// src[r*lds+c] for r < 8, c < 8*blocks (AVX). With ahead > 0 it prefetches
// each row of src ahead bytes ahead into L2.
//
//go:noescape
func transpose8(src *float32, lds int, dst *float32, ldd int, blocks int, ahead int)

// hasTranspose8 reports whether transpose8 can run (AVX, implied by the
// kernels' AVX2).
func hasTranspose8() bool { return cpu.X86.HasAVX2 }
