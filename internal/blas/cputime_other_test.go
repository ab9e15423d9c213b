//go:build !linux

package blas

import "time"

// threadCPU is unknown off Linux; the benchmarks then report wall time only.
func threadCPU() time.Duration { return 0 }
