package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// Lerp is linear interpolation along one axis of in cells resized to out: output
// o reads (1-F[o]) x[I0[o]] + F[o] x[I1[o]].
type Lerp struct {
	I0, I1 []int
	F      []float64
}

// NewLerp returns PyTorch's bilinear source positions for an axis of in cells
// resized to out. With alignCorners the end cells' centres map onto each other
// (src = o (in-1)/(out-1)); without, the cells' edges do (src = (o+0.5) in/out
// - 0.5, clamped at 0), PyTorch's default since 0.4.0.
func NewLerp(in, out int, alignCorners bool) Lerp {
	l := Lerp{I0: make([]int, out), I1: make([]int, out), F: make([]float64, out)}
	for o := range out {
		var src float64
		switch {
		case alignCorners && out > 1:
			src = float64(o) * float64(in-1) / float64(out-1)
		case !alignCorners:
			src = max(0, (float64(o)+0.5)*float64(in)/float64(out)-0.5)
		}
		i0 := min(int(src), in-1)
		l.I0[o], l.I1[o], l.F[o] = i0, min(i0+1, in-1), src-float64(i0)
	}
	return l
}

// Bilinear is PyTorch's interpolate(mode="bilinear") of x (N, C, H, W) to
// (N, C, oh, ow), differentiable in x.
func Bilinear(x *gorgonia.Node, oh, ow int, alignCorners bool) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), "bilinear")
	if err != nil {
		return nil, err
	}
	if oh < 1 || ow < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("bilinear: output %dx%d from input %dx%d: sizes must be positive", oh, ow, h, w)
	}
	ac := 0
	if alignCorners {
		ac = 1
	}
	op := &bilinearOp{Base: opkit.Base{Name: "bilinear", Inputs: 1, Params: []int{n, c, h, w, oh, ow, ac}}}
	op.plan = newBilinearPlan(h, w, oh, ow, alignCorners)
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("bilinear: %w", err)
	}
	return out, nil
}

// bilinearPlan is the interpolation of one H x W plane to oh x ow.
type bilinearPlan struct {
	h, w, oh, ow int
	ys, xs       Lerp
}

func newBilinearPlan(h, w, oh, ow int, alignCorners bool) *bilinearPlan {
	return &bilinearPlan{h: h, w: w, oh: oh, ow: ow, ys: NewLerp(h, oh, alignCorners), xs: NewLerp(w, ow, alignCorners)}
}

// forward interpolates planes of x into y.
func bilinearForward[T Float](p *bilinearPlan, x, y []T, planes int) {
	in, out := p.h*p.w, p.oh*p.ow
	opkit.For(planes, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			xp, yp := x[q*in:(q+1)*in], y[q*out:(q+1)*out]
			for oy := range p.oh {
				fy := p.ys.F[oy]
				r0, r1 := xp[p.ys.I0[oy]*p.w:][:p.w], xp[p.ys.I1[oy]*p.w:][:p.w]
				row := yp[oy*p.ow:][:p.ow]
				for ox := range row {
					fx := p.xs.F[ox]
					c0, c1 := p.xs.I0[ox], p.xs.I1[ox]
					top := (1-fx)*float64(r0[c0]) + fx*float64(r0[c1])
					bot := (1-fx)*float64(r1[c0]) + fx*float64(r1[c1])
					row[ox] = T((1-fy)*top + fy*bot)
				}
			}
		}
	})
}

// backward is the adjoint: dx (overwritten) gets each output gradient spread
// back to the four cells it read.
func bilinearBackward[T Float](p *bilinearPlan, dy, dx []T, planes int) {
	in, out := p.h*p.w, p.oh*p.ow
	opkit.For(planes, func(lo, hi int) {
		acc := make([]float64, in)
		for q := lo; q < hi; q++ {
			clear(acc)
			gp := dy[q*out : (q+1)*out]
			for oy := range p.oh {
				fy := p.ys.F[oy]
				o0, o1 := p.ys.I0[oy]*p.w, p.ys.I1[oy]*p.w
				for ox, g := range gp[oy*p.ow : (oy+1)*p.ow] {
					fx := p.xs.F[ox]
					c0, c1 := p.xs.I0[ox], p.xs.I1[ox]
					v := float64(g)
					acc[o0+c0] += (1 - fy) * (1 - fx) * v
					acc[o0+c1] += (1 - fy) * fx * v
					acc[o1+c0] += fy * (1 - fx) * v
					acc[o1+c1] += fy * fx * v
				}
			}
			d := dx[q*in : (q+1)*in]
			for i, v := range acc {
				d[i] = T(v)
			}
		}
	})
}

type bilinearOp struct {
	opkit.Base
	plan *bilinearPlan
	out  opkit.Buffer
}

func (op *bilinearOp) outShape() []int {
	p := op.Params
	return []int{p[0], p[1], p[4], p[5]}
}

func (op *bilinearOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *bilinearOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.outShape()), nil
}

func (op *bilinearOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	p := op.Params
	if err := checkShape(op.Name+" input", in[0], p[:4]); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), op.outShape()...)
	switch x := in[0].Data().(type) {
	case []float32:
		bilinearForward(op.plan, x, out.Data().([]float32), p[0]*p[1])
	case []float64:
		bilinearForward(op.plan, x, out.Data().([]float64), p[0]*p[1])
	}
	return out, nil
}

func (op *bilinearOp) DiffWRT(int) []bool { return []bool{true} }

func (op *bilinearOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("bilinear gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &bilinearGradOp{Base: opkit.Base{Name: "bilinear.dx", Inputs: 1, Params: op.Params}, fwd: op}
	dx, err := gorgonia.ApplyOp(gop, grad)
	if err != nil {
		return nil, fmt.Errorf("bilinear gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// bilinearGradOp maps the output gradient to the input gradient.
type bilinearGradOp struct {
	opkit.Base
	fwd *bilinearOp
	out opkit.Buffer
}

func (op *bilinearGradOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *bilinearGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params[:4]...)), nil
}

func (op *bilinearGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	p := op.Params
	if err := checkShape(op.Name+" output gradient", in[0], op.fwd.outShape()); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), p[:4]...)
	switch dy := in[0].Data().(type) {
	case []float32:
		bilinearBackward(op.fwd.plan, dy, out.Data().([]float32), p[0]*p[1])
	case []float64:
		bilinearBackward(op.fwd.plan, dy, out.Data().([]float64), p[0]*p[1])
	}
	return out, nil
}

func (op *bilinearGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *bilinearGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
