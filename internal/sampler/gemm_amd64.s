#include "textflag.h"

// func gemm2x32(a *float32, lda int, b *float32, ldb int, k int, c *float32, ldc int)
// Two rows of c, 32 columns: c[r][0:32] = sum_kk a[r*lda+kk] * b[kk*ldb : kk*ldb+32].
TEXT ·gemm2x32(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), SI
	MOVQ lda+8(FP), R9
	SHLQ $2, R9
	LEAQ (SI)(R9*1), R10
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), DX
	SHLQ $2, DX
	MOVQ k+32(FP), CX
	MOVQ c+40(FP), R8
	MOVQ ldc+48(FP), R11
	SHLQ $2, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JE    store2

loop2:
	VMOVUPS      (DI), Y10
	VMOVUPS      32(DI), Y11
	VMOVUPS      64(DI), Y12
	VMOVUPS      96(DI), Y13
	VBROADCASTSS (SI), Y8
	VBROADCASTSS (R10), Y9
	VFMADD231PS  Y10, Y8, Y0
	VFMADD231PS  Y11, Y8, Y1
	VFMADD231PS  Y12, Y8, Y2
	VFMADD231PS  Y13, Y8, Y3
	VFMADD231PS  Y10, Y9, Y4
	VFMADD231PS  Y11, Y9, Y5
	VFMADD231PS  Y12, Y9, Y6
	VFMADD231PS  Y13, Y9, Y7
	ADDQ         $4, SI
	ADDQ         $4, R10
	ADDQ         DX, DI
	DECQ         CX
	JNE          loop2

store2:
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, 32(R8)
	VMOVUPS Y2, 64(R8)
	VMOVUPS Y3, 96(R8)
	ADDQ    R11, R8
	VMOVUPS Y4, (R8)
	VMOVUPS Y5, 32(R8)
	VMOVUPS Y6, 64(R8)
	VMOVUPS Y7, 96(R8)
	VZEROUPPER
	RET

// func gemm1x8(a *float32, b *float32, ldb int, k int, c *float32)
// One row of c, 8 columns: c[0:8] = sum_kk a[kk] * b[kk*ldb : kk*ldb+8].
TEXT ·gemm1x8(SB), NOSPLIT, $0-40
	MOVQ   a+0(FP), SI
	MOVQ   b+8(FP), DI
	MOVQ   ldb+16(FP), DX
	SHLQ   $2, DX
	MOVQ   k+24(FP), CX
	MOVQ   c+32(FP), R8
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JE     store1

loop1:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	ADDQ         $4, SI
	ADDQ         DX, DI
	DECQ         CX
	JNE          loop1

store1:
	VMOVUPS Y0, (R8)
	VZEROUPPER
	RET
