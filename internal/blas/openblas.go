package blas

import (
	"fmt"
	"strings"

	"github.com/ebitengine/purego"
)

// libraryNames are tried in order; the first that loads and has the CBLAS
// symbols wins. libblas.so.3 is Debian's alternatives link, which points at
// OpenBLAS when it is installed (or at the slow reference BLAS otherwise).
var libraryNames = [...]string{"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}

// CBLAS enum values (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

type openBLAS struct {
	lib        string
	sgemmFn    func(order, tA, tB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	dgemmFn    func(order, tA, tB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	setThreadN func(n int32) // nil when the library has no openblas_set_num_threads
}

// openOpenBLAS loads the first library of libraryNames that provides
// cblas_sgemm and cblas_dgemm.
func openOpenBLAS() (engine, error) {
	var failures []string
	for _, name := range libraryNames {
		e, err := loadLibrary(name)
		if err == nil {
			return e, nil
		}
		failures = append(failures, err.Error())
	}
	return nil, fmt.Errorf("%w: no OpenBLAS library could be loaded (install libopenblas0): %s",
		ErrUnavailable, strings.Join(failures, "; "))
}

func loadLibrary(name string) (*openBLAS, error) {
	h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Look the symbols up first: purego's RegisterLibFunc panics on a
	// missing one.
	s, err := purego.Dlsym(h, "cblas_sgemm")
	if err != nil {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d, err := purego.Dlsym(h, "cblas_dgemm")
	if err != nil {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	e := &openBLAS{lib: name}
	purego.RegisterFunc(&e.sgemmFn, s)
	purego.RegisterFunc(&e.dgemmFn, d)
	if t, err := purego.Dlsym(h, "openblas_set_num_threads"); err == nil {
		purego.RegisterFunc(&e.setThreadN, t)
		// The kernels split batches across goroutines and call GEMM from
		// each; OpenBLAS's own threads would then contend with them (and
		// spin while idle), so calls run single-threaded unless a caller
		// asks otherwise.
		e.setThreadN(1)
	}
	return e, nil
}

func cblasOp(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

// sgemm passes the slices' first elements: Go's heap does not move, and
// purego keeps pointer arguments alive for the duration of the call.
func (e *openBLAS) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	e.sgemmFn(cblasRowMajor, cblasOp(tA), cblasOp(tB), int32(m), int32(n), int32(k),
		alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}

func (e *openBLAS) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	e.dgemmFn(cblasRowMajor, cblasOp(tA), cblasOp(tB), int32(m), int32(n), int32(k),
		alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}

func (e *openBLAS) setThreads(n int) {
	if e.setThreadN != nil {
		e.setThreadN(int32(n))
	}
}

func (e *openBLAS) name() string {
	if strings.Contains(e.lib, "openblas") {
		return "openblas (" + e.lib + ")"
	}
	return "cblas (" + e.lib + ")"
}
