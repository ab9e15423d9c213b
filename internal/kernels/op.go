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

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
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

// denseArg checks the number of values handed to Do and returns them as
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
// contents are whatever the last run left there unless zero is set.
func (b *buffer) get(dt tensor.Dtype, zero bool, shape ...int) *tensor.Dense {
	if b.t != nil && b.t.Dtype() == dt && b.t.Shape().Eq(tensor.Shape(shape)) {
		if zero {
			b.t.Zero()
		}
		return b.t
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
	~float32 | ~float64
}

// parallelFor runs fn(i) for i in [0, n) on up to GOMAXPROCS goroutines,
// each taking a contiguous range so that writes per worker stay local.
func parallelFor(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
