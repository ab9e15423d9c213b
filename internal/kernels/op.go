// Package kernels holds the numeric kernels of the networks as Gorgonia ops:
// plain-Go loops (with GEMMs through internal/blas) for float32 and float64,
// each differentiable through SymDiff so a TapeMachine can train them.
//
// Ops may keep scratch and output buffers between runs to avoid allocating on
// every training step. A value an op returns is therefore overwritten by the
// next run of the same graph: copy what must outlive a step. One graph must not
// be run by two machines at the same time.
package kernels

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/blas"
)

// opBase carries the boilerplate every op in this package shares. The name
// and params go into the hash: Gorgonia merges nodes whose op hashes and
// children agree, so each variant must hash differently.
type opBase struct {
	name   string
	arity  int
	params []int
	// tag, when set, is an identity (such as the forward op's address) that
	// keeps ops sharing state with a particular node from being merged.
	tag any
}

func (o *opBase) Arity() int            { return o.arity }
func (o *opBase) ReturnsPtr() bool      { return false }
func (o *opBase) CallsExtern() bool     { return false }
func (o *opBase) OverwritesInput() int  { return -1 }
func (o *opBase) String() string        { return fmt.Sprintf("%s%v", o.name, o.params) }
func (o *opBase) WriteHash(h hash.Hash) { o.writeHash(h) }

func (o *opBase) writeHash(h hash.Hash) {
	fmt.Fprintf(h, "zoomtrain.%s%v", o.name, o.params)
	if o.tag != nil {
		fmt.Fprintf(h, "@%p", o.tag)
	}
}

func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.writeHash(h)
	return h.Sum32()
}

// tensorT is the type of a float tensor of the given rank; all the tensors of
// one op share the element type variable.
func tensorT(dims int) hm.Type {
	return &gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// fnType is the Gorgonia type of an op taking tensors of ranks inDims and
// returning one of rank outDims, all of one element type.
func fnType(outDims int, inDims ...int) hm.Type {
	ts := make([]hm.Type, 0, len(inDims)+1)
	for _, d := range inDims {
		ts = append(ts, tensorT(d))
	}
	ts = append(ts, tensorT(outDims))
	return hm.NewFnType(ts...)
}

// shapeOf returns the i-th input shape given to InferShape.
func shapeOf(inputs []gorgonia.DimSizer, i int) (tensor.Shape, error) {
	if i >= len(inputs) {
		return nil, fmt.Errorf("input %d missing (got %d inputs)", i, len(inputs))
	}
	s, ok := inputs[i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("input %d: expected a tensor.Shape, got %T", i, inputs[i])
	}
	return s, nil
}

// denseArgs checks the number of values handed to Do and returns them as
// dense tensors of a float dtype, all of one dtype.
func denseArgs(name string, want int, vals []gorgonia.Value) ([]*tensor.Dense, error) {
	if len(vals) != want {
		return nil, fmt.Errorf("%s: expected %d inputs, got %d", name, want, len(vals))
	}
	out := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("%s: input %d: expected *tensor.Dense, got %T", name, i, v)
		}
		if dt := d.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
			return nil, fmt.Errorf("%s: input %d: unsupported dtype %v", name, i, dt)
		}
		if i > 0 && d.Dtype() != out[0].Dtype() {
			return nil, fmt.Errorf("%s: input %d: dtype %v differs from %v", name, i, d.Dtype(), out[0].Dtype())
		}
		if !d.IsNativelyAccessible() || d.RequiresIterator() {
			return nil, fmt.Errorf("%s: input %d: tensor is not contiguous", name, i)
		}
		out[i] = d
	}
	return out, nil
}

// buffer is a tensor an op keeps between runs; it is reallocated only when
// the dtype or shape changes.
type buffer struct {
	t *tensor.Dense
}

// get returns the buffer as a tensor of dtype dt and the given shape. Its
// contents are whatever the last run left there unless zero is set. Gorgonia
// may have reshaped the tensor in place (an unsafe Reshape downstream), so a
// buffer of the right size is reshaped back rather than compared by shape.
func (b *buffer) get(dt tensor.Dtype, zero bool, shape ...int) *tensor.Dense {
	size := tensor.Shape(shape).TotalSize()
	if b.t != nil && b.t.Dtype() == dt && b.t.DataSize() == size && !b.t.IsView() {
		if err := b.t.Reshape(shape...); err == nil {
			if zero {
				b.t.Zero()
			}
			return b.t
		}
	}
	b.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	return b.t
}

// scratch is a flat slice an op keeps between runs (im2col matrices, masks).
type scratch[T any] struct {
	s []T
}

// get returns a slice of length n, not cleared.
func (s *scratch[T]) get(n int) []T {
	if cap(s.s) < n {
		s.s = make([]T, n)
	}
	return s.s[:n]
}

// Float is the element types the kernels are written for.
type Float interface {
	float32 | float64
}

// parallelFor runs fn over [0, n) on up to GOMAXPROCS goroutines, each
// taking a contiguous range so that writes per worker stay local.
func parallelFor(n int, fn func(lo, hi int)) {
	parallelWorkers(n, func(_, lo, hi int) { fn(lo, hi) })
}

// workers is how many goroutines parallelWorkers uses for n items.
func workers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n))
}

// parallelWorkers is parallelFor that also tells fn its worker index in
// [0, workers(n)), for per-worker scratch. A worker may get several ranges:
// per-worker sums would depend on scheduling (use parallelChunked).
func parallelWorkers(n int, fn func(worker, lo, hi int)) {
	parallelChunked(n, chunksFor(n), func(worker, _, lo, hi int) { fn(worker, lo, hi) })
}

// chunksFor is how many ranges parallelWorkers cuts n items into: a few per
// worker, so that a worker whose thread the OS preempts (on a loaded machine)
// holds up only a small range while the others take the rest.
func chunksFor(n int) int { return min(n, 4*workers(n)) }

// parallelChunked cuts [0, n) into the given number of contiguous chunks
// (chunk c is [c*n/chunks, (c+1)*n/chunks)) and runs fn on each, the workers
// claiming chunks in order as they become free. fn learns the worker index
// in [0, workers(n)), for scratch, and the chunk index, for partial results
// that must not depend on scheduling.
func parallelChunked(n, chunks int, fn func(worker, chunk, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = max(1, min(chunks, n))
	nw := min(workers(n), chunks)
	if nw == 1 {
		for c := range chunks {
			fn(0, c, c*n/chunks, (c+1)*n/chunks)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				fn(w, c, c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}

// gemm is blas.Sgemm or blas.Dgemm by element type.
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	switch a := any(a).(type) {
	case []float32:
		return blas.Sgemm(tA, tB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		return blas.Dgemm(tA, tB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
	return fmt.Errorf("gemm: unsupported element type %T", a)
}

// firstErr collects the first error of parallel workers.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// checkShape reports a tensor whose shape is not want.
func checkShape(what string, d *tensor.Dense, want []int) error {
	if !d.Shape().Eq(tensor.Shape(want)) {
		return fmt.Errorf("%s: shape %v, want %v", what, d.Shape(), tensor.Shape(want))
	}
	return nil
}

// optData returns the data of in[i] as []T, or nil when there is no such
// input (an optional bias).
func optData[T Float](in []*tensor.Dense, i int) []T {
	if i >= len(in) {
		return nil
	}
	return in[i].Data().([]T)
}

// elementGrain is the fewest elements worth a goroutine of their own in an
// elementwise loop; below it the start-up costs more than the work.
const elementGrain = 1 << 15

// parallelChunks is parallelFor for cheap elementwise loops over n items.
func parallelChunks(n int, fn func(lo, hi int)) {
	chunks := (n + elementGrain - 1) / elementGrain
	parallelChunked(n, min(chunks, 4*workers(n)), func(_, _, lo, hi int) { fn(lo, hi) })
}
