//go:build !amd64

package blas

// hostFeatures reports no x86 vector features off amd64.
func hostFeatures() features { return features{} }

// microKernels is empty off amd64: the native engine is unavailable there
// and the choice falls to OpenBLAS or gonum.
func microKernels(features) []microKernel { return nil }
