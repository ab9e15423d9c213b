// Vector add for AddTo (see add.go).

#include "textflag.h"

// func addAVX2(dst, src *float32, n int)
// dst[i] += src[i] for i < n, 32 floats a step, then 8, then one at a time.
TEXT ·addAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
loop32:
	CMPQ CX, $32
	JLT  loop8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  loop32
loop8:
	CMPQ CX, $8
	JLT  tail
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  loop8
tail:
	TESTQ CX, CX
	JZ    done
	VMOVSS (DI), X0
	VADDSS (SI), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, SI
	DECQ CX
	JMP  tail
done:
	VZEROUPPER
	RET

// func add2DAVX2(dst, src *float32, rows, cols, dstStride, srcStride int)
// For each of rows rows: dst[r*dstStride+i] += src[r*srcStride+i] for i < cols,
// 8 floats a step, then 4, then one at a time. Strides are in floats.
TEXT ·add2DAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ cols+24(FP), R9
	MOVQ dstStride+32(FP), R10
	MOVQ srcStride+40(FP), R11
	SHLQ $2, R10
	SHLQ $2, R11
row:
	TESTQ R8, R8
	JZ    done2
	MOVQ  DI, AX
	MOVQ  SI, BX
	MOVQ  R9, CX
r16:
	CMPQ CX, $16
	JLT  r8
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VADDPS  (BX), Y0, Y0
	VADDPS  32(BX), Y1, Y1
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	ADDQ $64, AX
	ADDQ $64, BX
	SUBQ $16, CX
	JMP  r16
r8:
	CMPQ CX, $8
	JLT  r4
	VMOVUPS (AX), Y0
	VADDPS  (BX), Y0, Y0
	VMOVUPS Y0, (AX)
	ADDQ $32, AX
	ADDQ $32, BX
	SUBQ $8, CX
r4:
	CMPQ CX, $4
	JLT  r1
	VMOVUPS (AX), X0
	VADDPS  (BX), X0, X0
	VMOVUPS X0, (AX)
	ADDQ $16, AX
	ADDQ $16, BX
	SUBQ $4, CX
r1:
	TESTQ CX, CX
	JZ    next
	VMOVSS (AX), X0
	VADDSS (BX), X0, X0
	VMOVSS X0, (AX)
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ CX
	JMP  r1
next:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JMP  row
done2:
	VZEROUPPER
	RET

// func copy2DAVX2(dst, src *float32, rows, cols, dstStride, srcStride int)
// For each of rows rows: dst[r*dstStride+i] = src[r*srcStride+i] for i < cols,
// 8 floats a step, then 4, then one at a time. Strides are in floats.
TEXT ·copy2DAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ cols+24(FP), R9
	MOVQ dstStride+32(FP), R10
	MOVQ srcStride+40(FP), R11
	SHLQ $2, R10
	SHLQ $2, R11
crow:
	TESTQ R8, R8
	JZ    cdone2
	MOVQ  DI, AX
	MOVQ  SI, BX
	MOVQ  R9, CX
cr16:
	CMPQ CX, $16
	JLT  cr8
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	VMOVUPS Y0, (AX)
	VMOVUPS Y1, 32(AX)
	ADDQ $64, AX
	ADDQ $64, BX
	SUBQ $16, CX
	JMP  cr16
cr8:
	CMPQ CX, $8
	JLT  cr4
	VMOVUPS (BX), Y0
	VMOVUPS Y0, (AX)
	ADDQ $32, AX
	ADDQ $32, BX
	SUBQ $8, CX
cr4:
	CMPQ CX, $4
	JLT  cr1
	VMOVUPS (BX), X0
	VMOVUPS X0, (AX)
	ADDQ $16, AX
	ADDQ $16, BX
	SUBQ $4, CX
cr1:
	TESTQ CX, CX
	JZ    cnext
	VMOVSS (BX), X0
	VMOVSS X0, (AX)
	ADDQ $4, AX
	ADDQ $4, BX
	DECQ CX
	JMP  cr1
cnext:
	ADDQ R10, DI
	ADDQ R11, SI
	DECQ R8
	JMP  crow
cdone2:
	VZEROUPPER
	RET

// func sum8AVX2(v *float32, n int, out *[8]float32)
// Sums v[0:n), n a multiple of 8, into eight float32 lanes: lane j holds the sum
// of v[i] for i = j mod 8, added in order 32 floats a step over four
// accumulators, the accumulators then added 0+1, 2+3, and those two.
TEXT ·sum8AVX2(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ out+16(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
s32:
	CMPQ CX, $32
	JLT  s8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ $128, SI
	SUBQ $32, CX
	JMP  s32
s8:
	CMPQ CX, $8
	JLT  sdone
	VADDPS (SI), Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  s8
sdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET
