package blas

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

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
	core       string // openblas_get_corename, "" when absent
	config     string // openblas_get_config, "" when absent
	coreType   string // OPENBLAS_CORETYPE at load time, "" when unset
	coreTypeBy string // "user", "zoomtrain" or ""
	warning    string // set when the loaded kernels are below the CPU's
	sgemmFn    func(order, tA, tB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	dgemmFn    func(order, tA, tB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	setThreadN func(n int32) // nil when the library has no openblas_set_num_threads
	// sgemmF and dgemmF are the Fortran-interface sgemm_ and dgemm_ (0 when
	// absent). Every argument is a pointer, so purego.SyscallN can call them
	// without the reflection of RegisterFunc, which allocates on every call:
	// a training step makes hundreds of GEMM calls, and their garbage would
	// make the heap, and the resident memory, grow between collections.
	sgemmF, dgemmF uintptr
	// args holds parameter blocks for the Fortran calls: heap memory, which
	// does not move while C reads it, reused instead of allocated per call.
	args chan *fortranArgs
}

// fortranArgs are the scalar arguments of one sgemm_ or dgemm_ call.
type fortranArgs struct {
	transA, transB  byte
	m, n, k         int32
	lda, ldb, ldc   int32
	alpha32, beta32 float32
	alpha64, beta64 float64
}

func (e *openBLAS) takeArgs() *fortranArgs {
	select {
	case p := <-e.args:
		return p
	default:
		return new(fortranArgs)
	}
}

func (e *openBLAS) giveArgs(p *fortranArgs) {
	select {
	case e.args <- p:
	default:
	}
}

// fortranCall fills a parameter block for the row-major product
// C = alpha op(A) op(B) + beta C, which in Fortran's column-major terms is
// C^T = alpha op(B)^T op(A)^T + beta C^T: the operands swap.
func (e *openBLAS) fortranCall(tA, tB bool, m, n, k, lda, ldb, ldc int) *fortranArgs {
	p := e.takeArgs()
	p.transA, p.transB = fortranOp(tB), fortranOp(tA)
	p.m, p.n, p.k = int32(n), int32(m), int32(k)
	p.lda, p.ldb, p.ldc = int32(ldb), int32(lda), int32(ldc)
	return p
}

func fortranOp(t bool) byte {
	if t {
		return 'T'
	}
	return 'N'
}

// openOpenBLAS loads the first library of libraryNames that provides
// cblas_sgemm and cblas_dgemm, naming the best kernels for this CPU in
// OPENBLAS_CORETYPE first unless the user has set it.
func openOpenBLAS() (engine, error) {
	f := hostFeatures()
	userValue := os.Getenv(coreTypeEnv)
	userSet := userValue != "" // OpenBLAS ignores an empty value too
	by := ""
	if userSet {
		by = "user"
	}
	if v := coreTypeToSet(f, userValue, userSet); v != "" {
		// The library reads it in its constructor from the C environment;
		// purego's runtime support forwards os.Setenv to libc's setenv.
		if err := os.Setenv(coreTypeEnv, v); err == nil {
			userValue, by = v, "zoomtrain"
		}
	}
	var failures []string
	for _, name := range libraryNames {
		e, err := loadLibrary(name)
		if err == nil {
			e.coreType, e.coreTypeBy = userValue, by
			e.warning = coreWarning(f, e.core, userValue, userSet)
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
	e := &openBLAS{lib: name, args: make(chan *fortranArgs, 16)}
	purego.RegisterFunc(&e.sgemmFn, s)
	purego.RegisterFunc(&e.dgemmFn, d)
	if sf, err := purego.Dlsym(h, "sgemm_"); err == nil {
		if df, err := purego.Dlsym(h, "dgemm_"); err == nil {
			e.sgemmF, e.dgemmF = sf, df
		}
	}
	for _, q := range []struct {
		sym string
		dst *string
	}{{"openblas_get_corename", &e.core}, {"openblas_get_config", &e.config}} {
		if p, err := purego.Dlsym(h, q.sym); err == nil {
			var get func() string
			purego.RegisterFunc(&get, p)
			*q.dst = strings.TrimSpace(get())
		}
	}
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
	if e.sgemmF == 0 {
		e.sgemmFn(cblasRowMajor, cblasOp(tA), cblasOp(tB), int32(m), int32(n), int32(k),
			alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	p := e.fortranCall(tA, tB, m, n, k, lda, ldb, ldc)
	p.alpha32, p.beta32 = alpha, beta
	purego.SyscallN(e.sgemmF, ptr(&p.transA), ptr(&p.transB), ptr(&p.m), ptr(&p.n), ptr(&p.k),
		ptr(&p.alpha32), ptr(&b[0]), ptr(&p.lda), ptr(&a[0]), ptr(&p.ldb), ptr(&p.beta32), ptr(&c[0]), ptr(&p.ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	e.giveArgs(p)
}

func (e *openBLAS) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if e.dgemmF == 0 {
		e.dgemmFn(cblasRowMajor, cblasOp(tA), cblasOp(tB), int32(m), int32(n), int32(k),
			alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
		return
	}
	p := e.fortranCall(tA, tB, m, n, k, lda, ldb, ldc)
	p.alpha64, p.beta64 = alpha, beta
	purego.SyscallN(e.dgemmF, ptr(&p.transA), ptr(&p.transB), ptr(&p.m), ptr(&p.n), ptr(&p.k),
		ptr(&p.alpha64), ptr(&b[0]), ptr(&p.lda), ptr(&a[0]), ptr(&p.ldb), ptr(&p.beta64), ptr(&c[0]), ptr(&p.ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	e.giveArgs(p)
}

// ptr passes a pointer to heap memory (a parameter block or a slice's
// backing array, kept alive by the caller) as a C argument. Heap memory does
// not move; the slices are on the heap because they reach the engine through
// an interface call, which makes them escape.
func ptr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

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
