package kernels

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/chewxy/hm"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/blas"
	"zoomtrain/internal/opkit"
)

// convGeom is the geometry of one 2-D convolution (square kernel, equal
// stride and zero padding on both axes, PyTorch's Conv2d semantics).
type convGeom struct {
	n, cin, h, w int
	cout, k      int
	stride, pad  int
	ho, wo       int
}

func newConvGeom(xs, ws tensor.Shape, stride, pad int) (convGeom, error) {
	if len(xs) != 4 {
		return convGeom{}, fmt.Errorf("conv2d: input shape %v: want (N, Cin, H, W)", xs)
	}
	if len(ws) != 4 || ws[2] != ws[3] {
		return convGeom{}, fmt.Errorf("conv2d: weight shape %v: want (Cout, Cin, k, k)", ws)
	}
	if ws[1] != xs[1] {
		return convGeom{}, fmt.Errorf("conv2d: weight has %d input channels, input has %d", ws[1], xs[1])
	}
	if stride < 1 || pad < 0 {
		return convGeom{}, fmt.Errorf("conv2d: stride %d and padding %d: want stride >= 1, padding >= 0", stride, pad)
	}
	g := convGeom{n: xs[0], cin: xs[1], h: xs[2], w: xs[3], cout: ws[0], k: ws[2], stride: stride, pad: pad}
	if g.h+2*pad < g.k || g.w+2*pad < g.k || g.k < 1 {
		return convGeom{}, fmt.Errorf("conv2d: kernel %d larger than padded input %dx%d", g.k, g.h+2*pad, g.w+2*pad)
	}
	g.ho = (g.h+2*pad-g.k)/stride + 1
	g.wo = (g.w+2*pad-g.k)/stride + 1
	return g, nil
}

func (g convGeom) rows() int        { return g.cin * g.k * g.k } // rows of the im2col matrix
func (g convGeom) outArea() int     { return g.ho * g.wo }
func (g convGeom) inSize() int      { return g.cin * g.h * g.w }
func (g convGeom) outSize() int     { return g.cout * g.ho * g.wo }
func (g convGeom) xShape() []int    { return []int{g.n, g.cin, g.h, g.w} }
func (g convGeom) wShape() []int    { return []int{g.cout, g.cin, g.k, g.k} }
func (g convGeom) outShape() []int  { return []int{g.n, g.cout, g.ho, g.wo} }
func (g convGeom) params() []int    { return []int{g.n, g.cin, g.h, g.w, g.cout, g.k, g.stride, g.pad} }
func (g convGeom) colsPerItem() int { return g.rows() * g.outArea() }

// direct reports whether the input already is the im2col matrix (a 1x1
// kernel without stride or padding), so the copy is skipped.
func (g convGeom) direct() bool { return g.k == 1 && g.stride == 1 && g.pad == 0 }

// validRange returns the output positions [lo, hi) along an axis of size n
// whose input index o*stride + off falls inside [0, n).
func validRange(outN, n, stride, off int) (lo, hi int) {
	lo = 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	hi = 0
	if last := n - 1 - off; last >= 0 {
		hi = last/stride + 1
	}
	return min(lo, outN), max(min(hi, outN), min(lo, outN))
}

// im2col writes one item's patches as a rows() x outArea() matrix: row
// (c, ki, kj), column (oy, ox) holds x[c, oy*s+ki-pad, ox*s+kj-pad] or 0.
func im2col[T Float](g convGeom, x, cols []T) {
	area := g.outArea()
	for c := range g.cin {
		xc := x[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range g.k {
			yLo, yHi := validRange(g.ho, g.h, g.stride, ki-g.pad)
			for kj := range g.k {
				row := cols[((c*g.k+ki)*g.k+kj)*area:][:area]
				xLo, xHi := validRange(g.wo, g.w, g.stride, kj-g.pad)
				clear(row[:yLo*g.wo])
				clear(row[yHi*g.wo:])
				if g.stride == 1 {
					// The rows' copies in one call; the padded edges (a
					// column or two) by hand, too short for clear's call.
					if yHi > yLo && xHi > xLo {
						src := xc[(yLo+ki-g.pad)*g.w+xLo+kj-g.pad:]
						copyBlock(row[yLo*g.wo+xLo:], g.wo, src, g.w, yHi-yLo, xHi-xLo)
					}
					for oy := yLo; oy < yHi; oy++ {
						dst := row[oy*g.wo : (oy+1)*g.wo]
						for ox := range xLo {
							dst[ox] = 0
						}
						for ox := xHi; ox < len(dst); ox++ {
							dst[ox] = 0
						}
					}
					continue
				}
				for oy := yLo; oy < yHi; oy++ {
					dst := row[oy*g.wo : (oy+1)*g.wo]
					src := xc[(oy*g.stride+ki-g.pad)*g.w:][:g.w]
					clear(dst[:xLo])
					clear(dst[xHi:])
					ix := xLo*g.stride + kj - g.pad
					for ox := xLo; ox < xHi; ox++ {
						dst[ox] = src[ix]
						ix += g.stride
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds each patch entry back onto the
// input position it was read from. dx must be zeroed by the caller.
func col2im[T Float](g convGeom, cols, dx []T) {
	area := g.outArea()
	for c := range g.cin {
		dc := dx[c*g.h*g.w : (c+1)*g.h*g.w]
		for ki := range g.k {
			yLo, yHi := validRange(g.ho, g.h, g.stride, ki-g.pad)
			for kj := range g.k {
				row := cols[((c*g.k+ki)*g.k+kj)*area:][:area]
				xLo, xHi := validRange(g.wo, g.w, g.stride, kj-g.pad)
				if g.stride == 1 {
					if yHi > yLo && xHi > xLo {
						d := dc[(yLo+ki-g.pad)*g.w+xLo+kj-g.pad:]
						addBlock(d, g.w, row[yLo*g.wo+xLo:], g.wo, yHi-yLo, xHi-xLo)
					}
					continue
				}
				for oy := yLo; oy < yHi; oy++ {
					src := row[oy*g.wo : (oy+1)*g.wo]
					dst := dc[(oy*g.stride+ki-g.pad)*g.w:][:g.w]
					ix := xLo*g.stride + kj - g.pad
					for ox := xLo; ox < xHi; ox++ {
						dst[ix] += src[ox]
						ix += g.stride
					}
				}
			}
		}
	}
}

// copyBlock copies a rows x cols block of src (rows srcStride apart) onto one
// of dst (rows dstStride apart): blas.Copy2D in float32, a copy a row else.
func copyBlock[T Float](dst []T, dstStride int, src []T, srcStride, rows, cols int) {
	if d, ok := any(dst).([]float32); ok {
		blas.Copy2D(d, dstStride, any(src).([]float32), srcStride, rows, cols)
		return
	}
	for r := range rows {
		copy(dst[r*dstStride:r*dstStride+cols], src[r*srcStride:r*srcStride+cols])
	}
}

// addBlock adds a rows x cols block of src (rows srcStride apart) onto one of
// dst (rows dstStride apart): blas.AddTo2D in float32, one addTo a row else.
func addBlock[T Float](dst []T, dstStride int, src []T, srcStride, rows, cols int) {
	if d, ok := any(dst).([]float32); ok {
		blas.AddTo2D(d, dstStride, any(src).([]float32), srcStride, rows, cols)
		return
	}
	for r := range rows {
		addTo(dst[r*dstStride:r*dstStride+cols], src[r*srcStride:])
	}
}

// fill sets every element of v to x: a short loop, then copies of what is
// already filled, doubling (copy runs at memmove's vector speed; the plain loop
// took 7% of a saliency step's samples).
func fill[T Float](v []T, x T) {
	n := min(len(v), 16)
	for i := range n {
		v[i] = x
	}
	for n < len(v) {
		n += copy(v[n:], v[:n])
	}
}

// addTo adds src to dst (of equal length): blas.AddTo's vector loop in float32,
// else four elements a step so that the bounds checks fall out of the loop.
func addTo[T Float](dst, src []T) {
	if d, ok := any(dst).([]float32); ok {
		blas.AddTo(d, any(src).([]float32))
		return
	}
	src = src[:len(dst)]
	i := 0
	for ; i+4 <= len(dst); i += 4 {
		d, s := dst[i:i+4:i+4], src[i:i+4:i+4]
		d[0] += s[0]
		d[1] += s[1]
		d[2] += s[2]
		d[3] += s[3]
	}
	for ; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// convScratch is the memory one convolution keeps between runs, per
// element type.
type convScratch[T Float] struct {
	cols    scratch[T] // the whole batch's im2col matrices, for the weight gradient
	colsOf  uintptr    // data address of the input the cols were built from
	work    scratch[T] // per-worker im2col or column-gradient matrices
	partial scratch[T] // per-worker weight-gradient sums
}

// convState is shared by a convolution and its gradient ops.
type convState struct {
	geom convGeom
	out  opkit.Buffer
	s32  convScratch[float32]
	s64  convScratch[float64]
	// weightGrad is set when SymDiff made a weight-gradient op: only then are the
	// forward pass's im2col matrices worth keeping.
	weightGrad bool
}

// maxKeptCols is the most memory one convolution keeps its whole batch's im2col
// matrices in, for the weight gradient to reuse. A larger layer (a residual network's
// first stage on 64 x 64 inputs at batch 32 has 150 MB of them per convolution) builds
// them again one item at a time in the weight gradient: 2-5% of the layer's time
// against a resident set the size of the network's activations several times over.
const maxKeptCols = 48 << 20

// keepCols reports whether the forward pass keeps the batch's im2col matrices.
func (st *convState) keepCols(elemSize int) bool {
	g := st.geom
	return st.weightGrad && !g.direct() && g.n*g.colsPerItem()*elemSize <= maxKeptCols
}

func scratchOf[T Float](st *convState) *convScratch[T] {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return any(&st.s32).(*convScratch[T])
	}
	return any(&st.s64).(*convScratch[T])
}

// convForward computes out = conv(x, w) + b for the whole batch, splitting
// the batch across workers; it keeps the im2col matrices for the weight
// gradient. b may be nil.
func convForward[T Float](st *convState, x, w, b, out []T, xAddr uintptr) error {
	g := st.geom
	sc := scratchOf[T](st)
	per, area := g.colsPerItem(), g.outArea()
	sc.colsOf = 0
	keep := st.keepCols(int(unsafe.Sizeof(T(0))))
	var cols, work []T
	switch {
	case keep:
		cols = sc.cols.get(g.n * per)
	case !g.direct():
		sc.cols.s = nil // a graph whose batch grew past the limit lets go of them
		work = sc.work.get(opkit.Workers(g.n) * per)
	}
	var fe firstErr
	opkit.ForWorkers(g.n, func(wk, lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*g.inSize() : (i+1)*g.inSize()]
			ci := xi
			switch {
			case keep:
				ci = cols[i*per : (i+1)*per]
				im2col(g, xi, ci)
			case !g.direct():
				ci = work[wk*per : (wk+1)*per]
				im2col(g, xi, ci)
			}
			oi := out[i*g.outSize() : (i+1)*g.outSize()]
			beta := T(0)
			if b != nil {
				for c := range g.cout {
					fill(oi[c*area:(c+1)*area], b[c])
				}
				beta = 1
			}
			fe.set(gemm(false, false, g.cout, area, g.rows(), 1, w, g.rows(), ci, area, beta, oi, area))
		}
	})
	if keep {
		sc.colsOf = xAddr
	}
	return fe.err
}

// convGradInput computes dx = conv^T(dy, w): per item the column gradient
// W^T dy, folded back by col2im.
func convGradInput[T Float](st *convState, w, dy, dx []T) error {
	g := st.geom
	sc := scratchOf[T](st)
	per, area := g.colsPerItem(), g.outArea()
	var work []T
	if !g.direct() {
		work = sc.work.get(opkit.Workers(g.n) * per)
	}
	var fe firstErr
	opkit.ForWorkers(g.n, func(wk, lo, hi int) {
		for i := lo; i < hi; i++ {
			dyi := dy[i*g.outSize() : (i+1)*g.outSize()]
			dxi := dx[i*g.inSize() : (i+1)*g.inSize()]
			if g.direct() {
				fe.set(gemm(true, false, g.cin, area, g.cout, 1, w, g.cin, dyi, area, 0, dxi, area))
				continue
			}
			dcols := work[wk*per : (wk+1)*per]
			fe.set(gemm(true, false, g.rows(), area, g.cout, 1, w, g.rows(), dyi, area, 0, dcols, area))
			clear(dxi)
			col2im(g, dcols, dxi)
		}
	})
	return fe.err
}

// weightGradChunks is how many partial sums a weight gradient cuts its batch
// into (fewer for a smaller batch): fixed, so that the sum's rounding is the same
// whatever GOMAXPROCS is, and a few per worker on a small machine, so that a
// preempted worker holds up only a small range.
const weightGradChunks = 16

// convGradWeight computes dw = sum over items of dy_i cols_i^T, reusing the
// forward pass's im2col matrices when they were built from this very input.
func convGradWeight[T Float](st *convState, x, dy, dw []T, xAddr uintptr) error {
	g := st.geom
	sc := scratchOf[T](st)
	per, area, wsize := g.colsPerItem(), g.outArea(), g.cout*g.rows()
	cached := !g.direct() && sc.colsOf == xAddr && xAddr != 0 && len(sc.cols.s) >= g.n*per
	nw, nc := opkit.Workers(g.n), min(g.n, weightGradChunks)
	// One partial sum per chunk of items, added up in chunk order: the result
	// does not depend on which worker took which chunk, nor (the chunks being a
	// function of the batch alone) on how many workers there are.
	partial := sc.partial.get(nc * wsize)
	clear(partial)
	var work []T
	if !g.direct() && !cached {
		work = sc.work.get(nw * per)
	}
	var fe firstErr
	opkit.Chunked(g.n, nc, func(wk, chunk, lo, hi int) {
		acc := partial[chunk*wsize : (chunk+1)*wsize]
		for i := lo; i < hi; i++ {
			dyi := dy[i*g.outSize() : (i+1)*g.outSize()]
			var ci []T
			switch {
			case g.direct():
				ci = x[i*g.inSize() : (i+1)*g.inSize()]
			case cached:
				ci = sc.cols.s[i*per : (i+1)*per]
			default:
				ci = work[wk*per : (wk+1)*per]
				im2col(g, x[i*g.inSize():(i+1)*g.inSize()], ci)
			}
			fe.set(gemm(false, true, g.cout, g.rows(), area, 1, dyi, area, ci, area, 1, acc, g.rows()))
		}
	})
	copy(dw, partial[:wsize])
	for c := 1; c < nc; c++ {
		addTo(dw, partial[c*wsize:(c+1)*wsize])
	}
	return fe.err
}

// Conv2D is PyTorch's Conv2d with a square kernel: x (N, Cin, H, W), w
// (Cout, Cin, k, k) and b (Cout) or nil give (N, Cout, Ho, Wo) with
// Ho = (H + 2 pad - k) / stride + 1, zero padding. Differentiable in x, w, b,
// but for those opts make Fixed.
func Conv2D(x, w, b *gorgonia.Node, stride, pad int, opts ...Option) (*gorgonia.Node, error) {
	g, err := newConvGeom(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		return nil, err
	}
	children := gorgonia.Nodes{x, w}
	if b != nil {
		if bs := b.Shape(); bs.TotalSize() != g.cout || bs.Dims() != 1 {
			return nil, fmt.Errorf("conv2d: bias shape %v: want (%d)", bs, g.cout)
		}
		children = append(children, b)
	}
	diff := gradsOf(children, opts)
	op := &convOp{Base: opkit.Base{Name: gradName("conv2d", diff), Inputs: len(children), Params: g.params()}, st: &convState{geom: g}, diff: diff}
	out, err := gorgonia.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("conv2d: %w", err)
	}
	return out, nil
}

// convOp is the forward convolution; its state is shared with the gradient
// ops SymDiff creates.
type convOp struct {
	opkit.Base
	st   *convState
	diff []bool // per input: whether it gets a gradient
}

func (op *convOp) Type() hm.Type {
	if op.Inputs == 3 {
		return opkit.FnType(4, 4, 4, 1)
	}
	return opkit.FnType(4, 4, 4)
}

func (op *convOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.st.geom.outShape()), nil
}

func (op *convOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args("conv2d", op.Inputs, vals)
	if err != nil {
		return nil, err
	}
	g := op.st.geom
	if err := checkShape("conv2d input", in[0], g.xShape()); err != nil {
		return nil, err
	}
	if err := checkShape("conv2d weight", in[1], g.wShape()); err != nil {
		return nil, err
	}
	if op.Inputs == 3 {
		if err := checkShape("conv2d bias", in[2], []int{g.cout}); err != nil {
			return nil, err
		}
	}
	out := op.st.out.Get(in[0].Dtype(), g.outShape()...)
	switch x := in[0].Data().(type) {
	case []float32:
		err = convForward(op.st, x, in[1].Data().([]float32), optData[float32](in, 2), out.Data().([]float32), in[0].Uintptr())
	case []float64:
		err = convForward(op.st, x, in[1].Data().([]float64), optData[float64](in, 2), out.Data().([]float64), in[0].Uintptr())
	}
	if err != nil {
		return nil, fmt.Errorf("conv2d: %w", err)
	}
	return out, nil
}

func (op *convOp) DiffWRT(int) []bool { return slices.Clone(op.diff) }

func (op *convOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != op.Inputs {
		return nil, fmt.Errorf("conv2d gradient: expected %d inputs, got %d", op.Inputs, len(inputs))
	}
	p := op.st.geom.params()
	grads := make(gorgonia.Nodes, op.Inputs)
	var err error
	if op.diff[0] {
		if grads[0], err = gorgonia.ApplyOp(&convGradOp{Base: opkit.Base{Name: "conv2d.dx", Inputs: 2, Params: p, Tag: op.st}, st: op.st, wrtInput: true}, inputs[1], grad); err != nil {
			return nil, fmt.Errorf("conv2d input gradient: %w", err)
		}
	}
	if op.diff[1] {
		if grads[1], err = gorgonia.ApplyOp(&convGradOp{Base: opkit.Base{Name: "conv2d.dw", Inputs: 2, Params: p, Tag: op.st}, st: op.st}, inputs[0], grad); err != nil {
			return nil, fmt.Errorf("conv2d weight gradient: %w", err)
		}
		op.st.weightGrad = true
	}
	if op.Inputs == 3 && op.diff[2] {
		if grads[2], err = channelSum(grad); err != nil {
			return nil, fmt.Errorf("conv2d bias gradient: %w", err)
		}
	}
	return grads, nil
}

// convGradOp is the gradient of a convolution with respect to its input
// (children w, dy) or its weight (children x, dy).
type convGradOp struct {
	opkit.Base
	st       *convState
	wrtInput bool
	out      opkit.Buffer
}

func (op *convGradOp) Type() hm.Type { return opkit.FnType(4, 4, 4) }

func (op *convGradOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.wrtInput {
		return tensor.Shape(op.st.geom.xShape()), nil
	}
	return tensor.Shape(op.st.geom.wShape()), nil
}

func (op *convGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	g := op.st.geom
	if err := checkShape(op.Name+" output gradient", in[1], g.outShape()); err != nil {
		return nil, err
	}
	if op.wrtInput {
		if err := checkShape(op.Name+" weight", in[0], g.wShape()); err != nil {
			return nil, err
		}
		out := op.out.Get(in[0].Dtype(), g.xShape()...)
		switch w := in[0].Data().(type) {
		case []float32:
			err = convGradInput(op.st, w, in[1].Data().([]float32), out.Data().([]float32))
		case []float64:
			err = convGradInput(op.st, w, in[1].Data().([]float64), out.Data().([]float64))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
		return out, nil
	}
	if err := checkShape(op.Name+" input", in[0], g.xShape()); err != nil {
		return nil, err
	}
	out := op.out.Get(in[0].Dtype(), g.wShape()...)
	switch x := in[0].Data().(type) {
	case []float32:
		err = convGradWeight(op.st, x, in[1].Data().([]float32), out.Data().([]float32), in[0].Uintptr())
	case []float64:
		err = convGradWeight(op.st, x, in[1].Data().([]float64), out.Data().([]float64), in[0].Uintptr())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return out, nil
}

func (op *convGradOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *convGradOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}

// channelSum sums a (N, C, ...) tensor over every axis but the channel
// axis: the gradient of a per-channel bias.
func channelSum(x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape()
	if s.Dims() < 2 {
		return nil, fmt.Errorf("channel sum: shape %v: want at least (N, C)", s)
	}
	op := &channelSumOp{Base: opkit.Base{Name: "channelsum", Inputs: 1, Params: append([]int(nil), s...)}}
	return gorgonia.ApplyOp(op, x)
}

type channelSumOp struct {
	opkit.Base
	out opkit.Buffer
}

func (op *channelSumOp) Type() hm.Type { return opkit.FnType(1, len(op.Params)) }

func (op *channelSumOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.Params[1]}, nil
}

func (op *channelSumOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	in, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	if err := checkShape(op.Name+" input", in[0], op.Params); err != nil {
		return nil, err
	}
	n, c := op.Params[0], op.Params[1]
	area := tensor.Shape(op.Params).TotalSize() / max(1, n*c)
	out := op.out.Get(in[0].Dtype(), c)
	switch x := in[0].Data().(type) {
	case []float32:
		sumChannels(x, out.Data().([]float32), n, c, area)
	case []float64:
		sumChannels(x, out.Data().([]float64), n, c, area)
	}
	return out, nil
}

// sumChannels sets out[c] to the sum of x[i, c, :] over i, channels split
// across workers (it runs on the largest gradients of the step).
func sumChannels[T Float](x, out []T, n, c, area int) {
	opkit.For(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var s float64 // float32 sums over a whole batch lose digits
			for i := range n {
				s += sumRow(x[(i*c+ch)*area:][:area])
			}
			out[ch] = T(s)
		}
	})
}

// sumRow sums one map with four accumulators, which lets the adds overlap; each
// partial sum covers a quarter of one map, short enough for the element type.
func sumRow[T Float](v []T) float64 {
	if f, ok := any(v).([]float32); ok {
		return blas.Sum(f) // the same, 32 partial sums with AVX2
	}
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		a0 += v[i]
		a1 += v[i+1]
		a2 += v[i+2]
		a3 += v[i+3]
	}
	s := float64(a0) + float64(a1) + float64(a2) + float64(a3)
	for ; i < len(v); i++ {
		s += float64(v[i])
	}
	return s
}

func (op *channelSumOp) DiffWRT(inputs int) []bool { return make([]bool, inputs) }

func (op *channelSumOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%s: second derivatives are not implemented", op.Name)
}
