package kernels

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// BatchNormState is the running statistics of one batch-norm layer, owned by
// the model and saved in its checkpoints. The semantics are PyTorch's: the
// running variance is the unbiased batch variance, the normalisation uses the
// biased one, and new = (1 - Momentum) old + Momentum batch.
type BatchNormState struct {
	Mean, Var []float64
	Momentum  float64
	Eps       float64
	// Training selects batch statistics (and updates Mean and Var on every
	// forward run); otherwise Mean and Var normalise. It may be flipped
	// between runs of one graph.
	Training bool
}

// NewBatchNormState is the state of a fresh layer of c channels with
// PyTorch's defaults: mean 0, variance 1, momentum 0.1, eps 1e-5, training.
func NewBatchNormState(c int) *BatchNormState {
	st := &BatchNormState{Mean: make([]float64, c), Var: make([]float64, c), Momentum: 0.1, Eps: 1e-5, Training: true}
	for i := range st.Var {
		st.Var[i] = 1
	}
	return st
}

// validate checks the state against c channels.
func (st *BatchNormState) validate(c int) error {
	switch {
	case len(st.Mean) != c || len(st.Var) != c:
		return fmt.Errorf("state has %d means and %d variances for %d channels", len(st.Mean), len(st.Var), c)
	case !(st.Momentum >= 0 && st.Momentum <= 1):
		return fmt.Errorf("momentum %v outside [0, 1]", st.Momentum)
	case !(st.Eps > 0) || math.IsInf(st.Eps, 1):
		return fmt.Errorf("eps %v is not positive and finite", st.Eps)
	}
	return nil
}

// BatchNorm2D normalises each channel of x (N,C,H,W) and scales and shifts
// it by gamma and beta (C values each, of any shape). In training mode it
// uses the batch's statistics, with the full gradient through them, and
// updates st once per forward run; in eval mode it uses st's running
// estimates. The gradient goes to x, gamma and beta.
func BatchNorm2D(x, gamma, beta *gorgonia.Node, st *BatchNormState, opts ...Option) (*gorgonia.Node, error) {
	if x == nil || gamma == nil || beta == nil {
		return nil, errors.New("batch norm: nil input")
	}
	if st == nil {
		return nil, errors.New("batch norm: nil state")
	}
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("batch norm: input shape %v is not (N,C,H,W)", s)
	}
	c := s[1]
	if gamma.Shape().TotalSize() != c || beta.Shape().TotalSize() != c {
		return nil, fmt.Errorf("batch norm: gamma %v and beta %v must hold %d values each", gamma.Shape(), beta.Shape(), c)
	}
	if gamma.Dtype() != x.Dtype() || beta.Dtype() != x.Dtype() {
		return nil, fmt.Errorf("batch norm: input is %v, gamma %v, beta %v", x.Dtype(), gamma.Dtype(), beta.Dtype())
	}
	if err := st.validate(c); err != nil {
		return nil, fmt.Errorf("batch norm: %w", err)
	}
	diff := gradsOf(gorgonia.Nodes{x, gamma, beta}, opts)
	op := &bnOp{
		Base:       opkit.Base{Name: gradName("BatchNorm2D", diff), Inputs: 3, Params: []int{s[0], s[1], s[2], s[3]}, Tag: st},
		st:         st,
		diff:       diff,
		gammaShape: gamma.Shape().Clone(),
		betaDims:   beta.Dims(),
	}
	y, err := gorgonia.ApplyOp(op, x, gamma, beta)
	if err != nil {
		return nil, fmt.Errorf("batch norm: %w", err)
	}
	return y, nil
}

// bnOp is the forward op. Its params are (N, C, H, W), fixed when the graph
// is built; values are checked by size only, as an unsafe Reshape elsewhere
// may have changed a tensor's shape in place. It keeps the per-channel mean
// and 1/std it normalised with for the gradient ops of the same run.
type bnOp struct {
	opkit.Base
	st         *BatchNormState
	diff       []bool // per input (x, gamma, beta): whether it gets a gradient
	gammaShape tensor.Shape
	betaDims   int
	out        opkit.Buffer

	mean, invStd []float64
	training     bool // the mode of the last forward run
}

func (op *bnOp) Type() hm.Type { return opkit.FnType(4, 4, len(op.gammaShape), op.betaDims) }

func (op *bnOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.ShapeOf(op.Name, in, 0)
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

// bnDims returns the images, channels and pixels per channel map.
func (op *bnOp) bnDims() (n, c, hw int) {
	return op.Params[0], op.Params[1], op.Params[2] * op.Params[3]
}

func (op *bnOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 3, vals)
	if err != nil {
		return nil, err
	}
	x, gamma, beta := args[0], args[1], args[2]
	n, c, hw := op.bnDims()
	if x.Shape().TotalSize() != n*c*hw || gamma.Shape().TotalSize() != c || beta.Shape().TotalSize() != c {
		return nil, fmt.Errorf("%s: input %v, gamma %v, beta %v, want %v, (%d), (%d)", op.Name, x.Shape(), gamma.Shape(), beta.Shape(), op.Params, c, c)
	}
	st := op.st
	if err := st.validate(c); err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	if st.Training && n*hw < 2 {
		return nil, fmt.Errorf("%s: training needs more than one value per channel, got input %v", op.Name, x.Shape())
	}
	if len(op.mean) != c {
		op.mean, op.invStd = make([]float64, c), make([]float64, c)
	}
	op.training = st.Training
	y := op.out.Get(x.Dtype(), op.Params...)
	switch x.Dtype() {
	case tensor.Float32:
		bnForward(op, x.Float32s(), gamma.Float32s(), beta.Float32s(), y.Float32s())
	case tensor.Float64:
		bnForward(op, x.Float64s(), gamma.Float64s(), beta.Float64s(), y.Float64s())
	}
	return y, nil
}

// bnForward computes the statistics (batch or running), updates the running
// estimates in training mode, and writes y = gamma (x - mean) / std + beta.
func bnForward[T Float](op *bnOp, x, gamma, beta, y []T) {
	n, c, hw := op.bnDims()
	st, m := op.st, float64(n*hw)
	opkit.For(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, variance := st.Mean[ch], st.Var[ch]
			if op.training {
				// Two passes: the mean first, then squared deviations, which
				// stays accurate when the mean is large against the spread.
				var sum float64
				for i := range n {
					sum += bnSum(x[(i*c+ch)*hw : (i*c+ch+1)*hw])
				}
				mean = sum / m
				var ss float64
				for i := range n {
					ss += bnSumSq(x[(i*c+ch)*hw:(i*c+ch+1)*hw], mean)
				}
				variance = ss / m
				st.Mean[ch] = (1-st.Momentum)*st.Mean[ch] + st.Momentum*mean
				st.Var[ch] = (1-st.Momentum)*st.Var[ch] + st.Momentum*ss/(m-1)
			}
			invStd := 1 / math.Sqrt(variance+st.Eps)
			op.mean[ch], op.invStd[ch] = mean, invStd
			scale, shift := float64(gamma[ch])*invStd, float64(beta[ch])
			for i := range n {
				xs, ys := x[(i*c+ch)*hw:(i*c+ch+1)*hw], y[(i*c+ch)*hw:(i*c+ch+1)*hw]
				ys = ys[:len(xs)]
				// x - mean in float64: with a large mean, a float32
				// gamma/std x + (beta - mean gamma/std) would cancel.
				for j, v := range xs {
					ys[j] = T((float64(v)-mean)*scale + shift)
				}
			}
		}
	})
}

// bnSum returns sum(x) in float64, with four accumulators: one would make
// each add wait for the last.
func bnSum[T Float](x []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// bnSumSq returns sum((x - mean)^2) in float64, as bnSum does.
func bnSumSq[T Float](x []T, mean float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := float64(x[i])-mean, float64(x[i+1])-mean, float64(x[i+2])-mean, float64(x[i+3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - mean
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func (op *bnOp) DiffWRT(int) []bool { return slices.Clone(op.diff) }

// SymDiff builds one reduction node holding, per channel, sum(g) and
// sum(g xhat), which give dbeta and dgamma directly and feed dx.
func (op *bnOp) SymDiff(inputs gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("%s: expected 3 inputs, got %d", op.Name, len(inputs))
	}
	x, gamma, beta := inputs[0], inputs[1], inputs[2]
	sums, err := gorgonia.ApplyOp(&bnSumsOp{Base: opkit.Base{Name: "BatchNorm2DSums", Inputs: 2, Params: op.Params, Tag: op}, fwd: op}, x, grad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.Name, err)
	}
	grads := make(gorgonia.Nodes, 3)
	if op.diff[0] {
		if grads[0], err = gorgonia.ApplyOp(&bnDxOp{Base: opkit.Base{Name: "BatchNorm2DGradX", Inputs: 4, Params: op.Params, Tag: op}, fwd: op}, x, gamma, grad, sums); err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
	}
	if op.diff[1] {
		if grads[1], err = gorgonia.ApplyOp(&bnPickOp{Base: opkit.Base{Name: "BatchNorm2DGradGamma", Inputs: 1, Params: []int{1}, Tag: op}, shape: gamma.Shape().Clone()}, sums); err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
	}
	if op.diff[2] {
		if grads[2], err = gorgonia.ApplyOp(&bnPickOp{Base: opkit.Base{Name: "BatchNorm2DGradBeta", Inputs: 1, Params: []int{0}, Tag: op}, shape: beta.Shape().Clone()}, sums); err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
	}
	return grads, nil
}

// bnSumsOp maps (x, g) to a (2, C) tensor: per channel sum(g) and sum(g xhat),
// with xhat normalised by the statistics of the forward run.
type bnSumsOp struct {
	opkit.Base
	fwd *bnOp
	out opkit.Buffer
}

func (op *bnSumsOp) Type() hm.Type { return opkit.FnType(2, 4, 4) }

func (op *bnSumsOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{2, op.Params[1]}, nil
}

func (op *bnSumsOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 2, vals)
	if err != nil {
		return nil, err
	}
	x, g := args[0], args[1]
	n, c, hw := op.fwd.bnDims()
	if x.Shape().TotalSize() != n*c*hw || g.Shape().TotalSize() != n*c*hw {
		return nil, fmt.Errorf("%s: input %v and gradient %v, want %v", op.Name, x.Shape(), g.Shape(), op.Params)
	}
	if len(op.fwd.mean) != c {
		return nil, fmt.Errorf("%s: the forward op has not run", op.Name)
	}
	sums := op.out.Get(x.Dtype(), 2, c)
	switch x.Dtype() {
	case tensor.Float32:
		bnSums(op.fwd, x.Float32s(), g.Float32s(), sums.Float32s())
	case tensor.Float64:
		bnSums(op.fwd, x.Float64s(), g.Float64s(), sums.Float64s())
	}
	return sums, nil
}

func bnSums[T Float](fwd *bnOp, x, g, sums []T) {
	n, c, hw := fwd.bnDims()
	opkit.For(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invStd := fwd.mean[ch], fwd.invStd[ch]
			var sg, sgx float64
			for i := range n {
				a, b := bnDot(x[(i*c+ch)*hw:(i*c+ch+1)*hw], g[(i*c+ch)*hw:(i*c+ch+1)*hw], mean)
				sg += a
				sgx += b
			}
			sums[ch], sums[c+ch] = T(sg), T(sgx*invStd)
		}
	})
}

// bnDot returns sum(g) and sum(g (x - mean)), with two accumulators each.
func bnDot[T Float](x, g []T, mean float64) (sg, sgx float64) {
	x = x[:len(g)]
	var a0, a1, b0, b1 float64
	i := 0
	for ; i+2 <= len(g); i += 2 {
		g0, g1 := float64(g[i]), float64(g[i+1])
		a0 += g0
		a1 += g1
		b0 += g0 * (float64(x[i]) - mean)
		b1 += g1 * (float64(x[i+1]) - mean)
	}
	for ; i < len(g); i++ {
		a0 += float64(g[i])
		b0 += float64(g[i]) * (float64(x[i]) - mean)
	}
	return a0 + a1, b0 + b1
}

// bnDxOp maps (x, gamma, g, sums) to dL/dx. In training mode
// dx = gamma/std (g - mean(g) - xhat mean(g xhat)); in eval mode the
// statistics are constants and dx = gamma/std g.
type bnDxOp struct {
	opkit.Base
	fwd *bnOp
	out opkit.Buffer
}

func (op *bnDxOp) Type() hm.Type {
	return opkit.FnType(4, 4, len(op.fwd.gammaShape), 4, 2)
}

func (op *bnDxOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(op.Params).Clone(), nil
}

func (op *bnDxOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 4, vals)
	if err != nil {
		return nil, err
	}
	x, gamma, g, sums := args[0], args[1], args[2], args[3]
	n, c, hw := op.fwd.bnDims()
	if x.Shape().TotalSize() != n*c*hw || g.Shape().TotalSize() != n*c*hw ||
		gamma.Shape().TotalSize() != c || sums.Shape().TotalSize() != 2*c {
		return nil, fmt.Errorf("%s: input %v, gamma %v, gradient %v, sums %v do not fit %v",
			op.Name, x.Shape(), gamma.Shape(), g.Shape(), sums.Shape(), op.Params)
	}
	if len(op.fwd.mean) != c {
		return nil, fmt.Errorf("%s: the forward op has not run", op.Name)
	}
	dx := op.out.Get(x.Dtype(), op.Params...)
	switch x.Dtype() {
	case tensor.Float32:
		bnDx(op.fwd, x.Float32s(), gamma.Float32s(), g.Float32s(), sums.Float32s(), dx.Float32s())
	case tensor.Float64:
		bnDx(op.fwd, x.Float64s(), gamma.Float64s(), g.Float64s(), sums.Float64s(), dx.Float64s())
	}
	return dx, nil
}

func bnDx[T Float](fwd *bnOp, x, gamma, g, sums, dx []T) {
	n, c, hw := fwd.bnDims()
	m := float64(n * hw)
	opkit.For(c, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invStd := fwd.mean[ch], fwd.invStd[ch]
			scale := float64(gamma[ch]) * invStd
			// dx = scale g + b (x - mean) + d, the x-dependence of xhat folded in.
			b, d := 0.0, 0.0
			if fwd.training {
				meanG, meanGX := float64(sums[ch])/m, float64(sums[c+ch])/m
				b = -scale * meanGX * invStd
				d = -scale * meanG
			}
			for i := range n {
				xs, gs, ds := x[(i*c+ch)*hw:(i*c+ch+1)*hw], g[(i*c+ch)*hw:(i*c+ch+1)*hw], dx[(i*c+ch)*hw:(i*c+ch+1)*hw]
				xs, ds = xs[:len(gs)], ds[:len(gs)]
				for j, v := range gs {
					ds[j] = T(scale*float64(v) + b*(float64(xs[j])-mean) + d)
				}
			}
		}
	})
}

// bnPickOp copies row params[0] of the (2, C) sums into a tensor of the
// parameter's shape: row 0 is dbeta, row 1 dgamma.
type bnPickOp struct {
	opkit.Base
	shape tensor.Shape
	out   opkit.Buffer
}

func (op *bnPickOp) Type() hm.Type { return opkit.FnType(len(op.shape), 2) }

func (op *bnPickOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *bnPickOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	args, err := opkit.Args(op.Name, 1, vals)
	if err != nil {
		return nil, err
	}
	sums := args[0]
	c := op.shape.TotalSize()
	if sums.Shape().TotalSize() != 2*c {
		return nil, fmt.Errorf("%s: sums %v, want (2,%d)", op.Name, sums.Shape(), c)
	}
	out := op.out.Get(sums.Dtype(), op.shape...)
	row := op.Params[0]
	switch sums.Dtype() {
	case tensor.Float32:
		copy(out.Float32s(), sums.Float32s()[row*c:(row+1)*c])
	case tensor.Float64:
		copy(out.Float64s(), sums.Float64s()[row*c:(row+1)*c])
	}
	return out, nil
}
