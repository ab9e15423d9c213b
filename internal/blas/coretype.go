package blas

import "strings"

// coreTypeEnv is OpenBLAS's own override of its CPU detection, read once
// when the library loads.
const coreTypeEnv = "OPENBLAS_CORETYPE"

// bestCore names OpenBLAS's best SGEMM kernel family for a CPU with the
// features f, or "" when there is nothing better than its own detection.
// Cooperlake and Sapphire Rapids cores run the SkylakeX SGEMM kernel, and
// Zen runs Haswell's, so these two names cover every x86 CPU we can help.
// AMD's AVX-512 (Zen 4) runs on 256-bit units, where OpenBLAS 0.3.21's
// Haswell SGEMM is faster than its SkylakeX one on the convolution shapes
// (86-95 against 63-74 GFLOP/s, BenchmarkSgemmConv).
func bestCore(f features) string {
	switch {
	case f.amd && f.avx2 && f.fma:
		return "Haswell"
	case f.hasAVX512():
		return "SkylakeX"
	case f.avx2 && f.fma:
		return "Haswell"
	}
	return ""
}

// coreTypeToSet returns the OPENBLAS_CORETYPE value to set before OpenBLAS
// is loaded, or "" to leave the environment alone. A library older than the
// CPU falls back to its oldest kernels (Prescott, SSE3) without a word; the
// core cannot be changed once loaded, so it is named beforehand. A user's
// own setting always wins.
func coreTypeToSet(f features, userValue string, userSet bool) string {
	if userSet {
		return ""
	}
	return bestCore(f)
}

// coreRank orders OpenBLAS's x86 core names by the vector width of their
// SGEMM kernels: 3 AVX-512, 2 AVX2+FMA, 1 AVX, 0 SSE only, -1 unknown.
func coreRank(core string) int {
	switch strings.ToLower(strings.TrimSpace(core)) {
	case "skylakex", "cooperlake", "sapphirerapids":
		return 3
	case "haswell", "zen", "excavator":
		return 2
	case "sandybridge", "bulldozer", "piledriver", "steamroller":
		return 1
	case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "nano",
		"opteron", "opteron_sse3", "barcelona", "bobcat", "katmai", "coppermine",
		"northwood", "banias", "athlon":
		return 0
	}
	return -1
}

// coreWarning says, for OpenBLAS loaded with the core loaded on a CPU with
// the features f, whether its SGEMM runs below what the CPU supports, and
// why; "" when it does not.
func coreWarning(f features, loaded, userValue string, userSet bool) string {
	best := bestCore(f)
	if best == "" || loaded == "" {
		return ""
	}
	got, want := coreRank(loaded), coreRank(best)
	if got < 0 || got >= want {
		return ""
	}
	if userSet {
		return "OpenBLAS runs its " + loaded + " kernels because " + coreTypeEnv + "=" + userValue + " is set; this CPU supports " + best
	}
	return "OpenBLAS runs its " + loaded + " kernels although this CPU supports " + best + " (the library lacks them?)"
}
