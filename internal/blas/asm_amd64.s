// Helpers of the native SGEMM and its benchmarks, written by hand.

#include "textflag.h"

// func addChain(n int) int
// addChain runs n iterations of 8 dependent one-cycle adds: the benchmarks
// time it to measure the core's clock, which /proc/cpuinfo does not report
// under boost or in a virtual machine.
TEXT ·addChain(SB), NOSPLIT, $0-16
	MOVQ n+0(FP), CX
	XORQ AX, AX
chain:
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	ADDQ $1, AX
	DECQ CX
	JNZ chain
	MOVQ AX, ret+8(FP)
	RET

// TRANSPOSE8 writes the transpose of the 8 x 8 block at SI (rows AX bytes
// apart, R8 = 3*AX) to DI (rows BX bytes apart, R9 = 3*BX), through
// Y0-Y15, R10 and R11.
#define TRANSPOSE8 \
	MOVQ SI, R10; \
	VMOVUPS (R10), Y0; \
	VMOVUPS (R10)(AX*1), Y1; \
	VMOVUPS (R10)(AX*2), Y2; \
	VMOVUPS (R10)(R8*1), Y3; \
	LEAQ (R10)(AX*4), R10; \
	VMOVUPS (R10), Y4; \
	VMOVUPS (R10)(AX*1), Y5; \
	VMOVUPS (R10)(AX*2), Y6; \
	VMOVUPS (R10)(R8*1), Y7; \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y15; \
	VSHUFPS $0x44, Y10, Y8, Y0; \
	VSHUFPS $0xEE, Y10, Y8, Y1; \
	VSHUFPS $0x44, Y11, Y9, Y2; \
	VSHUFPS $0xEE, Y11, Y9, Y3; \
	VSHUFPS $0x44, Y14, Y12, Y4; \
	VSHUFPS $0xEE, Y14, Y12, Y5; \
	VSHUFPS $0x44, Y15, Y13, Y6; \
	VSHUFPS $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15; \
	MOVQ DI, R11; \
	VMOVUPS Y8, (R11); \
	VMOVUPS Y9, (R11)(BX*1); \
	VMOVUPS Y10, (R11)(BX*2); \
	VMOVUPS Y11, (R11)(R9*1); \
	LEAQ (R11)(BX*4), R11; \
	VMOVUPS Y12, (R11); \
	VMOVUPS Y13, (R11)(BX*1); \
	VMOVUPS Y14, (R11)(BX*2); \
	VMOVUPS Y15, (R11)(R9*1)

// func transpose8(src *float32, lds int, dst *float32, ldd int, blocks int, ahead int)
// transpose8 writes the transposes of blocks 8 x 8 blocks of src, side by
// side along its rows, to dst, one under the other: dst[c*ldd + r] =
// src[r*lds + c] for r < 8 and c < 8*blocks. Strides are in floats. With
// ahead > 0 it also prefetches each row ahead bytes ahead, into L2.
TEXT ·transpose8(SB), NOSPLIT, $0-48
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), AX
	SHLQ $2, AX
	MOVQ dst+16(FP), DI
	MOVQ ldd+24(FP), BX
	SHLQ $2, BX
	MOVQ blocks+32(FP), CX
	MOVQ ahead+40(FP), DX
	LEAQ (AX)(AX*2), R8 // 3 rows
	LEAQ (BX)(BX*2), R9
	TESTQ CX, CX
	JZ tdone
	TESTQ DX, DX
	JNZ ploop
tloop:
	TRANSPOSE8
	ADDQ $32, SI
	LEAQ (DI)(BX*8), DI
	DECQ CX
	JNZ tloop
	JMP tdone
ploop:
	LEAQ (SI)(DX*1), R12
	PREFETCHT2 (R12)
	PREFETCHT2 (R12)(AX*1)
	PREFETCHT2 (R12)(AX*2)
	PREFETCHT2 (R12)(R8*1)
	LEAQ (R12)(AX*4), R12
	PREFETCHT2 (R12)
	PREFETCHT2 (R12)(AX*1)
	PREFETCHT2 (R12)(AX*2)
	PREFETCHT2 (R12)(R8*1)
	TRANSPOSE8
	ADDQ $32, SI
	LEAQ (DI)(BX*8), DI
	DECQ CX
	JNZ ploop
tdone:
	VZEROUPPER
	RET

// func cpuidVendor() (ebx, edx, ecx uint32)
// cpuidVendor returns the vendor string of CPUID leaf 0 in its three registers.
TEXT ·cpuidVendor(SB), NOSPLIT, $0-12
	XORL AX, AX
	XORL CX, CX
	CPUID
	MOVL BX, ebx+0(FP)
	MOVL DX, edx+4(FP)
	MOVL CX, ecx+8(FP)
	RET
