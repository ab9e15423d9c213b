//go:build !linux

package blas

import "time"

// threadCPU is unknown off Linux (0): the calibration and the benchmarks
// then go by wall time.
func threadCPU() time.Duration { return 0 }
