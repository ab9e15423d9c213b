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

// RegressionLossKind names a regression loss: the penalty of one difference d between
// a prediction and its target, averaged over every target of every example.
type RegressionLossKind string

// The regression losses.
const (
	LossL2       RegressionLossKind = "l2"        // d^2
	LossL1       RegressionLossKind = "l1"        // |d|
	LossSmoothL1 RegressionLossKind = "smooth_l1" // d^2/2 for |d| < 1, |d| - 1/2 beyond (Huber, delta 1)
)

// Validate reports an unknown kind.
func (k RegressionLossKind) Validate() error {
	switch k {
	case LossL2, LossL1, LossSmoothL1:
		return nil
	}
	return fmt.Errorf("unknown regression loss %q (want l2, l1 or smooth_l1)", string(k))
}

// Penalty is the loss of one difference d = prediction - target.
func (k RegressionLossKind) Penalty(d float64) float64 {
	a := math.Abs(d)
	switch k {
	case LossL1:
		return a
	case LossSmoothL1:
		if a < 1 {
			return d * d / 2
		}
		return a - 0.5
	}
	return d * d
}

// slope is the derivative of Penalty at d (0 at the kink of l1).
func (k RegressionLossKind) slope(d float64) float64 {
	switch k {
	case LossL1:
		return sign(d)
	case LossSmoothL1:
		if math.Abs(d) < 1 {
			return d
		}
		return sign(d)
	}
	return 2 * d
}

func sign(d float64) float64 {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	}
	return 0
}

// RegressionLoss is the mean over the N x T entries of (N, T) predictions and targets of
// kind's penalty of their difference. The targets are data: the gradient goes to the
// predictions only.
func RegressionLoss(pred, target *gorgonia.Node, kind RegressionLossKind) (*gorgonia.Node, error) {
	if pred == nil || target == nil {
		return nil, errors.New("regression loss: nil input")
	}
	if err := kind.Validate(); err != nil {
		return nil, err
	}
	ps, ts := pred.Shape(), target.Shape()
	if len(ps) != 2 || !ps.Eq(ts) {
		return nil, fmt.Errorf("regression loss: predictions %v and targets %v must both be (N,T)", ps, ts)
	}
	if pred.Dtype() != target.Dtype() {
		return nil, fmt.Errorf("regression loss: predictions are %v but targets are %v", pred.Dtype(), target.Dtype())
	}
	if ps[0] == 0 || ps[1] == 0 {
		return nil, fmt.Errorf("regression loss: empty predictions %v", ps)
	}
	op := &regLossOp{scalarLoss: scalarLoss{opkit.Base{Name: "RegressionLoss_" + string(kind), Inputs: 2, Params: []int{ps[0], ps[1]}}}, kind: kind}
	loss, err := gorgonia.ApplyOp(op, pred, target)
	if err != nil {
		return nil, fmt.Errorf("regression loss: %w", err)
	}
	return loss, nil
}

// regLossOp's params are (N, T); the kind is in its name, so ops of two kinds hash apart.
type regLossOp struct {
	scalarLoss
	kind RegressionLossKind
}

func (op *regLossOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	p, t, _, _, err := op.args(vals)
	if err != nil {
		return nil, err
	}
	switch p.Dtype() {
	case tensor.Float32:
		return gorgonia.NewF32(float32(regLossForward(op.kind, p.Float32s(), t.Float32s()))), nil
	default:
		return gorgonia.NewF64(regLossForward(op.kind, p.Float64s(), t.Float64s())), nil
	}
}

func (op *regLossOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: expected 2 inputs, got %d", op.Name, len(inputs))
	}
	back := &regLossGradOp{Base: opkit.Base{Name: op.Name + "Grad", Inputs: 3, Params: op.Params}, kind: op.kind}
	dp, err := gorgonia.ApplyOp(back, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return gorgonia.Nodes{dp, nil}, nil
}

// regLossGradOp maps (p, t, dL/dloss) to dL/dp = g/(N T) penalty'(p - t).
type regLossGradOp struct {
	opkit.Base
	kind RegressionLossKind
	out  opkit.Buffer
}

func (op *regLossGradOp) Type() hm.Type {
	return hm.NewFnType(opkit.TensorType(2), opkit.TensorType(2), hm.TypeVariable('a'), opkit.TensorType(2))
}

func (op *regLossGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.Params[0], op.Params[1]}, nil
}

func (op *regLossGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	n, k := op.Params[0], op.Params[1]
	p, t, g, err := lossGradArgs(op.Name, vals, n, k)
	if err != nil {
		return nil, err
	}
	dp := op.out.Get(p.Dtype(), n, k)
	switch p.Dtype() {
	case tensor.Float32:
		regLossBackward(op.kind, p.Float32s(), t.Float32s(), dp.Float32s(), g)
	case tensor.Float64:
		regLossBackward(op.kind, p.Float64s(), t.Float64s(), dp.Float64s(), g)
	}
	return dp, nil
}

func regLossForward[T Float](kind RegressionLossKind, p, t []T) float64 {
	var total float64
	for i := range p {
		total += kind.Penalty(float64(p[i]) - float64(t[i]))
	}
	return total / float64(len(p))
}

func regLossBackward[T Float](kind RegressionLossKind, p, t, dp []T, g float64) {
	scale := g / float64(len(p))
	for i := range p {
		dp[i] = T(scale * kind.slope(float64(p[i])-float64(t[i])))
	}
}
