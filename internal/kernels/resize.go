package kernels

import (
	"errors"
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// Resize resamples the maps of x (N,C,H,W) to (N,C,oh,ow) the way PyTorch's
// F.interpolate(x, size, mode="bilinear", align_corners=False, antialias=True)
// does: a triangle filter, widened by the scale factor along an axis that
// shrinks so that every input pixel contributes, with weights normalised to
// sum to one; along an axis that grows it is plain bilinear interpolation.
// The op is linear, so its gradient is the transpose.
func Resize(x *gorgonia.Node, oh, ow int) (*gorgonia.Node, error) {
	if x == nil {
		return nil, errors.New("resize: nil input")
	}
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("resize: input shape %v is not (N,C,H,W)", s)
	}
	plan, err := newResizePlan(s[2], s[3], oh, ow)
	if err != nil {
		return nil, fmt.Errorf("resize: %w", err)
	}
	op := &resizeOp{
		Base: opkit.Base{Name: "Resize", Inputs: 1, Params: []int{s[0], s[1], s[2], s[3], oh, ow}},
		plan: plan,
	}
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("resize: %w", err)
	}
	return y, nil
}

// ResizePlain32 is Resize on one planar image in plain Go: src holds c maps
// of h x w, dst receives c maps of oh x ow. It leaves dst untouched when a
// size is not positive or a slice is too short for its sizes.
func ResizePlain32(src []float32, c, h, w, oh, ow int, dst []float32) {
	if c <= 0 || len(src) < c*h*w || len(dst) < c*oh*ow {
		return
	}
	plan, err := newResizePlan(h, w, oh, ow)
	if err != nil {
		return
	}
	tmp := make([]float32, oh*w)
	for i := range c {
		resizePlane(plan, src[i*h*w:(i+1)*h*w], dst[i*oh*ow:(i+1)*oh*ow], tmp)
	}
}

// resizeAxis holds, for each output index i along one axis, the normalised
// weights w[off[i]:off[i+1]] of the inputs first[i], first[i]+1, ...
type resizeAxis struct {
	first []int
	off   []int
	w64   []float64
	w32   []float32
}

// newResizeAxis follows PyTorch's antialiased bilinear weights (from PIL):
// the source centre of output i is scale*(i+0.5) with scale = in/out, and
// the triangle's half-width (support) is max(scale, 1).
func newResizeAxis(in, out int) resizeAxis {
	scale := float64(in) / float64(out)
	support, invScale := 1.0, 1.0
	if scale >= 1 {
		support, invScale = scale, 1/scale
	}
	a := resizeAxis{first: make([]int, out), off: make([]int, out+1)}
	for i := range out {
		center := scale * (float64(i) + 0.5)
		// int() truncates toward zero, as the C++ cast does.
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		start := len(a.w64)
		var total float64
		for j := lo; j < hi; j++ {
			t := (float64(j) - center + 0.5) * invScale
			if t < 0 {
				t = -t
			}
			wt := max(1-t, 0)
			a.w64 = append(a.w64, wt)
			total += wt
		}
		if total != 0 {
			for k := start; k < len(a.w64); k++ {
				a.w64[k] /= total
			}
		}
		a.first[i] = lo
		a.off[i+1] = len(a.w64)
	}
	a.w32 = make([]float32, len(a.w64))
	for k, wt := range a.w64 {
		a.w32[k] = float32(wt)
	}
	return a
}

// resizePlan is the pair of axis weights for one (H,W) -> (oh,ow) resize,
// computed once when the op is built.
type resizePlan struct {
	h, w, oh, ow int
	rows, cols   resizeAxis
}

func newResizePlan(h, w, oh, ow int) (*resizePlan, error) {
	if h <= 0 || w <= 0 || oh <= 0 || ow <= 0 {
		return nil, fmt.Errorf("sizes %dx%d -> %dx%d must be positive", h, w, oh, ow)
	}
	return &resizePlan{h: h, w: w, oh: oh, ow: ow,
		rows: newResizeAxis(h, oh), cols: newResizeAxis(w, ow)}, nil
}

// resizeWeights picks the weight slice matching the element type.
func resizeWeights[T Float](a *resizeAxis) []T {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return any(a.w32).([]T)
	}
	return any(a.w64).([]T)
}

// resizePlane resizes one h x w map into oh x ow: along columns (height)
// into tmp (oh x w), then along rows (width) into dst. Height first because
// that pass combines whole rows, whose independent multiply-adds run faster
// than the dot products of the row pass, and it is the larger one when
// downsampling.
func resizePlane[T Float](p *resizePlan, src, dst, tmp []T) {
	cw, rw := resizeWeights[T](&p.cols), resizeWeights[T](&p.rows)
	for oy := range p.oh {
		out := tmp[oy*p.w : (oy+1)*p.w]
		clear(out)
		first := p.rows.first[oy]
		for k, wt := range rw[p.rows.off[oy]:p.rows.off[oy+1]] {
			in := src[(first+k)*p.w : (first+k+1)*p.w]
			in = in[:len(out)]
			for x, v := range in {
				out[x] += wt * v
			}
		}
	}
	for oy := range p.oh {
		row, out := tmp[oy*p.w:(oy+1)*p.w], dst[oy*p.ow:(oy+1)*p.ow]
		for ox := range out {
			ws := cw[p.cols.off[ox]:p.cols.off[ox+1]]
			first := p.cols.first[ox]
			in := row[first : first+len(ws)]
			var acc T
			for k, wt := range ws {
				acc += wt * in[k]
			}
			out[ox] = acc
		}
	}
}

// resizePlaneT is the transpose of resizePlane: it maps a gradient g
// (oh x ow) to dx (h x w), using tmp (oh x w).
func resizePlaneT[T Float](p *resizePlan, g, dx, tmp []T) {
	cw, rw := resizeWeights[T](&p.cols), resizeWeights[T](&p.rows)
	for oy := range p.oh {
		in, out := g[oy*p.ow:(oy+1)*p.ow], tmp[oy*p.w:(oy+1)*p.w]
		clear(out)
		for ox, v := range in {
			ws := cw[p.cols.off[ox]:p.cols.off[ox+1]]
			first := p.cols.first[ox]
			o := out[first : first+len(ws)]
			for k, wt := range ws {
				o[k] += wt * v
			}
		}
	}
	clear(dx[:p.h*p.w])
	for oy := range p.oh {
		in := tmp[oy*p.w : (oy+1)*p.w]
		first := p.rows.first[oy]
		for k, wt := range rw[p.rows.off[oy]:p.rows.off[oy+1]] {
			out := dx[(first+k)*p.w : (first+k+1)*p.w]
			out = out[:len(in)]
			for x, v := range in {
				out[x] += wt * v
			}
		}
	}
}

// floatScratch is per-op scratch for either element type, kept between runs.
type floatScratch struct {
	f32 scratch[float32]
	f64 scratch[float64]
}

// floatScratchGet returns n elements of s of type T, not cleared.
func floatScratchGet[T Float](s *floatScratch, n int) []T {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return any(s.f32.get(n)).([]T)
	}
	return any(s.f64.get(n)).([]T)
}

// resizeRun applies plane (resizePlane or its transpose) to each of the n
// maps of src, in parallel; each worker uses its own oh x w part of tmp,
// which must hold opkit.Workers(n) of them.
func resizeRun[T Float](p *resizePlan, n, srcSize, dstSize int, src, dst, tmp []T,
	plane func(*resizePlan, []T, []T, []T)) {
	size := p.oh * p.w
	opkit.ForWorkers(n, func(worker, lo, hi int) {
		tmp := tmp[worker*size : (worker+1)*size]
		for i := lo; i < hi; i++ {
			plane(p, src[i*srcSize:(i+1)*srcSize], dst[i*dstSize:(i+1)*dstSize], tmp)
		}
	})
}

// resizeDo runs plane over the maps of in into out, with the op's scratch.
func resizeDo[T Float](p *resizePlan, maps, inSize, outSize int, in, out []T, s *floatScratch,
	plane func(*resizePlan, []T, []T, []T)) {
	tmp := floatScratchGet[T](s, opkit.Workers(maps)*p.oh*p.w)
	resizeRun(p, maps, inSize, outSize, in, out, tmp, plane)
}

// resizeOp is the forward op; the plan is shared with its gradient op. Its
// params are (N, C, H, W, oh, ow), fixed when the graph is built; values are
// checked by size only, as an unsafe Reshape elsewhere may have changed a
// tensor's shape in place.
type resizeOp struct {
	opkit.Base
	plan *resizePlan
	out  opkit.Buffer
	tmp  floatScratch
}

func (op *resizeOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *resizeOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.ShapeOf(op.Name, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) != 4 {
		return nil, fmt.Errorf("%s: input shape %v is not (N,C,H,W)", op.Name, s)
	}
	return tensor.Shape{s[0], s[1], op.plan.oh, op.plan.ow}, nil
}

func (op *resizeOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	x := args[0]
	p := op.plan
	n := op.Params[0] * op.Params[1]
	if x.Shape().TotalSize() != n*p.h*p.w {
		return nil, fmt.Errorf("%s: input shape %v, want %v", op.Name, x.Shape(), op.Params[:4])
	}
	y := op.out.Get(x.Dtype(), op.Params[0], op.Params[1], p.oh, p.ow)
	switch x.Dtype() {
	case tensor.Float32:
		resizeDo(p, n, p.h*p.w, p.oh*p.ow, x.Float32s(), y.Float32s(), &op.tmp, resizePlane[float32])
	case tensor.Float64:
		resizeDo(p, n, p.h*p.w, p.oh*p.ow, x.Float64s(), y.Float64s(), &op.tmp, resizePlane[float64])
	}
	return y, nil
}

func (op *resizeOp) DiffWRT(int) []bool { return []bool{true} }

func (op *resizeOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: expected 1 input, got %d", op.Name, len(inputs))
	}
	back := &resizeGradOp{
		Base: opkit.Base{Name: "ResizeGrad", Inputs: 1, Params: op.Params},
		plan: op.plan,
	}
	dx, err := gorgonia.ApplyOp(back, grad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return gorgonia.Nodes{dx}, nil
}

// resizeGradOp maps dL/dy (N,C,oh,ow) to dL/dx (N,C,H,W).
type resizeGradOp struct {
	opkit.Base
	plan *resizePlan
	out  opkit.Buffer
	tmp  floatScratch
}

func (op *resizeGradOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *resizeGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.Params[0], op.Params[1], op.plan.h, op.plan.w}, nil
}

func (op *resizeGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	g := args[0]
	p := op.plan
	n := op.Params[0] * op.Params[1]
	if g.Shape().TotalSize() != n*p.oh*p.ow {
		return nil, fmt.Errorf("%s: gradient shape %v, want (%d,%d,%d,%d)", op.Name, g.Shape(), op.Params[0], op.Params[1], p.oh, p.ow)
	}
	dx := op.out.Get(g.Dtype(), op.Params[0], op.Params[1], p.h, p.w)
	switch g.Dtype() {
	case tensor.Float32:
		resizeDo(p, n, p.oh*p.ow, p.h*p.w, g.Float32s(), dx.Float32s(), &op.tmp, resizePlaneT[float32])
	case tensor.Float64:
		resizeDo(p, n, p.oh*p.ow, p.h*p.w, g.Float64s(), dx.Float64s(), &op.tmp, resizePlaneT[float64])
	}
	return dx, nil
}
