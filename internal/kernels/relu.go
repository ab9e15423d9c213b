package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ReLU is max(x, 0) elementwise, for a tensor of any rank.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) {
	op := &reluOp{opBase: opBase{name: "relu", arity: 1, params: append([]int(nil), x.Shape()...)}}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("relu: %w", err)
	}
	return out, nil
}

// reluOp is the forward op; reluGradOp (children x, dy) passes dy where x > 0.
type reluOp struct {
	opBase
	out buffer
}

func (op *reluOp) Type() hm.Type { return fnType(len(op.params), len(op.params)) }

func (op *reluOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.params...)), nil
}

func (op *reluOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := denseArgs(op.name, 1, vals)
	if err != nil {
		return nil, err
	}
	if err := checkShape(op.name+" input", in[0], op.params); err != nil {
		return nil, err
	}
	out := op.out.get(in[0].Dtype(), false, op.params...)
	switch x := in[0].Data().(type) {
	case []float32:
		reluForward(x, out.Data().([]float32))
	case []float64:
		reluForward(x, out.Data().([]float64))
	}
	return out, nil
}

func reluForward[T Float](x, y []T) {
	parallelChunks(len(x), func(lo, hi int) {
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
	gop := &reluGradOp{opBase: opBase{name: "relu.dx", arity: 2, params: op.params}}
	dx, err := gorgonia.ApplyOp(gop, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("relu gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

type reluGradOp struct {
	opBase
	out buffer
}

func (op *reluGradOp) Type() hm.Type { return fnType(len(op.params), len(op.params), len(op.params)) }

func (op *reluGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.params...)), nil
}

func (op *reluGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := denseArgs(op.name, 2, vals)
	if err != nil {
		return nil, err
	}
	for i, what := range []string{" input", " output gradient"} {
		if err := checkShape(op.name+what, in[i], op.params); err != nil {
			return nil, err
		}
	}
	out := op.out.get(in[0].Dtype(), false, op.params...)
	switch x := in[0].Data().(type) {
	case []float32:
		reluBackward(x, in[1].Data().([]float32), out.Data().([]float32))
	case []float64:
		reluBackward(x, in[1].Data().([]float64), out.Data().([]float64))
	}
	return out, nil
}

// reluBackward takes the derivative at 0 as 0, as PyTorch does.
func reluBackward[T Float](x, dy, dx []T) {
	parallelChunks(len(x), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if x[i] > 0 {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	})
}

func (op *reluGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *reluGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.name)
}
