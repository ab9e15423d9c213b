// Package opkit is the machinery shared by the project's Gorgonia operations
// (internal/kernels, internal/sampler): the bookkeeping every op implements,
// the output tensor an op keeps from run to run, the checks of the values
// Gorgonia hands to Do, and a parallel for-loop over contiguous ranges.
//
// Ops that keep buffers hand out values the next run overwrites: copy what
// must outlive a step, and run one graph on one machine at a time.
package opkit

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Float is the element types the ops are written for.
type Float interface{ float32 | float64 }

// Base implements the bookkeeping methods of gorgonia.Op that do not depend
// on what the op computes. Name and Params go into the hash: Gorgonia merges
// nodes whose op hashes and children agree, so each variant of an op must
// hash differently.
type Base struct {
	Name   string
	Inputs int   // the op's arity
	Params []int // shape or other integer parameters; part of the name
	// Tag, when set, is an identity (such as the forward op's address) that
	// keeps ops sharing state with one particular node from being merged.
	Tag any
}

func (o Base) Arity() int            { return o.Inputs }
func (o Base) ReturnsPtr() bool      { return false }
func (o Base) CallsExtern() bool     { return false }
func (o Base) OverwritesInput() int  { return -1 }
func (o Base) WriteHash(h hash.Hash) { o.writeHash(h) }

// String is the name, followed by the parameters when there are any.
func (o Base) String() string {
	if len(o.Params) == 0 {
		return o.Name
	}
	return fmt.Sprintf("%s%v", o.Name, o.Params)
}

func (o Base) writeHash(h hash.Hash) {
	fmt.Fprintf(h, "zoomtrain.%s", o.String())
	if o.Tag != nil {
		fmt.Fprintf(h, "@%p", o.Tag)
	}
}

func (o Base) Hashcode() uint32 {
	h := fnv.New32a()
	o.writeHash(h)
	return h.Sum32()
}

// TensorType is the type of a float tensor of the given rank; all the tensors
// of one op share the element type variable.
func TensorType(dims int) gorgonia.TensorType {
	return gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// FnType is the Gorgonia type of an op taking tensors of ranks inDims and
// returning one of rank outDims, all of one element type.
func FnType(outDims int, inDims ...int) hm.Type {
	ts := make([]hm.Type, 0, len(inDims)+1)
	for _, d := range inDims {
		ts = append(ts, TensorType(d))
	}
	ts = append(ts, TensorType(outDims))
	return hm.NewFnType(ts...)
}

// ShapeOf returns the i-th input shape given to InferShape.
func ShapeOf(name string, in []gorgonia.DimSizer, i int) (tensor.Shape, error) {
	if i >= len(in) {
		return nil, fmt.Errorf("%s: input %d missing (got %d inputs)", name, i, len(in))
	}
	s, ok := in[i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%s: input %d: got a %T, want a tensor.Shape", name, i, in[i])
	}
	return s, nil
}

// RankedShape is ShapeOf for an input that must have dims dimensions.
func RankedShape(name string, in []gorgonia.DimSizer, i, dims int) (tensor.Shape, error) {
	s, err := ShapeOf(name, in, i)
	if err != nil {
		return nil, err
	}
	if len(s) != dims {
		return nil, fmt.Errorf("%s: input %d has shape %v, want %d dimensions", name, i, s, dims)
	}
	return s, nil
}

// Args checks the number of values handed to Do and returns them as
// contiguous dense tensors of one float dtype. A view that needs an iterator
// is copied into a contiguous tensor.
func Args(name string, want int, vals []gorgonia.Value) ([]*tensor.Dense, error) {
	if len(vals) != want {
		return nil, fmt.Errorf("%s: got %d inputs, want %d", name, len(vals), want)
	}
	out := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("%s: input %d is a %T, want a dense tensor", name, i, v)
		}
		if dt := d.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
			return nil, fmt.Errorf("%s: input %d: dtype %v is not float32 or float64", name, i, dt)
		}
		if i > 0 && d.Dtype() != out[0].Dtype() {
			return nil, fmt.Errorf("%s: input %d is %v, input 0 is %v", name, i, d.Dtype(), out[0].Dtype())
		}
		if !d.IsNativelyAccessible() {
			return nil, fmt.Errorf("%s: input %d is not in Go memory", name, i)
		}
		if d.RequiresIterator() {
			d = d.Materialize().(*tensor.Dense)
		}
		out[i] = d
	}
	return out, nil
}

// Buffer is a tensor an op keeps between runs, so that a training step
// allocates no new outputs; it is reallocated only when the dtype or size
// changes. A Buffer given a slot by ShareOutputs lives in memory it shares with
// the outputs of other ops whose values are not needed at the same time.
type Buffer struct {
	t    *tensor.Dense
	slot *slot
}

// Get returns the buffer as a tensor of dtype dt and the given shape, holding
// whatever the last run left there. Gorgonia's preallocated value is not used:
// the register it comes from may belong to another op's kept buffer. A
// downstream op may have reshaped the tensor in place (Gorgonia's unsafe
// Reshape), so a buffer of the right size is reshaped back rather than
// compared by shape.
func (b *Buffer) Get(dt tensor.Dtype, shape ...int) *tensor.Dense {
	size := tensor.Shape(shape).TotalSize()
	if b.t != nil && b.t.Dtype() == dt && b.t.DataSize() == size && !b.t.IsView() {
		if err := b.t.Reshape(shape...); err == nil {
			return b.t
		}
	}
	if back := b.slot.backing(dt, size); back != nil {
		b.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(back))
		return b.t
	}
	b.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	return b.t
}

// Tensor is the tensor the last Get returned, or nil.
func (b *Buffer) Tensor() *tensor.Dense { return b.t }
