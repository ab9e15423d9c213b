package kernels

import (
	"fmt"
	"slices"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// Linear is PyTorch's Linear: x (N, in), w (out, in) and b (out) or nil give
// x w^T + b, (N, out). Differentiable in x, w, b, but for those opts make Fixed.
func Linear(x, w, b *gorgonia.Node, opts ...Option) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if xs.Dims() != 2 || ws.Dims() != 2 || xs[1] != ws[1] {
		return nil, fmt.Errorf("linear: input %v and weight %v: want (N, in) and (out, in)", xs, ws)
	}
	children := gorgonia.Nodes{x, w}
	if b != nil {
		if bs := b.Shape(); bs.Dims() != 1 || bs[0] != ws[0] {
			return nil, fmt.Errorf("linear: bias shape %v: want (%d)", bs, ws[0])
		}
		children = append(children, b)
	}
	diff := gradsOf(children, opts)
	op := &linearOp{Base: opkit.Base{Name: gradName("linear", diff), Inputs: len(children), Params: []int{xs[0], ws[1], ws[0]}}, diff: diff}
	out, err := gorgonia.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	return out, nil
}

// linearOp's params are n, in, out.
type linearOp struct {
	opkit.Base
	diff []bool // per input: whether it gets a gradient
	out  opkit.Buffer
}

func (op *linearOp) Type() hm.Type {
	if op.Inputs == 3 {
		return opkit.FnType(2, 2, 2, 1)
	}
	return opkit.FnType(2, 2, 2)
}

func (op *linearOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.Params[0], op.Params[2]}, nil
}

func (op *linearOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, op.Inputs, vals)
	if err != nil {
		return nil, err
	}
	n, ni, no := op.Params[0], op.Params[1], op.Params[2]
	if err := checkShape("linear input", in[0], []int{n, ni}); err != nil {
		return nil, err
	}
	if err := checkShape("linear weight", in[1], []int{no, ni}); err != nil {
		return nil, err
	}
	if op.Inputs == 3 {
		if err := checkShape("linear bias", in[2], []int{no}); err != nil {
			return nil, err
		}
	}
	out := op.out.Get(in[0].Dtype(), n, no)
	switch x := in[0].Data().(type) {
	case []float32:
		err = linearForward(x, in[1].Data().([]float32), optData[float32](in, 2), out.Data().([]float32), n, ni, no)
	case []float64:
		err = linearForward(x, in[1].Data().([]float64), optData[float64](in, 2), out.Data().([]float64), n, ni, no)
	}
	if err != nil {
		return nil, fmt.Errorf("linear: %w", err)
	}
	return out, nil
}

func linearForward[T Float](x, w, b, y []T, n, ni, no int) error {
	beta := T(0)
	if b != nil {
		for i := range n {
			copy(y[i*no:(i+1)*no], b)
		}
		beta = 1
	}
	return gemm(false, true, n, no, ni, 1, x, ni, w, ni, beta, y, no)
}

func (op *linearOp) DiffWRT(int) []bool { return slices.Clone(op.diff) }

func (op *linearOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Inputs {
		return nil, fmt.Errorf("linear gradient: expected %d inputs, got %d", op.Inputs, len(inputs))
	}
	grads := make(gorgonia.Nodes, op.Inputs)
	var err error
	if op.diff[0] {
		if grads[0], err = gorgonia.ApplyOp(&linearGradOp{Base: opkit.Base{Name: "linear.dx", Inputs: 2, Params: op.Params}, wrtInput: true}, inputs[1], grad); err != nil {
			return nil, fmt.Errorf("linear input gradient: %w", err)
		}
	}
	if op.diff[1] {
		if grads[1], err = gorgonia.ApplyOp(&linearGradOp{Base: opkit.Base{Name: "linear.dw", Inputs: 2, Params: op.Params}}, inputs[0], grad); err != nil {
			return nil, fmt.Errorf("linear weight gradient: %w", err)
		}
	}
	if op.Inputs == 3 && op.diff[2] {
		if grads[2], err = channelSum(grad); err != nil {
			return nil, fmt.Errorf("linear bias gradient: %w", err)
		}
	}
	return grads, nil
}

// linearGradOp is dy w (children w, dy) or dy^T x (children x, dy).
type linearGradOp struct {
	opkit.Base
	wrtInput bool
	out      opkit.Buffer
}

func (op *linearGradOp) Type() hm.Type { return opkit.FnType(2, 2, 2) }

func (op *linearGradOp) outShape() []int {
	if op.wrtInput {
		return []int{op.Params[0], op.Params[1]}
	}
	return []int{op.Params[2], op.Params[1]}
}

func (op *linearGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.outShape()), nil
}

func (op *linearGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	n, ni, no := op.Params[0], op.Params[1], op.Params[2]
	other := []int{n, ni}
	if op.wrtInput {
		other = []int{no, ni}
	}
	if err := checkShape(op.Name+" operand", in[0], other); err != nil {
		return nil, err
	}
	if err := checkShape(op.Name+" output gradient", in[1], []int{n, no}); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), op.outShape()...)
	switch a := in[0].Data().(type) {
	case []float32:
		err = linearBackward(op.wrtInput, a, in[1].Data().([]float32), out.Data().([]float32), n, ni, no)
	case []float64:
		err = linearBackward(op.wrtInput, a, in[1].Data().([]float64), out.Data().([]float64), n, ni, no)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return out, nil
}

// linearBackward computes dx = dy w when wrtInput (a is w), else dw = dy^T x
// (a is x).
func linearBackward[T Float](wrtInput bool, a, dy, out []T, n, ni, no int) error {
	if wrtInput {
		return gemm(false, false, n, ni, no, 1, dy, no, a, ni, 0, out, ni)
	}
	return gemm(true, false, no, ni, n, 1, dy, no, a, ni, 0, out, ni)
}

func (op *linearGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *linearGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}

// Add is the elementwise sum of two tensors of one shape (a residual
// connection); both gradients are the output gradient.
func Add(a, b *gorgonia.Node) (*gorgonia.Node, error) {
	if !a.Shape().Eq(b.Shape()) {
		return nil, fmt.Errorf("add: shapes %v and %v differ", a.Shape(), b.Shape())
	}
	op := &addOp{Base: opkit.Base{Name: "add", Inputs: 2, Params: append([]int(nil), a.Shape()...)}}
	out, err := gorgonia.ApplyOp(op, a, b)
	if err != nil {
		return nil, fmt.Errorf("add: %w", err)
	}
	return out, nil
}

type addOp struct {
	opkit.Base
	out opkit.Buffer
}

func (op *addOp) Type() hm.Type { d := len(op.Params); return opkit.FnType(d, d, d) }

func (op *addOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *addOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	for i := range in {
		if err := checkShape(op.Name+" operand", in[i], op.Params); err != nil {
			return nil, err
		}
	}
	out := op.out.Get(in[0].Dtype(), op.Params...)
	switch a := in[0].Data().(type) {
	case []float32:
		addInto(a, in[1].Data().([]float32), out.Data().([]float32))
	case []float64:
		addInto(a, in[1].Data().([]float64), out.Data().([]float64))
	}
	return out, nil
}

func addInto[T Float](a, b, out []T) {
	opkit.ForElements(len(a), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] + b[i]
		}
	})
}

func (op *addOp) DiffWRT(inputs int) []bool { return []bool{true, true} }

func (op *addOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{grad, grad}, nil
}
