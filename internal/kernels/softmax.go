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

// SpatialSoftmax normalises each map of x over all of its h*w cells:
// softmax(x / temperature), so that every map sums to one, as the saliency
// map must. x is (N,1,h,w) or (N,h,w); the result is (N,h,w).
func SpatialSoftmax(x *gorgonia.Node, temperature float64) (*gorgonia.Node, error) {
	if x == nil {
		return nil, errors.New("spatial softmax: nil input")
	}
	if !(temperature > 0) || math.IsInf(temperature, 1) {
		return nil, fmt.Errorf("spatial softmax: temperature %v is not positive and finite", temperature)
	}
	s := x.Shape()
	inDims := len(s)
	switch {
	case inDims == 4 && s[1] == 1:
	case inDims == 3:
	default:
		return nil, fmt.Errorf("spatial softmax: input shape %v is neither (N,1,h,w) nor (N,h,w)", s)
	}
	op := &softmaxOp{
		Base: opkit.Base{Name: "SpatialSoftmax", Inputs: 1,
			Params: []int{inDims, int(math.Float64bits(temperature))}},
		invTemp: 1 / temperature,
		inShape: s.Clone(),
	}
	y, err := gorgonia.ApplyOp(op, x)
	if err != nil {
		return nil, fmt.Errorf("spatial softmax: %w", err)
	}
	return y, nil
}

// softmaxSizes returns the number of maps and cells per map of a (N,1,h,w)
// or (N,h,w) shape, and the (N,h,w) output shape.
func softmaxSizes(s tensor.Shape) (n, cells int, out tensor.Shape) {
	h, w := s[len(s)-2], s[len(s)-1]
	return s[0], h * w, tensor.Shape{s[0], h, w}
}

// softmaxOp is the forward op; it keeps its output buffer between runs.
type softmaxOp struct {
	opkit.Base
	invTemp float64
	// inShape is fixed when the graph is built; values are checked by size
	// only, as an unsafe Reshape elsewhere may have changed a tensor's shape.
	inShape tensor.Shape
	out     opkit.Buffer
}

func (op *softmaxOp) Type() hm.Type { return opkit.FnType(3, len(op.inShape)) }

func (op *softmaxOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.ShapeOf(op.Name, in, 0)
	if err != nil {
		return nil, err
	}
	if len(s) == 4 {
		return tensor.Shape{s[0], s[2], s[3]}, nil
	}
	return s.Clone(), nil
}

func (op *softmaxOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	x := args[0]
	n, cells, outShape := softmaxSizes(op.inShape)
	if x.Shape().TotalSize() != n*cells {
		return nil, fmt.Errorf("%s: input shape %v, want %v", op.Name, x.Shape(), op.inShape)
	}
	y := op.out.Get(x.Dtype(), outShape...)
	switch x.Dtype() {
	case tensor.Float32:
		softmaxForward(x.Float32s(), y.Float32s(), n, cells, float32(op.invTemp))
	case tensor.Float64:
		softmaxForward(x.Float64s(), y.Float64s(), n, cells, op.invTemp)
	}
	return y, nil
}

func (op *softmaxOp) DiffWRT(int) []bool { return []bool{true} }

func (op *softmaxOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("%s: expected 1 input, got %d", op.Name, len(inputs))
	}
	back := &softmaxGradOp{
		Base:    opkit.Base{Name: "SpatialSoftmaxGrad", Inputs: 2, Params: op.Params},
		invTemp: op.invTemp,
		inShape: op.inShape,
	}
	dx, err := gorgonia.ApplyOp(back, inputs[0], grad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return gorgonia.Nodes{dx}, nil
}

// softmaxGradOp maps (x, dL/dy) to dL/dx. It recomputes y from x rather than
// reading the forward output, which later ops may have overwritten in place.
type softmaxGradOp struct {
	opkit.Base
	invTemp float64
	inShape tensor.Shape
	out     opkit.Buffer
}

func (op *softmaxGradOp) Type() hm.Type { return opkit.FnType(len(op.inShape), len(op.inShape), 3) }

func (op *softmaxGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.ShapeOf(op.Name, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op *softmaxGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	x, g := args[0], args[1]
	n, cells, _ := softmaxSizes(op.inShape)
	if x.Shape().TotalSize() != n*cells || g.Shape().TotalSize() != n*cells {
		return nil, fmt.Errorf("%s: input %v and gradient %v, want %d values each", op.Name, x.Shape(), g.Shape(), n*cells)
	}
	dx := op.out.Get(x.Dtype(), op.inShape...)
	switch x.Dtype() {
	case tensor.Float32:
		softmaxBackward(x.Float32s(), g.Float32s(), dx.Float32s(), n, cells, float32(op.invTemp))
	case tensor.Float64:
		softmaxBackward(x.Float64s(), g.Float64s(), dx.Float64s(), n, cells, op.invTemp)
	}
	return dx, nil
}

// softmaxForward writes softmax(x*invT) of each of the n maps of cells
// values into y. Exponentials are taken in float64 for float32 data too.
func softmaxForward[T Float](x, y []T, n, cells int, invT T) {
	opkit.For(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			softmaxMap(x[i*cells:(i+1)*cells], y[i*cells:(i+1)*cells], invT)
		}
	})
}

func softmaxMap[T Float](x, y []T, invT T) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for j, v := range x {
		e := math.Exp(float64((v - m) * invT))
		y[j] = T(e)
		sum += e
	}
	inv := T(1 / sum)
	for j := range y {
		y[j] *= inv
	}
}

// softmaxBackward: dx = y * (g - <g, y>) / T, map by map.
func softmaxBackward[T Float](x, g, dx []T, n, cells int, invT T) {
	opkit.For(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xs, gs, ds := x[i*cells:(i+1)*cells], g[i*cells:(i+1)*cells], dx[i*cells:(i+1)*cells]
			softmaxMap(xs, ds, invT)
			var dot float64
			for j, y := range ds {
				dot += float64(y) * float64(gs[j])
			}
			for j, y := range ds {
				ds[j] = y * (gs[j] - T(dot)) * invT
			}
		}
	})
}
