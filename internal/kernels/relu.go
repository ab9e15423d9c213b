package kernels

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// ReLU is max(x, 0) elementwise, for a tensor of any rank.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) {
	op := &reluOp{Base: opkit.Base{Name: "relu", Inputs: 1, Params: append([]int(nil), x.Shape()...)}}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("relu: %w", err)
	}
	return out, nil
}

// reluOp is the forward op; reluGradOp (children y = relu(x), dy) passes dy where
// y > 0, which is where x > 0. Reading y rather than x lets x's memory go once the
// forward op has read it (opkit.ShareOutputs): y is kept for the next layer's weight
// gradient anyway.
type reluOp struct {
	opkit.Base
	out opkit.Buffer
}

func (op *reluOp) Type() hm.Type { return opkit.FnType(len(op.Params), len(op.Params)) }

func (op *reluOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *reluOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	if err := checkShape(op.Name+" input", in[0], op.Params); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), op.Params...)
	switch x := in[0].Data().(type) {
	case []float32:
		reluForward(x, out.Data().([]float32))
	case []float64:
		reluForward(x, out.Data().([]float64))
	}
	return out, nil
}

func reluForward[T Float](x, y []T) {
	opkit.ForElements(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = max(x[i], 0)
		}
	})
}

func (op *reluOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *reluOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("relu gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &reluGradOp{Base: opkit.Base{Name: "relu.dx", Inputs: 2, Params: op.Params}}
	dx, err := gorgonia.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, fmt.Errorf("relu gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

type reluGradOp struct {
	opkit.Base
	out opkit.Buffer
}

func (op *reluGradOp) Type() hm.Type {
	return opkit.FnType(len(op.Params), len(op.Params), len(op.Params))
}

func (op *reluGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *reluGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	for i, what := range []string{" input", " output gradient"} {
		if err := checkShape(op.Name+what, in[i], op.Params); err != nil {
			return nil, err
		}
	}
	out := op.out.Get(in[0].Dtype(), op.Params...)
	switch x := in[0].Data().(type) {
	case []float32:
		reluBackward(x, in[1].Data().([]float32), out.Data().([]float32))
	case []float64:
		reluBackward(x, in[1].Data().([]float64), out.Data().([]float64))
	}
	return out, nil
}

// reluBackward takes the derivative at 0 as 0, as PyTorch does. The sign
// test is done on the bits: a compare-and-branch on random signs mispredicts
// half the time and made this loop several times slower.
func reluBackward[T Float](x, dy, dx []T) {
	switch x := any(x).(type) {
	case []float32:
		dy, dx := any(dy).([]float32), any(dx).([]float32)
		opkit.ForElements(len(x), func(lo, hi int) {
			for i, v := range x[lo:hi] {
				// drop is all ones unless v > 0 (bits > 0 as a signed int).
				drop := uint32((int64(int32(math.Float32bits(v))) - 1) >> 63)
				dx[lo+i] = math.Float32frombits(math.Float32bits(dy[lo+i]) &^ drop)
			}
		})
	case []float64:
		dy, dx := any(dy).([]float64), any(dx).([]float64)
		opkit.ForElements(len(x), func(lo, hi int) {
			for i, v := range x[lo:hi] {
				b := int64(math.Float64bits(v))
				// b-1 only wraps for -0 (MinInt64), which must be dropped too.
				drop := uint64((b-1)>>63) | uint64(b>>63)
				dx[lo+i] = math.Float64frombits(math.Float64bits(dy[lo+i]) &^ drop)
			}
		})
	}
}

func (op *reluGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *reluGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
