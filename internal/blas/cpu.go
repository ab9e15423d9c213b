package blas

import "strings"

// features are the x86 vector features that decide the kernels, as a value so
// that the choices made from them can be tested for any CPU.
type features struct {
	avx2, fma                             bool
	avx512f, avx512dq, avx512bw, avx512vl bool
	avx512bf16                            bool
	amd                                   bool // AuthenticAMD or HygonGenuine
}

// hasAVX512 reports the AVX-512 subsets OpenBLAS's SkylakeX kernels need.
func (f features) hasAVX512() bool {
	return f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl && f.fma
}

func (f features) String() string {
	var names []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.fma, "fma"}, {f.avx2, "avx2"}, {f.avx512f, "avx512f"}, {f.avx512dq, "avx512dq"},
		{f.avx512bw, "avx512bw"}, {f.avx512vl, "avx512vl"}, {f.avx512bf16, "avx512bf16"},
	} {
		if x.on {
			names = append(names, x.name)
		}
	}
	if len(names) == 0 {
		names = append(names, "no avx2/fma")
	}
	vendor := "intel-compatible"
	if f.amd {
		vendor = "amd"
	}
	return vendor + ": " + strings.Join(names, " ")
}
