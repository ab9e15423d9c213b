// Package blas is the GEMM backend of the kernels, chosen at run time: an
// OpenBLAS shared library loaded with purego (no cgo) when one is installed,
// gonum's pure-Go BLAS otherwise. ZOOMTRAIN_BLAS=gonum|openblas forces one.
//
// All matrices are row-major, as in the rest of the project.
package blas

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
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
}

// resolved is the process-wide backend, chosen once: the choice depends only
// on the environment and the installed libraries, which do not change.
var resolved = sync.OnceValues(func() (engine, error) {
	return choose(os.Getenv(EnvVar), openOpenBLAS)
})

// choose picks the engine for the value of EnvVar; load opens OpenBLAS.
func choose(env string, load func() (engine, error)) (engine, error) {
	switch strings.ToLower(strings.TrimSpace(env)) {
	case "":
		if e, err := load(); err == nil {
			return e, nil
		}
		return gonumEngine{}, nil
	case "gonum":
		return gonumEngine{}, nil
	case "openblas":
		e, err := load()
		if err != nil {
			return nil, fmt.Errorf("%s=openblas: %w", EnvVar, err)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("%s=%q: unknown backend (want gonum or openblas)", EnvVar, env)
	}
}

// Backend names the backend in use, e.g. "openblas (libopenblas.so.0)" or
// "gonum (pure Go)", or returns why none could be chosen.
func Backend() (string, error) {
	e, err := resolved()
	if err != nil {
		return "", err
	}
	return e.name(), nil
}

// SetThreads sets the number of threads OpenBLAS uses for one call (1 when
// loaded, since callers parallelise over batches themselves); it does nothing
// for gonum, whose GEMM splits work over GOMAXPROCS goroutines.
func SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("blas threads %d: must be at least 1", n)
	}
	e, err := resolved()
	if err != nil {
		return err
	}
	e.setThreads(n)
	return nil
}

// Sgemm computes C = alpha * op(A) * op(B) + beta * C in float32, where op(X)
// is X or its transpose, op(A) is m x k, op(B) is k x n and C is m x n.
func Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		return fmt.Errorf("sgemm: %w", err)
	}
	e, err := resolved()
	if err != nil {
		return fmt.Errorf("sgemm: %w", err)
	}
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
	e, err := resolved()
	if err != nil {
		return fmt.Errorf("dgemm: %w", err)
	}
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
