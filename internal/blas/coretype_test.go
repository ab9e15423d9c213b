package blas

import (
	"strings"
	"testing"
)

var (
	sprX    = features{avx2: true, fma: true, avx512f: true, avx512dq: true, avx512bw: true, avx512vl: true, avx512bf16: true}
	zen4    = features{avx2: true, fma: true, avx512f: true, avx512dq: true, avx512bw: true, avx512vl: true, avx512bf16: true, amd: true}
	haswell = features{avx2: true, fma: true}
	old     = features{}
)

// TestCoreTypeToSet checks what is put in OPENBLAS_CORETYPE before the
// library loads: the best kernels for the CPU, never over a user's value.
func TestCoreTypeToSet(t *testing.T) {
	tests := []struct {
		name      string
		f         features
		userValue string
		userSet   bool
		want      string
	}{
		{"intel avx512 unset", sprX, "", false, "SkylakeX"},
		{"amd avx512 unset", zen4, "", false, "Haswell"},
		{"avx512 without bw", features{avx2: true, fma: true, avx512f: true}, "", false, "Haswell"},
		{"avx2 unset", haswell, "", false, "Haswell"},
		{"sse only", old, "", false, ""},
		{"user wins", sprX, "Prescott", true, ""},
		{"user wins on avx2", haswell, "Zen", true, ""},
	}
	for _, tc := range tests {
		if got := coreTypeToSet(tc.f, tc.userValue, tc.userSet); got != tc.want {
			t.Errorf("%s: coreTypeToSet = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCoreWarning checks the warning for each (CPU, loaded core, user
// setting): a slow core on a capable CPU is named, and so is a user's
// setting that caused it.
func TestCoreWarning(t *testing.T) {
	tests := []struct {
		name      string
		f         features
		loaded    string
		userValue string
		userSet   bool
		want      string // substring; "" for no warning
	}{
		{"prescott on avx512", sprX, "Prescott", "", false, "Prescott kernels although this CPU supports SkylakeX"},
		{"haswell on intel avx512", sprX, "Haswell", "", false, "supports SkylakeX"},
		{"skylakex on avx512", sprX, "SkylakeX", "", false, ""},
		{"cooperlake on avx512", sprX, "Cooperlake", "", false, ""},
		{"prescott on zen4", zen4, "Prescott", "", false, "supports Haswell"},
		{"haswell on zen4", zen4, "Haswell", "", false, ""},
		{"cooperlake on zen4", zen4, "Cooperlake", "", false, ""},
		{"zen on avx2", haswell, "Zen", "", false, ""},
		{"sandybridge on avx2", haswell, "Sandybridge", "", false, "supports Haswell"},
		{"user set prescott", sprX, "Prescott", "Prescott", true, "OPENBLAS_CORETYPE=Prescott is set"},
		{"unknown core", zen4, "Neoverse", "", false, ""},
		{"old cpu", old, "Prescott", "", false, ""},
		{"no corename", zen4, "", "", false, ""},
	}
	for _, tc := range tests {
		got := coreWarning(tc.f, tc.loaded, tc.userValue, tc.userSet)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: coreWarning = %q, want %q", tc.name, got, tc.want)
		}
	}
}
