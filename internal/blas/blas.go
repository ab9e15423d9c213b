// Package blas is the GEMM backend of the kernels, chosen once at run time
// from three engines: our own packed SGEMM with AVX-512 or AVX2+FMA
// micro-kernels (amd64), an OpenBLAS shared library loaded with purego (no
// cgo) when one is installed, and gonum's pure-Go BLAS. By default the
// faster of native and OpenBLAS on the task network's GEMM shapes is used,
// measured once per machine and kept in the user's cache directory
// (ZOOMTRAIN_BLAS_CACHE moves the file or, set to "off", keeps none), so that
// every process of a run computes on the same engine;
// ZOOMTRAIN_BLAS=native|openblas|gonum forces one.
//
// All matrices are row-major, as in the rest of the project.
package blas

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// EnvVar names the environment variable that forces a backend.
const EnvVar = "ZOOMTRAIN_BLAS"

// ErrUnavailable is wrapped by the error returned when a forced backend
// cannot be loaded.
var ErrUnavailable = errors.New("blas backend unavailable")

// engine is one GEMM implementation. Callers have already checked the sizes.
type engine interface {
	sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
	setThreads(n int)
	name() string
	describe(i *EngineInfo) // fills Engine, Kernel and what is known of the library
}

// resolved is the process-wide backend, chosen once: the choice depends only
// on the environment, the CPU and the installed libraries, which do not
// change.
var resolved = sync.OnceValues(func() (selection, error) {
	f := hostFeatures()
	var native engine
	if ks := microKernels(f); len(ks) > 0 {
		native = newNative(ks[0])
	}
	return choose(os.Getenv(EnvVar), candidates{
		features:  f,
		native:    native,
		openBLAS:  openOpenBLAS,
		calibrate: cachedCalibration(calibrationFile(os.Getenv), f.String(), calibrate),
	})
})

// Backend names the backend in use, e.g. "native (avx512 8x48)",
// "openblas (libopenblas.so.0)" or "gonum (pure Go)", or returns why none
// could be chosen.
func Backend() (string, error) {
	s, err := resolved()
	if err != nil {
		return "", err
	}
	return s.engine.name(), nil
}

// Info describes the backend in use and how it was chosen.
func Info() (EngineInfo, error) {
	s, err := resolved()
	if err != nil {
		return EngineInfo{}, err
	}
	return s.info, nil
}

// SetThreads sets the number of threads OpenBLAS uses for one call (1 when
// loaded, since callers parallelise over batches themselves); it does nothing
// for gonum, whose GEMM splits work over GOMAXPROCS goroutines.
func SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("blas threads %d: must be at least 1", n)
	}
	s, err := resolved()
	if err != nil {
		return err
	}
	s.engine.setThreads(n)
	return nil
}

// Sgemm computes C = alpha * op(A) * op(B) + beta * C in float32, where op(X)
// is X or its transpose, op(A) is m x k, op(B) is k x n and C is m x n.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return fmt.Errorf("sgemm: %w", err)
	}
	s, err := resolved()
	if err != nil {
		return fmt.Errorf("sgemm: %w", err)
	}
	e := s.engine
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 {
		scaleRows(m, n, beta, c, ldc)
		return nil
	}
	e.sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// Dgemm is Sgemm in float64.
func Dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) error {
	if err := checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return fmt.Errorf("dgemm: %w", err)
	}
	s, err := resolved()
	if err != nil {
		return fmt.Errorf("dgemm: %w", err)
	}
	e := s.engine
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 {
		scaleRows(m, n, beta, c, ldc)
		return nil
	}
	e.dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// scaleRows sets C = beta * C, the whole of a GEMM with an empty inner
// dimension (which the backends disagree on, or reject).
func scaleRows[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = 0
			} else {
				row[j] *= beta
			}
		}
	}
}

// checkGemm validates sizes and strides so that neither backend can read or
// write out of bounds (gonum would panic, OpenBLAS would corrupt memory).
func checkGemm(tA, tB bool, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("negative size m=%d n=%d k=%d", m, n, k)
	}
	// CBLAS takes 32-bit ints.
	for _, v := range [...]int{m, n, k, lda, ldb, ldc} {
		if v > math.MaxInt32 {
			return fmt.Errorf("size or stride %d exceeds 32 bits", v)
		}
	}
	ar, ac := m, k
	if tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB {
		br, bc = n, k
	}
	if err := checkMatrix("a", ar, ac, lenA, lda); err != nil {
		return err
	}
	if err := checkMatrix("b", br, bc, lenB, ldb); err != nil {
		return err
	}
	return checkMatrix("c", m, n, lenC, ldc)
}

func checkMatrix(name string, rows, cols, length, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("%s: leading dimension %d below column count %d", name, ld, cols)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; length < need {
		return fmt.Errorf("%s: %dx%d with stride %d needs %d elements, have %d", name, rows, cols, ld, need, length)
	}
	return nil
}

// gonumEngine is the pure-Go fallback.
type gonumEngine struct{}

func trans(t bool) gblas.Transpose {
	if t {
		return gblas.Trans
	}
	return gblas.NoTrans
}

func (gonumEngine) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonum.Implementation{}.Sgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (gonumEngine) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gonum.Implementation{}.Dgemm(trans(tA), trans(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (gonumEngine) setThreads(int) {}
func (gonumEngine) name() string   { return "gonum (pure Go)" }
func (gonumEngine) describe(i *EngineInfo) {
	i.Engine, i.Kernel = "gonum", "pure Go"
}
