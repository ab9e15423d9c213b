//go:build !amd64

package blas

// peakGFLOPS is unknown off amd64.
func peakGFLOPS() float64 { return 0 }
