package kernels

import (
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// planes splits a (N, C, H, W) shape into N*C planes of H x W.
func planes(s tensor.Shape, what string) (n, c, h, w int, err error) {
	if s.Dims() != 4 {
		return 0, 0, 0, 0, fmt.Errorf("%s: input shape %v: want (N, C, H, W)", what, s)
	}
	return s[0], s[1], s[2], s[3], nil
}

// MaxPool2D is max pooling with a k x k window and stride k; rows and
// columns that do not fill a window are dropped, as in PyTorch.
func MaxPool2D(x *gorgonia.Node, k int) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), "maxpool2d")
	if err != nil {
		return nil, err
	}
	if k < 1 || k > h || k > w {
		return nil, fmt.Errorf("maxpool2d: kernel %d does not fit %dx%d", k, h, w)
	}
	op := &maxPoolOp{Base: opkit.Base{Name: "maxpool2d", Inputs: 1, Params: []int{n, c, h, w, k}}, st: &maxPoolState{}}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("maxpool2d: %w", err)
	}
	return out, nil
}

// maxPoolState is shared by the forward op and its gradient: the index in
// its plane of each output's maximum, and which input they were taken from.
type maxPoolState struct {
	out    opkit.Buffer
	argmax scratch[int32]
	of     uintptr
}

type maxPoolOp struct {
	opkit.Base
	st *maxPoolState
}

func (op *maxPoolOp) dims() (n, c, h, w, k, ho, wo int) {
	p := op.Params
	return p[0], p[1], p[2], p[3], p[4], p[2] / p[4], p[3] / p[4]
}

func (op *maxPoolOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (op *maxPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	n, c, _, _, _, ho, wo := op.dims()
	return tensor.Shape{n, c, ho, wo}, nil
}

func (op *maxPoolOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	n, c, h, w, k, ho, wo := op.dims()
	if err := checkShape(op.Name+" input", in[0], []int{n, c, h, w}); err != nil {
		return nil, err
	}
	out := op.st.out.Get(in[0].Dtype(), n, c, ho, wo)
	idx := op.st.argmax.get(n * c * ho * wo)
	switch x := in[0].Data().(type) {
	case []float32:
		maxPoolForward(x, out.Data().([]float32), idx, n*c, h, w, k)
	case []float64:
		maxPoolForward(x, out.Data().([]float64), idx, n*c, h, w, k)
	}
	op.st.of = in[0].Uintptr()
	return out, nil
}

// maxPoolForward takes the first maximum of each window (PyTorch's choice
// on ties) and records where it was.
func maxPoolForward[T Float](x, y []T, idx []int32, planes, h, w, k int) {
	ho, wo := h/k, w/k
	opkit.For(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			if k == 2 {
				maxPool2(x[p*h*w:(p+1)*h*w], y[p*ho*wo:(p+1)*ho*wo], idx[p*ho*wo:(p+1)*ho*wo], w, ho, wo)
				continue
			}
			xp := x[p*h*w : (p+1)*h*w]
			yp, ip := y[p*ho*wo:(p+1)*ho*wo], idx[p*ho*wo:(p+1)*ho*wo]
			for oy := range ho {
				for ox := range wo {
					best := oy*k*w + ox*k
					for dy := range k {
						row := (oy*k+dy)*w + ox*k
						for dx := range k {
							if xp[row+dx] > xp[best] {
								best = row + dx
							}
						}
					}
					yp[oy*wo+ox], ip[oy*wo+ox] = xp[best], int32(best)
				}
			}
		}
	})
}

func (op *maxPoolOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *maxPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("maxpool2d gradient: expected 1 input, got %d", len(inputs))
	}
	gop := &maxPoolGradOp{Base: opkit.Base{Name: "maxpool2d.dx", Inputs: 2, Params: op.Params, Tag: op.st}, fwd: op}
	dx, err := gorgonia.ApplyOp(gop, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("maxpool2d gradient: %w", err)
	}
	return gorgonia.Nodes{dx}, nil
}

// maxPoolGradOp (children x, dy) routes each output gradient to the input
// that was the window's maximum.
type maxPoolGradOp struct {
	opkit.Base
	fwd *maxPoolOp
	out opkit.Buffer
}

func (op *maxPoolGradOp) Type() hm.Type { return opkit.FnType(4, 4, 4) }

func (op *maxPoolGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params[:4]...)), nil
}

func (op *maxPoolGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	n, c, h, w, k, ho, wo := op.fwd.dims()
	if err := checkShape(op.Name+" input", in[0], []int{n, c, h, w}); err != nil {
		return nil, err
	}
	if err := checkShape(op.Name+" output gradient", in[1], []int{n, c, ho, wo}); err != nil {
		return nil, err
	}
	st := op.fwd.st
	idx := st.argmax.get(n * c * ho * wo)
	out := op.out.Get(in[0].Dtype(), n, c, h, w)
	// The indices are recomputed unless the forward pass just took them
	// from this very input (it always has, within one run of a graph).
	recompute := st.of != in[0].Uintptr() || st.of == 0
	switch x := in[0].Data().(type) {
	case []float32:
		if recompute {
			maxPoolForward(x, make([]float32, n*c*ho*wo), idx, n*c, h, w, k)
		}
		maxPoolBackward(in[1].Data().([]float32), out.Data().([]float32), idx, n*c, h*w, ho*wo)
	case []float64:
		if recompute {
			maxPoolForward(x, make([]float64, n*c*ho*wo), idx, n*c, h, w, k)
		}
		maxPoolBackward(in[1].Data().([]float64), out.Data().([]float64), idx, n*c, h*w, ho*wo)
	}
	st.of = in[0].Uintptr()
	return out, nil
}

// maxPool2 is one plane of the 2x2 case without data-dependent branches
// (the position of a window's maximum is random, so branches mispredict):
// the first maximum of each row pair, then the first of the two rows.
func maxPool2[T Float](x, y []T, idx []int32, w, ho, wo int) {
	for oy := range ho {
		r0, r1 := x[2*oy*w:][:2*wo], x[(2*oy+1)*w:][:2*wo]
		yr, ir := y[oy*wo:][:wo], idx[oy*wo:][:wo]
		base := 2 * oy * w
		for ox := range yr {
			p0, p1 := r0[2*ox:2*ox+2:2*ox+2], r1[2*ox:2*ox+2:2*ox+2]
			i0, i1 := b2i(p0[1] > p0[0]), b2i(p1[1] > p1[0])
			m0, m1 := p0[i0&1], p1[i1&1]
			s := b2i(m1 > m0)
			m := [2]T{m0, m1}
			yr[ox] = m[s&1]
			ir[ox] = int32(base + 2*ox + i0 + s*(w+i1-i0))
		}
	}
}

// b2i is 1 for true; the compiler turns it into a flag set, not a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func maxPoolBackward[T Float](dy, dx []T, idx []int32, planes, inArea, outArea int) {
	opkit.For(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxp := dx[p*inArea : (p+1)*inArea]
			clear(dxp)
			for j, v := range dy[p*outArea : (p+1)*outArea] {
				dxp[idx[p*outArea+j]] += v
			}
		}
	})
}

func (op *maxPoolGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *maxPoolGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}

// GlobalAvgPool averages each channel: (N, C, H, W) -> (N, C).
func GlobalAvgPool(x *gorgonia.Node) (*gorgonia.Node, error) {
	return avgPool(x, 1, 1, true, "globalavgpool")
}

// AdaptiveAvgPool2D is PyTorch's AdaptiveAvgPool2d: output cell (i, j)
// averages rows floor(i*H/oh) to ceil((i+1)*H/oh) (exclusive) and likewise
// columns. Windows overlap when the output is larger than the input.
func AdaptiveAvgPool2D(x *gorgonia.Node, oh, ow int) (*gorgonia.Node, error) {
	return avgPool(x, oh, ow, false, "adaptiveavgpool2d")
}

func avgPool(x *gorgonia.Node, oh, ow int, flat bool, name string) (*gorgonia.Node, error) {
	n, c, h, w, err := planes(x.Shape(), name)
	if err != nil {
		return nil, err
	}
	if oh < 1 || ow < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("%s: output %dx%d from input %dx%d: sizes must be positive", name, oh, ow, h, w)
	}
	f := 0
	if flat {
		f = 1
	}
	op := &avgPoolOp{Base: opkit.Base{Name: name, Inputs: 1, Params: []int{n, c, h, w, oh, ow, f}}}
	out, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// poolWindows returns PyTorch's adaptive windows [start[i], end[i]) of an
// axis of size in pooled to size out.
func poolWindows(in, out int) (start, end []int) {
	start, end = make([]int, out), make([]int, out)
	for i := range out {
		start[i] = i * in / out
		end[i] = ((i+1)*in + out - 1) / out
	}
	return start, end
}

// avgPoolOp is adaptive average pooling; with flat set the (N, C, 1, 1)
// result is returned as (N, C).
type avgPoolOp struct {
	opkit.Base
	out opkit.Buffer
	tmp scratch[float64] // per-worker sums
}

func (op *avgPoolOp) dims() (n, c, h, w, oh, ow int, flat bool) {
	p := op.Params
	return p[0], p[1], p[2], p[3], p[4], p[5], p[6] == 1
}

func (op *avgPoolOp) outShape() []int {
	n, c, _, _, oh, ow, flat := op.dims()
	if flat {
		return []int{n, c}
	}
	return []int{n, c, oh, ow}
}

func (op *avgPoolOp) Type() hm.Type { return opkit.FnType(len(op.outShape()), 4) }

func (op *avgPoolOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.outShape()), nil
}

func (op *avgPoolOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	n, c, h, w, oh, ow, _ := op.dims()
	if err := checkShape(op.Name+" input", in[0], []int{n, c, h, w}); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), op.outShape()...)
	switch x := in[0].Data().(type) {
	case []float32:
		avgPoolForward(x, out.Data().([]float32), n*c, h, w, oh, ow, &op.tmp)
	case []float64:
		avgPoolForward(x, out.Data().([]float64), n*c, h, w, oh, ow, &op.tmp)
	}
	return out, nil
}

func avgPoolForward[T Float](x, y []T, planes, h, w, oh, ow int, sc *scratch[float64]) {
	rs, re := poolWindows(h, oh)
	cs, ce := poolWindows(w, ow)
	// The window mean is separable: sum each row over the column windows, then
	// those sums over the row windows. Windows are short (1 or 2 wide when the
	// pool enlarges), so this beats a loop per output with its slice set-up.
	size := h*ow + ow // row sums, then one output row
	all := sc.get(opkit.Workers(planes) * size)
	opkit.ForWorkers(planes, func(wk, lo, hi int) {
		tmp := all[wk*size : (wk+1)*size]
		for p := lo; p < hi; p++ {
			xp, yp := x[p*h*w:(p+1)*h*w], y[p*oh*ow:(p+1)*oh*ow]
			for r := range h {
				row, t := xp[r*w:(r+1)*w], tmp[r*ow:(r+1)*ow]
				for j := range t {
					var s float64
					for _, v := range row[cs[j]:ce[j]] {
						s += float64(v)
					}
					t[j] = s
				}
			}
			acc := tmp[h*ow:]
			for i := range oh {
				clear(acc)
				for r := rs[i]; r < re[i]; r++ {
					for j, v := range tmp[r*ow : (r+1)*ow] {
						acc[j] += v
					}
				}
				out := yp[i*ow : (i+1)*ow]
				for j := range out {
					out[j] = T(acc[j] / float64((re[i]-rs[i])*(ce[j]-cs[j])))
				}
			}
		}
	})
}

func (op *avgPoolOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *avgPoolOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s gradient: expected 1 input, got %d", op.Name, len(inputs))
	}
	gop := &avgPoolGradOp{Base: opkit.Base{Name: op.Name + ".dx", Inputs: 1, Params: op.Params}, fwd: op}
	dx, err := gorgonia.ApplyOp(gop, grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", op.Name, err)
	}
	return gorgonia.Nodes{dx}, nil
}

// avgPoolGradOp spreads each output gradient evenly over its window.
type avgPoolGradOp struct {
	opkit.Base
	fwd *avgPoolOp
	out opkit.Buffer
	tmp scratch[float64] // per-worker sums
}

func (op *avgPoolGradOp) Type() hm.Type { return opkit.FnType(4, len(op.fwd.outShape())) }

func (op *avgPoolGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.Params[:4]...)), nil
}

func (op *avgPoolGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	n, c, h, w, oh, ow, _ := op.fwd.dims()
	if err := checkShape(op.Name+" output gradient", in[0], op.fwd.outShape()); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), n, c, h, w)
	switch dy := in[0].Data().(type) {
	case []float32:
		avgPoolBackward(dy, out.Data().([]float32), n*c, h, w, oh, ow, &op.tmp)
	case []float64:
		avgPoolBackward(dy, out.Data().([]float64), n*c, h, w, oh, ow, &op.tmp)
	}
	return out, nil
}

func avgPoolBackward[T Float](dy, dx []T, planes, h, w, oh, ow int, sc *scratch[float64]) {
	rs, re := poolWindows(h, oh)
	cs, ce := poolWindows(w, ow)
	// The adjoint of the separable forward pass: spread over the row windows,
	// then over the column windows.
	colInv := make([]float64, ow)
	for j := range colInv {
		colInv[j] = 1 / float64(ce[j]-cs[j])
	}
	size := h*ow + ow // row-spread gradients, then one scaled dy row
	all := sc.get(opkit.Workers(planes) * size)
	opkit.ForWorkers(planes, func(wk, lo, hi int) {
		tmp := all[wk*size : (wk+1)*size]
		for p := lo; p < hi; p++ {
			dxp, dyp := dx[p*h*w:(p+1)*h*w], dy[p*oh*ow:(p+1)*oh*ow]
			clear(tmp[:h*ow])
			g := tmp[h*ow:]
			for i := range oh {
				rowInv := 1 / float64(re[i]-rs[i])
				for j, v := range dyp[i*ow : (i+1)*ow] {
					g[j] = float64(v) * rowInv * colInv[j]
				}
				for r := rs[i]; r < re[i]; r++ {
					for j, v := range g {
						tmp[r*ow+j] += v
					}
				}
			}
			for r := range h {
				row, t := dxp[r*w:(r+1)*w], tmp[r*ow:(r+1)*ow]
				clear(row)
				for j, v := range t {
					for c := cs[j]; c < ce[j]; c++ {
						row[c] += T(v)
					}
				}
			}
		}
	})
}

func (op *avgPoolGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *avgPoolGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}

// Downsample32 makes low-resolution copies of planar images: the antialiased
// resize (ResizePlain32), or with pool the adaptive average pool
// (AdaptiveAvgPoolPlain32).
func Downsample32(pool bool, src []float32, c, h, w, oh, ow int, dst []float32) {
	if pool {
		AdaptiveAvgPoolPlain32(src, c, h, w, oh, ow, dst)
		return
	}
	ResizePlain32(src, c, h, w, oh, ow, dst)
}

// AdaptiveAvgPoolPlain32 is AdaptiveAvgPool2D on planar float32 images in plain Go:
// src holds planes maps of h x w, dst receives planes maps of oh x ow. It is the
// official Saliency-Sampler's low-resolution copy (nn.AdaptiveAvgPool2d).
func AdaptiveAvgPoolPlain32(src []float32, planes, h, w, oh, ow int, dst []float32) {
	var sc scratch[float64]
	avgPoolForward(src[:planes*h*w], dst[:planes*oh*ow], planes, h, w, oh, ow, &sc)
}
