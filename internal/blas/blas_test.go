package blas

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// engines returns every backend this machine has, by name.
func engines(t testing.TB) map[string]engine {
	t.Helper()
	es := map[string]engine{"gonum": gonumEngine{}}
	for _, k := range microKernels(hostFeatures()) {
		es["native-"+strings.Fields(k.name)[0]] = newNative(k)
	}
	if e, err := openOpenBLAS(); err == nil {
		var i EngineInfo
		e.describe(&i)
		es["openblas-"+i.Kernel] = e
	} else {
		t.Logf("openblas not tested: %v", err)
	}
	return es
}

func randSlice[T float32 | float64](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

type gemmCase struct {
	m, n, k     int
	pad         int // extra columns in every leading dimension
	alpha, beta float64
}

var gemmCases = []gemmCase{
	{1, 1, 1, 0, 1, 0},
	{3, 5, 7, 0, 1, 0},
	{17, 13, 11, 2, 0.5, 1},
	{31, 33, 29, 0, -1.5, 0.25},
	{64, 1, 65, 1, 1, 0},
	{1, 97, 3, 3, 2, -1},
	{129, 67, 45, 0, 1, 1},
}

// TestGemm checks both precisions of every backend against the naive loop
// for all transpose combinations, odd sizes and padded leading dimensions.
func TestGemm(t *testing.T) {
	for name, e := range engines(t) {
		for _, tc := range gemmCases {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%dx%dx%d/pad%d/tA=%t/tB=%t", name, tc.m, tc.n, tc.k, tc.pad, tA, tB), func(t *testing.T) {
						checkCase(t, e, tc, tA, tB)
					})
				}
			}
		}
	}
}

func checkCase(t *testing.T, e engine, tc gemmCase, tA, tB bool) {
	r := rand.New(rand.NewPCG(uint64(tc.m), uint64(tc.n*1000+tc.k)))
	ar, ac, br, bc := operands(tA, tB, tc.m, tc.n, tc.k)
	lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad

	a64 := randSlice[float64](r, ar*lda)
	b64 := randSlice[float64](r, br*ldb)
	c64 := randSlice[float64](r, tc.m*ldc)
	want64 := naiveGemm(tA, tB, tc.m, tc.n, tc.k, tc.alpha, a64, lda, b64, ldb, tc.beta, c64, ldc)
	got64 := append([]float64(nil), c64...)
	e.dgemm(tA, tB, tc.m, tc.n, tc.k, tc.alpha, a64, lda, b64, ldb, tc.beta, got64, ldc)
	compare(t, "dgemm", got64, want64, c64, tc.m, tc.n, ldc, 1e-12)

	a32, b32, c32 := to32(a64), to32(b64), to32(c64)
	want32 := naiveGemm(tA, tB, tc.m, tc.n, tc.k, float32(tc.alpha), a32, lda, b32, ldb, float32(tc.beta), c32, ldc)
	got32 := append([]float32(nil), c32...)
	e.sgemm(tA, tB, tc.m, tc.n, tc.k, float32(tc.alpha), a32, lda, b32, ldb, float32(tc.beta), got32, ldc)
	compare(t, "sgemm", got32, want32, c32, tc.m, tc.n, ldc, 1e-4)
}

// compare checks the m x n block of C and that the padding columns were left
// untouched.
func compare[T float32 | float64](t *testing.T, what string, got, want, orig []T, m, n, ldc int, tol float64) {
	t.Helper()
	for i := range m {
		for j := range ldc {
			idx := i*ldc + j
			if j >= n {
				if got[idx] != orig[idx] {
					t.Fatalf("%s: padding C[%d,%d] = %v, want untouched %v", what, i, j, got[idx], orig[idx])
				}
				continue
			}
			if d := math.Abs(float64(got[idx] - want[idx])); d > tol*(1+math.Abs(float64(want[idx]))) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v", what, i, j, got[idx], want[idx])
			}
		}
	}
}

func to32(s []float64) []float32 {
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// TestPublicGemm goes through the package API with whatever backend the
// environment selects, including the empty-k and bad-size paths.
func TestPublicGemm(t *testing.T) {
	name, err := Backend()
	if err != nil {
		t.Fatalf("Backend() error: %v", err)
	}
	t.Logf("backend: %s", name)

	a := []float32{1, 2, 3, 4, 5, 6} // 2x3
	b := []float32{1, 0, 0, 1, 1, 1} // 3x2
	c := []float32{10, 10, 10, 10}
	if err := Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0.5, c, 2); err != nil {
		t.Fatalf("Sgemm error: %v", err)
	}
	if want := []float32{9, 10, 15, 16}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("Sgemm C = %v, want %v", c, want)
	}

	d := []float64{1, 2, 3, 4}
	if err := Dgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 3, d, 2); err != nil {
		t.Fatalf("Dgemm with k=0 error: %v", err)
	}
	if want := []float64{3, 6, 9, 12}; fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("Dgemm with k=0: C = %v, want %v", d, want)
	}

	bad := []struct {
		name string
		call func() error
		msg  string
	}{
		{"short a", func() error { return Sgemm(false, false, 2, 2, 3, 1, a[:5], 3, b, 2, 0, c, 2) }, "a: 2x3"},
		{"small lda", func() error { return Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) }, "a: leading dimension"},
		{"short c", func() error { return Dgemm(true, true, 2, 2, 2, 1, d, 2, d, 2, 0, d[:3], 2) }, "c: 2x2"},
		{"negative", func() error { return Dgemm(false, false, -1, 2, 2, 1, d, 2, d, 2, 0, d, 2) }, "negative size"},
	}
	for _, tc := range bad {
		err := tc.call()
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error = %v, want one containing %q", tc.name, err, tc.msg)
		}
	}
	if err := SetThreads(0); err == nil {
		t.Errorf("SetThreads(0) error = nil, want an error")
	}
}

// namedEngine is gonum under another name, standing in for native or
// OpenBLAS in the tests of choose.
type namedEngine struct {
	gonumEngine
	engineName string
	broken     bool // computes a wrong product
}

func (e namedEngine) name() string { return e.engineName }
func (e namedEngine) describe(i *EngineInfo) {
	i.Engine, i.Kernel = e.engineName, "fake"
}
func (e namedEngine) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if e.broken {
		alpha *= 2
	}
	e.gonumEngine.sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// TestChoose checks the environment override, a forced backend that is
// absent, the correctness check and the calibration's pick.
func TestChoose(t *testing.T) {
	native := namedEngine{engineName: "native"}
	lib := namedEngine{engineName: "openblas"}
	found := func() (engine, error) { return lib, nil }
	broken := func() (engine, error) { return namedEngine{engineName: "openblas", broken: true}, nil }
	absent := func() (engine, error) { return nil, fmt.Errorf("%w: not here", ErrUnavailable) }
	libFaster := func(es []engine) []float64 { return []float64{50, 70}[:len(es)] }
	nativeFaster := func(es []engine) []float64 { return []float64{70, 50}[:len(es)] }
	nearTie := func(es []engine) []float64 { return []float64{70, 70 * switchMargin}[:len(es)] }
	tests := []struct {
		env       string
		native    engine
		load      func() (engine, error)
		calibrate func([]engine) []float64
		want      string
		wantErr   error // with want == "": the error expected
		warn      bool
		nCal      int
	}{
		{"", native, found, libFaster, "openblas", nil, false, 2},
		{"", native, found, nativeFaster, "native", nil, false, 2},
		{"", native, found, nearTie, "native", nil, false, 2},
		{"", native, absent, libFaster, "native", nil, false, 0},
		{"", native, broken, libFaster, "native", nil, false, 0},
		{"", nil, found, libFaster, "openblas", nil, false, 0},
		{"", nil, absent, libFaster, "gonum", nil, true, 0},
		{"gonum", native, found, libFaster, "gonum", nil, false, 0},
		{" OpenBLAS ", native, found, nativeFaster, "openblas", nil, false, 0},
		{"native", native, found, libFaster, "native", nil, false, 0},
		{"native", nil, found, libFaster, "", ErrUnavailable, false, 0},
		{"openblas", native, absent, libFaster, "", ErrUnavailable, false, 0},
		{"mkl", native, found, libFaster, "", nil, false, 0},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("env=%q/native=%t", tc.env, tc.native != nil)
		s, err := choose(tc.env, candidates{native: tc.native, openBLAS: tc.load, calibrate: tc.calibrate})
		switch {
		case tc.want == "":
			if err == nil {
				t.Errorf("%s: choose = %s, want an error", name, s.engine.name())
			} else if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: choose error = %v, want %v", name, err, tc.wantErr)
			}
			continue
		case err != nil:
			t.Errorf("%s: choose error: %v", name, err)
			continue
		}
		if got := s.info.Engine; got != tc.want {
			t.Errorf("%s: choose = %s, want %s", name, got, tc.want)
		}
		if got := s.info.Warning != ""; got != tc.warn {
			t.Errorf("%s: warning = %q, want one: %t", name, s.info.Warning, tc.warn)
		}
		if got := len(s.info.Calibration); got != tc.nCal {
			t.Errorf("%s: %d calibration figures, want %d", name, got, tc.nCal)
		}
	}
}

// BenchmarkSgemmConv runs the GEMMs of the task network's convolutions at
// batch 32 on 64x64 inputs, whole batch as one matrix (the kernels' layout):
// forward W(Cout x K) * cols(K x N*HW).
func BenchmarkSgemmConv(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{
		{"conv1_3to32_64x64", 32, 32 * 64 * 64, 27},
		{"conv2_32to64_32x32", 64, 32 * 32 * 32, 288},
		{"conv3_64to64_16x16", 64, 32 * 16 * 16, 576},
		{"dW_conv2", 64, 288, 32 * 32 * 32},
	}
	for name, e := range engines(b) {
		for _, s := range shapes {
			b.Run(name+"/"+s.name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				a := randSlice[float32](r, s.m*s.k)
				bb := randSlice[float32](r, s.k*s.n)
				c := make([]float32, s.m*s.n)
				tB := s.name == "dW_conv2"
				ldb := s.n
				if tB {
					ldb = s.k
				}
				m := startFlops(b)
				for b.Loop() {
					e.sgemm(false, tB, s.m, s.n, s.k, 1, a, s.k, bb, ldb, 0, c, s.n)
				}
				m.report(2 * float64(s.m) * float64(s.n) * float64(s.k))
			})
		}
	}
}

// TestInfo checks that the engine in use describes itself consistently with
// Backend, and logs the description (go test -v shows what was chosen).
func TestInfo(t *testing.T) {
	info, err := Info()
	if err != nil {
		t.Fatalf("Info() error: %v", err)
	}
	name, _ := Backend()
	if info.Engine == "" || info.Kernel == "" || info.CPU == "" || !strings.HasPrefix(name, info.Engine) {
		t.Errorf("Info() = %+v for backend %q: engine, kernel and cpu must be set and match", info, name)
	}
	t.Logf("%+v", info)
}

// flopMeter reports a benchmark's GFLOP/s by wall time and by the CPU time
// of its thread (GFLOP/s-cpu), which a busy shared machine inflates less,
// and both as a fraction of this CPU's single-core peak when that is known.
type flopMeter struct {
	b   *testing.B
	cpu time.Duration
}

func startFlops(b *testing.B) flopMeter {
	peakGFLOPS()           // measured once, before this thread's clock starts
	runtime.LockOSThread() // threadCPU measures this thread
	b.Cleanup(runtime.UnlockOSThread)
	return flopMeter{b: b, cpu: threadCPU()}
}

// report takes the flops of one iteration.
func (m flopMeter) report(flops float64) {
	total := flops * float64(m.b.N) / 1e9
	wall := total / m.b.Elapsed().Seconds()
	m.b.ReportMetric(wall, "GFLOP/s")
	peak := peakGFLOPS()
	if peak > 0 {
		m.b.ReportMetric(wall/peak, "of-peak")
	}
	if cpu := (threadCPU() - m.cpu).Seconds(); cpu > 0 {
		m.b.ReportMetric(total/cpu, "GFLOP/s-cpu")
		if peak > 0 {
			m.b.ReportMetric(total/cpu/peak, "of-peak-cpu")
		}
	}
}

// product is one GEMM's shape: C (m x n) = op(A) (m x k) * op(B) (k x n) + beta C.
type product struct {
	name    string
	tA, tB  bool
	m, n, k int
	beta    float32
}

// imageProducts are the GEMMs the convolution kernels make per image
// (internal/kernels/conv.go) on the task network's layers: forward W * cols, the
// column gradient W^T * dy and the weight gradient dy * cols^T accumulated into dW.
var imageProducts = []product{
	{"fwd_conv1", false, false, 32, 4096, 27, 0},
	{"fwd_conv2", false, false, 64, 1024, 288, 0},
	{"fwd_conv3", false, false, 64, 256, 576, 0},
	{"dcols_conv2", true, false, 288, 1024, 64, 0},
	{"dcols_conv3", true, false, 576, 256, 64, 0},
	{"dW_conv2", false, true, 64, 288, 1024, 1},
	{"dW_conv3", false, true, 64, 576, 256, 1},
}

// operands returns the stored rows and columns of A and B for op(A) of m x k and
// op(B) of k x n.
func operands(tA, tB bool, m, n, k int) (ar, ac, br, bc int) {
	ar, ac, br, bc = m, k, k, n
	if tA {
		ar, ac = k, m
	}
	if tB {
		br, bc = n, k
	}
	return ar, ac, br, bc
}

// BenchmarkSgemmImage runs imageProducts on every engine.
func BenchmarkSgemmImage(b *testing.B) {
	for name, e := range engines(b) {
		for _, s := range imageProducts {
			ar, ac, br, bc := operands(s.tA, s.tB, s.m, s.n, s.k)
			a, bb, c := patterned(ar*ac, 1), patterned(br*bc, 2), make([]float32, s.m*s.n)
			b.Run(name+"/"+s.name, func(b *testing.B) {
				m := startFlops(b)
				for b.Loop() {
					e.sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, ac, bb, bc, s.beta, c, s.n)
				}
				m.report(2 * float64(s.m*s.n*s.k))
			})
		}
	}
}
