package kernels

import (
	"errors"
	"fmt"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// SoftmaxCrossEntropy is the mean over the batch of -sum_k t_k log softmax(z)_k
// for logits z (N,K) and targets t (N,K), usually one-hot. The log-sum-exp is
// max-subtracted. The targets are data: the gradient goes to the logits only.
func SoftmaxCrossEntropy(logits, onehot *gorgonia.Node) (*gorgonia.Node, error) {
	if logits == nil || onehot == nil {
		return nil, errors.New("softmax cross-entropy: nil input")
	}
	ls, ts := logits.Shape(), onehot.Shape()
	if len(ls) != 2 || !ls.Eq(ts) {
		return nil, fmt.Errorf("softmax cross-entropy: logits %v and targets %v must both be (N,K)", ls, ts)
	}
	if logits.Dtype() != onehot.Dtype() {
		return nil, fmt.Errorf("softmax cross-entropy: logits are %v but targets are %v", logits.Dtype(), onehot.Dtype())
	}
	if ls[0] == 0 || ls[1] == 0 {
		return nil, fmt.Errorf("softmax cross-entropy: empty logits %v", ls)
	}
	op := &lossOp{scalarLoss{opkit.Base{Name: "SoftmaxCrossEntropy", Inputs: 2, Params: []int{ls[0], ls[1]}}}}
	loss, err := gorgonia.ApplyOp(op, logits, onehot)
	if err != nil {
		return nil, fmt.Errorf("softmax cross-entropy: %w", err)
	}
	return loss, nil
}

// scalarLoss is what the classification and regression losses share: two (N, K)
// inputs (logits or predictions, and targets; the params, fixed when the graph is
// built) and a scalar output, differentiable with respect to the first.
type scalarLoss struct{ opkit.Base }

func (scalarLoss) Type() hm.Type {
	return hm.NewFnType(opkit.TensorType(2), opkit.TensorType(2), hm.TypeVariable('a'))
}

func (scalarLoss) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}

func (scalarLoss) DiffWRT(int) []bool { return []bool{true, false} }

// args checks the forward pass's two values against the params (N, K).
func (op scalarLoss) args(vals []gorgonia.Value) (x, t *tensor.Dense, n, k int, err error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	n, k = op.Params[0], op.Params[1]
	if err := lossCheckSizes(in[0], in[1], n, k); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("%s: %w", op.Name, err)
	}
	return in[0], in[1], n, k, nil
}

// lossOp is the mean softmax cross-entropy.
type lossOp struct{ scalarLoss }

func (op *lossOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	z, t, n, k, err := op.args(vals)
	if err != nil {
		return nil, err
	}
	switch z.Dtype() {
	case tensor.Float32:
		return gorgonia.NewF32(float32(lossForward(z.Float32s(), t.Float32s(), n, k))), nil
	default:
		return gorgonia.NewF64(lossForward(z.Float64s(), t.Float64s(), n, k)), nil
	}
}

func (op *lossOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: expected 2 inputs, got %d", op.Name, len(inputs))
	}
	back := &lossGradOp{Base: opkit.Base{Name: "SoftmaxCrossEntropyGrad", Inputs: 3, Params: op.Params}}
	dz, err := gorgonia.ApplyOp(back, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return gorgonia.Nodes{dz, nil}, nil
}

// lossCheckSizes checks values by size only: an unsafe Reshape elsewhere in
// the graph may have changed a tensor's shape in place.
func lossCheckSizes(z, t *tensor.Dense, n, k int) error {
	if z.Shape().TotalSize() != n*k || t.Shape().TotalSize() != n*k {
		return fmt.Errorf("logits %v and targets %v, want (%d,%d) each", z.Shape(), t.Shape(), n, k)
	}
	return nil
}

// lossGradOp maps (z, t, dL/dloss) to dL/dz = g/N (softmax(z) sum_k t_k - t).
type lossGradOp struct {
	opkit.Base
	out opkit.Buffer
}

func (op *lossGradOp) Type() hm.Type {
	return hm.NewFnType(opkit.TensorType(2), opkit.TensorType(2), hm.TypeVariable('a'), opkit.TensorType(2))
}

func (op *lossGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.Params[0], op.Params[1]}, nil
}

func (op *lossGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	n, k := op.Params[0], op.Params[1]
	z, t, g, err := lossGradArgs(op.Name, vals, n, k)
	if err != nil {
		return nil, err
	}
	dz := op.out.Get(z.Dtype(), n, k)
	switch z.Dtype() {
	case tensor.Float32:
		lossBackward(z.Float32s(), t.Float32s(), dz.Float32s(), n, k, g)
	case tensor.Float64:
		lossBackward(z.Float64s(), t.Float64s(), dz.Float64s(), n, k, g)
	}
	return dz, nil
}

// lossGradArgs checks the inputs of a loss's gradient op (the n x k values it differentiates,
// the n x k targets and the upstream scalar gradient) and returns them.
func lossGradArgs(name string, vals []gorgonia.Value, n, k int) (z, t *tensor.Dense, g float64, err error) {
	if len(vals) != 3 {
		return nil, nil, 0, fmt.Errorf("%s: expected 3 inputs, got %d", name, len(vals))
	}
	args, err := opkit.Args(name, 2, vals[:2])
	if err != nil {
		return nil, nil, 0, err
	}
	z, t = args[0], args[1]
	if err := lossCheckSizes(z, t, n, k); err != nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if g, err = lossScalar(vals[2]); err != nil {
		return nil, nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return z, t, g, nil
}

// lossScalar reads the incoming gradient, a scalar value or a one-element tensor.
func lossScalar(v gorgonia.Value) (float64, error) {
	switch s := v.(type) {
	case *gorgonia.F64:
		return float64(*s), nil
	case *gorgonia.F32:
		return float64(*s), nil
	case tensor.Tensor:
		if s.Shape().TotalSize() == 1 {
			switch d := s.Data().(type) {
			case []float64:
				return d[0], nil
			case []float32:
				return float64(d[0]), nil
			case float64:
				return d, nil
			case float32:
				return float64(d), nil
			}
		}
	}
	return 0, fmt.Errorf("expected a float scalar gradient, got %T", v)
}

// lossRow returns log-sum-exp(z) and, when p is not nil, fills p with softmax(z).
func lossRow[T Float](z []T, p []float64) float64 {
	m := z[0]
	for _, v := range z[1:] {
		m = max(m, v)
	}
	var sum float64
	for j, v := range z {
		e := math.Exp(float64(v - m))
		if p != nil {
			p[j] = e
		}
		sum += e
	}
	if p != nil {
		for j := range p {
			p[j] /= sum
		}
	}
	return float64(m) + math.Log(sum)
}

func lossForward[T Float](z, t []T, n, k int) float64 {
	var total float64
	for i := range n {
		zs, ts := z[i*k:(i+1)*k], t[i*k:(i+1)*k]
		lse := lossRow(zs, nil)
		for j, tj := range ts {
			if tj != 0 {
				total += float64(tj) * (lse - float64(zs[j]))
			}
		}
	}
	return total / float64(n)
}

func lossBackward[T Float](z, t, dz []T, n, k int, g float64) {
	p := make([]float64, k)
	scale := g / float64(n)
	for i := range n {
		zs, ts, ds := z[i*k:(i+1)*k], t[i*k:(i+1)*k], dz[i*k:(i+1)*k]
		lossRow(zs, p)
		var mass float64
		for _, tj := range ts {
			mass += float64(tj)
		}
		for j := range ds {
			ds[j] = T(scale * (p[j]*mass - float64(ts[j])))
		}
	}
}
