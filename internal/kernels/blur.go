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

// BlurKernel is the normalised 1-D Gaussian exp(-a^2/(2 sigma^2)) for a in
// -radius..radius. A sigma <= 0 (or NaN) gives the delta, which blurs nothing;
// a negative radius counts as zero.
func BlurKernel(sigma float64, radius int) []float64 {
	radius = max(radius, 0)
	k := make([]float64, 2*radius+1)
	if !(sigma > 0) {
		k[radius] = 1
		return k
	}
	var sum float64
	for i := range k {
		a := float64(i - radius)
		k[i] = math.Exp(-a * a / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// BlurRadius is the kernel radius used for a sigma: ceil(3 sigma), zero for
// sigma <= 0.
func BlurRadius(sigma float64) int {
	if !(sigma > 0) {
		return 0
	}
	return int(math.Ceil(3 * sigma))
}

// GaussianBlur blurs each map of x (N,C,H,W) with the 1-D kernel (length
// 2r+1) along rows and then along columns, replicating the border pixels.
// The kernel is an input rather than a parameter of the op so that the
// trainer can change it every step (the blur schedule) without rebuilding
// the graph; the gradient goes to x only.
func GaussianBlur(x, kernel *gorgonia.Node) (*gorgonia.Node, error) {
	if x == nil || kernel == nil {
		return nil, errors.New("gaussian blur: nil input")
	}
	s, ks := x.Shape(), kernel.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("gaussian blur: input shape %v is not (N,C,H,W)", s)
	}
	if len(ks) != 1 || ks[0]%2 != 1 {
		return nil, fmt.Errorf("gaussian blur: kernel shape %v is not (2r+1)", ks)
	}
	if x.Dtype() != kernel.Dtype() {
		return nil, fmt.Errorf("gaussian blur: input is %v but kernel is %v", x.Dtype(), kernel.Dtype())
	}
	op := &blurOp{Base: opkit.Base{Name: "GaussianBlur", Inputs: 2, Params: []int{s[0], s[1], s[2], s[3], ks[0]}}}
	y, err := gorgonia.ApplyOp(op, x, kernel)
	if err != nil {
		return nil, fmt.Errorf("gaussian blur: %w", err)
	}
	return y, nil
}

// blurOp's params are (N, C, H, W, 2r+1), fixed when the graph is built;
// values are checked by size only, as an unsafe Reshape elsewhere may have
// changed a tensor's shape in place.
type blurOp struct {
	opkit.Base
	out opkit.Buffer
	tmp floatScratch
}

func (op *blurOp) Type() hm.Type { return opkit.FnType(4, 4, 1) }

func (op *blurOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.ShapeOf(op.Name, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func (op *blurOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return blurDo(op.Name, op.Params, &op.out, &op.tmp, false, vals)
}

func (op *blurOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *blurOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 2 {
		return nil, fmt.Errorf("%s: expected 2 inputs, got %d", op.Name, len(inputs))
	}
	back := &blurGradOp{Base: opkit.Base{Name: "GaussianBlurGrad", Inputs: 2, Params: op.Params}}
	dx, err := gorgonia.ApplyOp(back, grad, inputs[1])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	return gorgonia.Nodes{dx, nil}, nil
}

// blurGradOp maps (dL/dy, kernel) to dL/dx: the transposed blur.
type blurGradOp struct {
	opkit.Base
	out opkit.Buffer
	tmp floatScratch
}

func (op *blurGradOp) Type() hm.Type { return opkit.FnType(4, 4, 1) }

func (op *blurGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.Params[:4]).Clone(), nil
}

func (op *blurGradOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return blurDo(op.Name, op.Params, &op.out, &op.tmp, true, vals)
}

// blurDo runs the blur (or its transpose) of vals[0] with kernel vals[1].
func blurDo(name string, params []int, out *opkit.Buffer, tmp *floatScratch, transpose bool, vals []gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(name, 2, vals)
	if err != nil {
		return nil, err
	}
	x, k := args[0], args[1]
	n, c, h, w, klen := params[0], params[1], params[2], params[3], params[4]
	if x.Shape().TotalSize() != n*c*h*w || k.Shape().TotalSize() != klen {
		return nil, fmt.Errorf("%s: input %v and kernel %v, want %v and (%d)", name, x.Shape(), k.Shape(), params[:4], klen)
	}
	y := out.Get(x.Dtype(), n, c, h, w)
	switch x.Dtype() {
	case tensor.Float32:
		blurRun(x.Float32s(), y.Float32s(), k.Float32s(), n*c, h, w, tmp, transpose)
	case tensor.Float64:
		blurRun(x.Float64s(), y.Float64s(), k.Float64s(), n*c, h, w, tmp, transpose)
	}
	return y, nil
}

// blurIsDelta reports whether k is [0..0, 1, 0..0], the blur that must give
// back its input exactly (and is then just a copy).
func blurIsDelta[T Float](k []T) bool {
	r := len(k) / 2
	for i, v := range k {
		if (i == r && v != 1) || (i != r && v != 0) {
			return false
		}
	}
	return true
}

// blurRun blurs (or, with transpose, applies the transposed blur to) each of
// the planes h x w maps of src into dst, in parallel over the maps, with
// per-worker scratch from s.
func blurRun[T Float](src, dst, k []T, planes, h, w int, s *floatScratch, transpose bool) {
	if blurIsDelta(k) {
		copy(dst, src)
		return
	}
	r := len(k) / 2
	size := h*w + w + 2*r
	scratch := floatScratchGet[T](s, opkit.Workers(planes)*size)
	opkit.ForWorkers(planes, func(worker, lo, hi int) {
		tmp := scratch[worker*size : worker*size+h*w]
		row := scratch[worker*size+h*w : (worker+1)*size]
		for p := lo; p < hi; p++ {
			in, out := src[p*h*w:(p+1)*h*w], dst[p*h*w:(p+1)*h*w]
			if transpose {
				blurColumnsT(in, tmp, k, h, w)
				blurRowsT(tmp, out, k, row, h, w)
			} else {
				blurRows(in, tmp, k, row, h, w)
				blurColumns(tmp, out, k, h, w)
			}
		}
	})
}

// blurRows correlates every row of src with k into dst, replicating the end
// pixels; row is scratch of length w+2r. The taps are the outer loop so that
// the inner one is a multiply-add over the row with independent iterations.
func blurRows[T Float](src, dst, k, row []T, h, w int) {
	r := len(k) / 2
	for y := range h {
		in, out := src[y*w:(y+1)*w], dst[y*w:(y+1)*w]
		for i := range r {
			row[i] = in[0]
			row[r+w+i] = in[w-1]
		}
		copy(row[r:r+w], in)
		clear(out)
		for a, kv := range k {
			shifted := row[a : a+w]
			for x, v := range shifted {
				out[x] += kv * v
			}
		}
	}
}

// blurColumns correlates every column of src with k into dst, replicating
// the top and bottom rows; whole rows are combined at a time.
func blurColumns[T Float](src, dst, k []T, h, w int) {
	r := len(k) / 2
	for y := range h {
		out := dst[y*w : (y+1)*w]
		clear(out)
		for a, kv := range k {
			sy := min(max(y+a-r, 0), h-1)
			in := src[sy*w : (sy+1)*w]
			for x, v := range in {
				out[x] += kv * v
			}
		}
	}
}

// blurColumnsT is the transpose of blurColumns.
func blurColumnsT[T Float](src, dst, k []T, h, w int) {
	r := len(k) / 2
	clear(dst[:h*w])
	for y := range h {
		in := src[y*w : (y+1)*w]
		for a, kv := range k {
			sy := min(max(y+a-r, 0), h-1)
			out := dst[sy*w : (sy+1)*w]
			for x, v := range in {
				out[x] += kv * v
			}
		}
	}
}

// blurRowsT is the transpose of blurRows: it scatters into the padded row
// and folds the padding back onto the end pixels it replicated.
func blurRowsT[T Float](src, dst, k, row []T, h, w int) {
	r := len(k) / 2
	for y := range h {
		in, out := src[y*w:(y+1)*w], dst[y*w:(y+1)*w]
		clear(row)
		for a, kv := range k {
			shifted := row[a : a+w]
			for x, v := range in {
				shifted[x] += kv * v
			}
		}
		copy(out, row[r:r+w])
		for i := range r {
			out[0] += row[i]
			out[w-1] += row[r+w+i]
		}
	}
}
