package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// DropState is the side the next run of a ResolutionDrop pools to; 0 (or the
// input's own side) passes the input through unchanged. The trainer sets it
// before every step.
type DropState struct {
	Size int
}

// ResolutionDrop is the official Saliency-Sampler's warm-up of the sampled image:
// x (N, C, H, W) adaptively average-pooled to st.Size x st.Size, then upsampled
// bilinearly (align_corners false) back to H x W. The result is a function of
// the coarse image only, so the task network cannot use fine detail unless the
// sampler zooms. Differentiable in x; both steps are linear with weights summing
// to one, so the drop commutes with a per-channel normalisation.
func ResolutionDrop(x *gorgonia.Node, st *DropState) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), "resolution drop")
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("resolution drop: nil state")
	}
	op := &dropOp{Base: opkit.Base{Name: "resolutiondrop", Inputs: 1, Params: []int{n, c, h, w}, Tag: st}, st: st}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("resolution drop: %w", err)
	}
	return out, nil
}

type dropOp struct {
	opkit.Base
	st   *DropState
	size int // the side of the last forward run, 0 for a pass-through
	up   *bilinearPlan
	out  opkit.Buffer
	mid  floatScratch
	sums scratch[float64]
}

func (op *dropOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *dropOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

// plan fixes the side of this run and returns the upsampling plan, nil for a
// pass-through.
func (op *dropOp) plan() (*bilinearPlan, error) {
	h, w := op.Params[2], op.Params[3]
	s := op.st.Size
	if s < 0 || s > max(h, w) {
		return nil, fmt.Errorf("%s: size %d outside [0, %d]", op.Name, s, max(h, w))
	}
	if s == 0 || (s == h && s == w) {
		op.size = 0
		return nil, nil
	}
	op.size = s
	if op.up == nil || op.up.h != s {
		op.up = newBilinearPlan(s, s, h, w, false)
	}
	return op.up, nil
}

func (op *dropOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	p := op.Params
	if err := checkShape(op.Name+" input", in[0], p); err != nil {
		return nil, err
	}
	up, err := op.plan()
	if err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), p...)
	switch x := in[0].Data().(type) {
	case []float32:
		dropForward(op, up, x, out.Data().([]float32))
	case []float64:
		dropForward(op, up, x, out.Data().([]float64))
	}
	return out, nil
}

func dropForward[T Float](op *dropOp, up *bilinearPlan, x, y []T) {
	if up == nil {
		copy(y, x)
		return
	}
	n, c, h, w := op.Params[0], op.Params[1], op.Params[2], op.Params[3]
	s := op.size
	mid := floatScratchGet[T](&op.mid, n*c*s*s)
	avgPoolForward(x, mid, n*c, h, w, s, s, &op.sums)
	bilinearForward(up, mid, y, n*c)
}

func (op *dropOp) DiffWRT(int) []bool { return []bool{true} }

func (op *dropOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("resolution drop gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &dropGradOp{Base: opkit.Base{Name: "resolutiondrop.dx", Inputs: 1, Params: op.Params, Tag: op.st}, fwd: op}
	dx, err := gorgonia.ApplyOp(gop, grad)
	if err != nil {
		return nil, fmt.Errorf("resolution drop gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// dropGradOp is the adjoint of the forward run it follows (same side).
type dropGradOp struct {
	opkit.Base
	fwd  *dropOp
	out  opkit.Buffer
	mid  floatScratch
	sums scratch[float64]
}

func (op *dropGradOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *dropGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params...)), nil
}

func (op *dropGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	p := op.Params
	if err := checkShape(op.Name+" output gradient", in[0], p); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), p...)
	switch dy := in[0].Data().(type) {
	case []float32:
		dropBackward(op, dy, out.Data().([]float32))
	case []float64:
		dropBackward(op, dy, out.Data().([]float64))
	}
	return out, nil
}

func dropBackward[T Float](op *dropGradOp, dy, dx []T) {
	f := op.fwd
	if f.size == 0 {
		copy(dx, dy)
		return
	}
	n, c, h, w := op.Params[0], op.Params[1], op.Params[2], op.Params[3]
	s := f.size
	mid := floatScratchGet[T](&op.mid, n*c*s*s)
	bilinearBackward(f.up, dy, mid, n*c)
	avgPoolBackward(mid, dx, n*c, h, w, s, s, &op.sums)
}

func (op *dropGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *dropGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
