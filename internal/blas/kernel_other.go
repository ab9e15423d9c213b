//go:build !amd64

package blas

// hostFeatures reports no x86 vector features off amd64.
func hostFeatures() features { return features{} }

// microKernels is empty off amd64: the native engine is unavailable there
// and the choice falls to OpenBLAS or gonum.
func microKernels(features) []microKernel { return nil }

// transpose8 is not used off amd64, where there is no native engine.
func transpose8(*float32, int, *float32, int, int, int) { panic("blas: transpose8 off amd64") }

func hasTranspose8() bool { return false }
