package blas

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// flopsPerCycle is the single-core fp32 peak per cycle of the CPU this
// project targets, AMD Zen 4: two 256-bit FMA pipes x 8 lanes x 2 flops
// (its 512-bit instructions run on the same pipes in two halves, so AVX2
// and AVX-512 share the peak). Intel server cores with two 512-bit FMA
// units have twice that; the of-peak figures then read high.
const flopsPerCycle = 32

// clockGHz measures the core's clock with a chain of dependent adds (one
// cycle each), the best of five runs by thread CPU time.
var clockGHz = sync.OnceValue(func() float64 {
	const n = 5_000_000
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(1<<63 - 1)
	for range 5 {
		t0 := threadCPU()
		addChain(n)
		if d := threadCPU() - t0; d > 0 && d < best {
			best = d
		}
	}
	if best <= 0 || best == time.Duration(1<<63-1) {
		return 0
	}
	return 8 * n / best.Seconds() / 1e9
})

// peakGFLOPS is one core's fp32 peak, 0 when the clock is unknown.
func peakGFLOPS() float64 { return flopsPerCycle * clockGHz() }

// BenchmarkPeak reports the measured clock and the single-core fp32 peak
// that the of-peak figures divide by.
func BenchmarkPeak(b *testing.B) {
	for b.Loop() {
		_ = peakGFLOPS()
	}
	b.ReportMetric(peakGFLOPS(), "peak-GFLOP/s")
	b.ReportMetric(peakGFLOPS()/flopsPerCycle, "GHz")
}
