package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// ImageNetStats returns ImageNet's per-channel mean and standard deviation of RGB
// values in [0, 1], the normalisation torchvision's pretrained networks expect.
func ImageNetStats() (mean, std []float64) {
	return []float64{0.485, 0.456, 0.406}, []float64{0.229, 0.224, 0.225}
}

// Normalize maps each channel c of x (N, C, H, W) to (x - mean[c]) / std[c],
// differentiable in x.
func Normalize(x *gorgonia.Node, mean, std []float64) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), "normalize")
	if err != nil {
		return nil, err
	}
	if len(mean) != c || len(std) != c {
		return nil, fmt.Errorf("normalize: %d means and %d deviations for %d channels", len(mean), len(std), c)
	}
	st := &normState{scale: make([]float64, c), shift: make([]float64, c)}
	for i := range c {
		if !(std[i] > 0) {
			return nil, fmt.Errorf("normalize: channel %d: deviation %v is not positive", i, std[i])
		}
		st.scale[i], st.shift[i] = 1/std[i], -mean[i]/std[i]
	}
	// The tag keeps normalisations with other constants from being merged.
	op := &normOp{Base: opkit.Base{Name: "normalize", Inputs: 1, Params: []int{n, c, h, w}, Tag: st}, st: st}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	return out, nil
}

// normState is y = scale[c] x + shift[c].
type normState struct {
	scale, shift []float64
}

// apply writes scale x + shift (shift nil: none) for the planes of x into y.
func normApply[T Float](st *normState, x, y []T, n, c, area int, withShift bool) {
	opkit.For(n*c, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % c
			a, b := T(st.scale[ch]), T(0)
			if withShift {
				b = T(st.shift[ch])
			}
			xs, ys := x[p*area:(p+1)*area], y[p*area:(p+1)*area]
			for i, v := range xs {
				ys[i] = a*v + b
			}
		}
	})
}

type normOp struct {
	opkit.Base
	st  *normState
	out opkit.Buffer
}

func (op *normOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *normOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *normOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return normDo(op.Name, op.Params, op.st, &op.out, vals, true)
}

func normDo(name string, p []int, st *normState, buf *opkit.Buffer, vals []gorgonia.Value, withShift bool) (gorgonia.Value, error) {
	in, err := opkit.Args(name, 1, vals)
	if err != nil {
		return nil, err
	}
	if err := checkShape(name+" input", in[0], p); err != nil {
		return nil, err
	}
	out := buf.Get(in[0].Dtype(), p...)
	switch x := in[0].Data().(type) {
	case []float32:
		normApply(st, x, out.Data().([]float32), p[0], p[1], p[2]*p[3], withShift)
	case []float64:
		normApply(st, x, out.Data().([]float64), p[0], p[1], p[2]*p[3], withShift)
	}
	return out, nil
}

func (op *normOp) DiffWRT(int) []bool { return []bool{true} }

func (op *normOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("normalize gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &normGradOp{Base: opkit.Base{Name: "normalize.dx", Inputs: 1, Params: op.Params, Tag: op.st}, st: op.st}
	dx, err := gorgonia.ApplyOp(gop, grad)
	if err != nil {
		return nil, fmt.Errorf("normalize gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// normGradOp scales the output gradient by each channel's 1/std.
type normGradOp struct {
	opkit.Base
	st  *normState
	out opkit.Buffer
}

func (op *normGradOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *normGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *normGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return normDo(op.Name, op.Params, op.st, &op.out, vals, false)
}

func (op *normGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *normGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
