package blas

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A calibration measured once is read back while the CPU and the engines are the same,
// and measured again when either changes or the file is damaged.
func TestCachedCalibration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "cal.json")
	es := []engine{namedEngine{engineName: "native"}, namedEngine{engineName: "openblas"}}
	calls := 0
	measure := func(rates ...float64) func([]engine) []float64 {
		return func([]engine) []float64 { calls++; return rates }
	}
	steps := []struct {
		what    string
		cpu     string
		es      []engine
		measure func([]engine) []float64
		damage  bool
		want    []float64
		calls   int
	}{
		{"first run measures", "avx512", es, measure(100, 90), false, []float64{100, 90}, 1},
		{"second run reads the file", "avx512", es, measure(80, 120), false, []float64{100, 90}, 1},
		{"another CPU measures", "avx2", es, measure(70, 60), false, []float64{70, 60}, 2},
		{"other engines measure", "avx2", es[:1], measure(50), false, []float64{50}, 3},
		{"a damaged file measures", "avx2", es[:1], measure(40), true, []float64{40}, 4},
	}
	for _, s := range steps {
		if s.damage {
			if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got := cachedCalibration(path, s.cpu, s.measure)(s.es)
		if !slices.Equal(got, s.want) || calls != s.calls {
			t.Errorf("%s: got rates %v after %d measurements, want %v after %d", s.what, got, calls, s.want, s.calls)
		}
	}
}

func TestCalibrationFile(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == calCacheEnv {
				return v
			}
			return ""
		}
	}
	if got := calibrationFile(env("off")); got != "" {
		t.Errorf("%s=off: file %q, want none", calCacheEnv, got)
	}
	if got := calibrationFile(env("/x/cal.json")); got != "/x/cal.json" {
		t.Errorf("%s=/x/cal.json: file %q", calCacheEnv, got)
	}
	if dir, err := os.UserCacheDir(); err == nil {
		if got, want := calibrationFile(env("")), filepath.Join(dir, "zoomtrain", "gemm-calibration.json"); got != want {
			t.Errorf("default file %q, want %q", got, want)
		}
	}
}
