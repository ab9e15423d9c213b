package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// MaxPool2DWindow is PyTorch's MaxPool2d(kernel_size=k, stride, padding) with
// ceil_mode off: windows of k x k cells every stride cells over the input padded
// by pad cells of -inf on each side, so Ho = (H + 2 pad - k) / stride + 1. The
// ResNet stem's pool is MaxPool2DWindow(x, 3, 2, 1). pad may be at most k/2, as
// in PyTorch, so that every window holds an input cell.
func MaxPool2DWindow(x *gorgonia.Node, k, stride, pad int) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), "maxpool2d")
	if err != nil {
		return nil, err
	}
	switch {
	case k < 1 || stride < 1:
		return nil, fmt.Errorf("maxpool2d: kernel %d and stride %d must be positive", k, stride)
	case pad < 0 || 2*pad > k:
		return nil, fmt.Errorf("maxpool2d: padding %d must be in [0, kernel/2 = %d]", pad, k/2)
	case h+2*pad < k || w+2*pad < k:
		return nil, fmt.Errorf("maxpool2d: kernel %d does not fit the padded %dx%d input", k, h+2*pad, w+2*pad)
	}
	op := &maxPoolWinOp{
		Base: opkit.Base{Name: "maxpool2d.window", Inputs: 1, Params: []int{n, c, h, w, k, stride, pad}},
		st:   &maxPoolState{},
	}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("maxpool2d: %w", err)
	}
	return out, nil
}

// poolWin is the geometry of a windowed max pool.
type poolWin struct {
	n, c, h, w, k, stride, pad, ho, wo int
}

func newPoolWin(p []int) poolWin {
	g := poolWin{n: p[0], c: p[1], h: p[2], w: p[3], k: p[4], stride: p[5], pad: p[6]}
	g.ho = (g.h+2*g.pad-g.k)/g.stride + 1
	g.wo = (g.w+2*g.pad-g.k)/g.stride + 1
	return g
}

func (g poolWin) inShape() []int  { return []int{g.n, g.c, g.h, g.w} }
func (g poolWin) outShape() []int { return []int{g.n, g.c, g.ho, g.wo} }

// maxPoolWinOp shares maxPoolState with its gradient, as maxPoolOp does.
type maxPoolWinOp struct {
	opkit.Base
	st *maxPoolState
}

func (op *maxPoolWinOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *maxPoolWinOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(newPoolWin(op.Params).outShape()), nil
}

func (op *maxPoolWinOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	g := newPoolWin(op.Params)
	if err := checkShape(op.Name+" input", in[0], g.inShape()); err != nil {
		return nil, err
	}
	out := op.st.out.Get(in[0].Dtype(), g.outShape()...)
	idx := op.st.argmax.get(g.n * g.c * g.ho * g.wo)
	switch x := in[0].Data().(type) {
	case []float32:
		maxPoolWinForward(g, x, out.Data().([]float32), idx)
	case []float64:
		maxPoolWinForward(g, x, out.Data().([]float64), idx)
	}
	op.st.of = in[0].Uintptr()
	return out, nil
}

// maxPoolWinForward takes the first maximum of each window's cells inside the
// input, in row-major order (PyTorch's choice on ties), and records where it was.
func maxPoolWinForward[T Float](g poolWin, x, y []T, idx []int32) {
	inArea, outArea := g.h*g.w, g.ho*g.wo
	opkit.For(g.n*g.c, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := x[p*inArea : (p+1)*inArea]
			yp, ip := y[p*outArea:(p+1)*outArea], idx[p*outArea:(p+1)*outArea]
			for oy := range g.ho {
				r0 := oy*g.stride - g.pad
				r1 := min(r0+g.k, g.h)
				r0 = max(r0, 0)
				for ox := range g.wo {
					c0 := ox*g.stride - g.pad
					c1 := min(c0+g.k, g.w)
					c0 = max(c0, 0)
					best := r0*g.w + c0
					for r := r0; r < r1; r++ {
						for q := r*g.w + c0; q < r*g.w+c1; q++ {
							if xp[q] > xp[best] {
								best = q
							}
						}
					}
					yp[oy*g.wo+ox], ip[oy*g.wo+ox] = xp[best], int32(best)
				}
			}
		}
	})
}

func (op *maxPoolWinOp) DiffWRT(int) []bool { return []bool{true} }

func (op *maxPoolWinOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("maxpool2d gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &maxPoolWinGradOp{Base: opkit.Base{Name: "maxpool2d.window.dx", Inputs: 2, Params: op.Params, Tag: op.st}, st: op.st}
	dx, err := gorgonia.ApplyOp(gop, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("maxpool2d gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// maxPoolWinGradOp (children x, dy) adds each output gradient to the input that
// was its window's maximum; overlapping windows may pick one input several times.
type maxPoolWinGradOp struct {
	opkit.Base
	st  *maxPoolState
	out opkit.Buffer
}

func (op *maxPoolWinGradOp) Type() hm.Type { return opkit.FnType(4, 4, 4) }

func (op *maxPoolWinGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(newPoolWin(op.Params).inShape()), nil
}

func (op *maxPoolWinGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	g := newPoolWin(op.Params)
	if err := checkShape(op.Name+" input", in[0], g.inShape()); err != nil {
		return nil, err
	}
	if err := checkShape(op.Name+" output gradient", in[1], g.outShape()); err != nil {
		return nil, err
	}
	st := op.st
	idx := st.argmax.get(g.n * g.c * g.ho * g.wo)
	out := op.out.Get(in[0].Dtype(), g.inShape()...)
	// As in maxPoolGradOp: recompute the indices unless the forward pass just
	// took them from this very input.
	recompute := st.of != in[0].Uintptr() || st.of == 0
	switch x := in[0].Data().(type) {
	case []float32:
		if recompute {
			maxPoolWinForward(g, x, make([]float32, len(idx)), idx)
		}
		maxPoolBackward(in[1].Data().([]float32), out.Data().([]float32), idx, g.n*g.c, g.h*g.w, g.ho*g.wo)
	case []float64:
		if recompute {
			maxPoolWinForward(g, x, make([]float64, len(idx)), idx)
		}
		maxPoolBackward(in[1].Data().([]float64), out.Data().([]float64), idx, g.n*g.c, g.h*g.w, g.ho*g.wo)
	}
	st.of = in[0].Uintptr()
	return out, nil
}

func (op *maxPoolWinGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *maxPoolWinGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
