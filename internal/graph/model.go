// Package graph builds the whole model as one Gorgonia expression graph: saliency
// network on the low-resolution copy, softmax over the saliency cells, grid generator,
// grid upsample, sampling of the full-resolution batch, optional blur, task network and
// loss.
//
// The antialiased low-resolution copies of the source batch (the saliency network's
// view, and the uniform sampler's task input) are inputs, not operations: they are fixed
// functions of the images with no gradient, made by package lowres with the data
// (Spec.Inputs says which), so a step's cost does not grow with the source resolution.
//
// Building is separate from running: Build returns the graph and its named input, output
// and learnable nodes; the trainer owns the VM and the optimiser.
package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/kernels"
	"zoomtrain/internal/lowres"
	"zoomtrain/internal/sampler"
)

// Sampler kinds.
const (
	SamplerSaliency = "saliency"
	SamplerUniform  = "uniform"
)

// Task network kinds.
const (
	TaskReference = "reference"
	TaskResNet    = "resnet"
)

// Spec describes the model independently of any batch size.
type Spec struct {
	Classes int // classification: the classifier's outputs; 0 for regression
	// Targets > 0 makes the model a regressor: one linear output per target (on
	// standardised targets), trained with the loss Loss, instead of a classifier.
	Targets       int
	Loss          kernels.RegressionLossKind
	Resolution    int // source images are Resolution x Resolution, 3 channels
	Sampler       string
	TaskInput     int // task network input side
	SaliencyInput int // side of the low-resolution copy fed to the saliency network
	Grid          int // saliency map / grid side
	FWHM          float64
	Padding       int
	PaddingMode   string
	Temperature   float64
	TaskNet       string
	ResNetWidth   int
	ResNetBlocks  int
	// SaliencyNet is reference or resnet18-layer3; TaskWidth and SaliencyWidth are
	// the stem widths of torchvision ResNets (0: torchvision's 64).
	SaliencyNet   string
	TaskWidth     int
	SaliencyWidth int
	// Normalize (none or imagenet) is applied to both networks' inputs.
	Normalize string
	// SaliencyAlignCorners sets align_corners of the bilinear resize of a saliency
	// network's map to the grid (resnet18-layer3). GridHalfPixel upsamples the grid to
	// the task input with align_corners false (the official code) instead of true.
	SaliencyAlignCorners bool
	GridHalfPixel        bool
	// ResolutionDrop adds the official warm-up's pool-and-upsample of the sampled
	// image, its size set before each run (Model.Drop).
	ResolutionDrop bool
	// LowResPool makes the low-resolution copies (Inputs) by adaptive average
	// pooling, the official code's, instead of the antialiased resize.
	LowResPool bool
	// BlurRadius > 0 adds a Gaussian blur of the task input whose 1-D kernel (length
	// 2*BlurRadius+1) is an input node set every step.
	BlurRadius int
}

// Validate checks the spec's internal consistency.
func (s Spec) Validate() error {
	switch {
	case s.Targets < 0 || (s.Targets > 0 && s.Classes != 0):
		return fmt.Errorf("model has %d classes and %d regression targets: want one kind of head", s.Classes, s.Targets)
	case s.Targets == 0 && s.Classes < 2:
		return fmt.Errorf("model needs at least 2 classes, got %d", s.Classes)
	case s.Targets > 0 && s.Loss.Validate() != nil:
		return s.Loss.Validate()
	case s.TaskInput < 4 || s.TaskInput > s.Resolution:
		return fmt.Errorf("task input %d must be in [4, source resolution %d]", s.TaskInput, s.Resolution)
	case s.Sampler != SamplerSaliency && s.Sampler != SamplerUniform:
		return fmt.Errorf("unknown sampler %q (want saliency or uniform)", s.Sampler)
	case s.TaskNet != TaskReference && s.TaskNet != TaskResNet && !IsTorchvisionResNet(s.TaskNet):
		return fmt.Errorf("unknown task network %q (want reference, resnet, resnet18, resnet34, resnet50 or resnet101)", s.TaskNet)
	case s.SaliencyNet != "" && s.SaliencyNet != SaliencyReference && s.SaliencyNet != SaliencyResNet18Layer3:
		return fmt.Errorf("unknown saliency network %q (want reference or resnet18-layer3)", s.SaliencyNet)
	case s.Normalize != "" && s.Normalize != NormalizeNone && s.Normalize != NormalizeImageNet:
		return fmt.Errorf("unknown input normalisation %q (want none or imagenet)", s.Normalize)
	case s.TaskWidth < 0 || s.SaliencyWidth < 0:
		return fmt.Errorf("resnet widths must not be negative, got %d and %d", s.TaskWidth, s.SaliencyWidth)
	}
	// The stride-32 torchvision networks need a map left after layer4 (stride 16
	// after layer3 for the saliency network).
	if IsTorchvisionResNet(s.TaskNet) && s.TaskInput < 32 {
		return fmt.Errorf("task input %d is smaller than the %s's stride of 32", s.TaskInput, s.TaskNet)
	}
	if s.Sampler == SamplerSaliency {
		if s.SaliencyInput < 8 || s.SaliencyInput > s.Resolution {
			return fmt.Errorf("saliency input %d must be in [8, source resolution %d]", s.SaliencyInput, s.Resolution)
		}
		if s.SaliencyNet == SaliencyResNet18Layer3 && s.SaliencyInput < 16 {
			return fmt.Errorf("saliency input %d is smaller than the resnet18-layer3's stride of 16", s.SaliencyInput)
		}
		if s.Temperature <= 0 {
			return fmt.Errorf("saliency temperature must be positive, got %g", s.Temperature)
		}
	}
	return nil
}

// Part names for per-part learning rates.
const (
	PartSaliency     = "saliency"
	PartSaliencyHead = "saliency_head" // the saliency network's last layer
	PartTask         = "task"
)

// Param is one learnable tensor.
type Param struct {
	Name string
	Part string
	Node *G.Node
	// Frozen (Options.Frozen) parameters are constants of the differentiation: the
	// graph has no gradient for them, and Learnables leaves them out.
	Frozen bool
}

// Buffer is non-learned state saved with the model (batch-norm running statistics).
type Buffer struct {
	Name string
	BN   *kernels.BatchNormState
}

// Model is a built graph.
type Model struct {
	Spec  Spec
	Batch int
	Dtype tensor.Dtype
	G     *G.ExprGraph

	Images *G.Node // input, (Batch, 3, R, R); nil for the uniform sampler, which needs none
	OneHot *G.Node // input, (Batch, Classes); nil when built without a loss or for regression
	// Targets is the regression targets input, standardised, (Batch, Targets); nil
	// when built without a loss or for classification.
	Targets *G.Node
	Blur    *G.Node // input, (2*BlurRadius+1); nil without blur
	// Drop is the side the resolution drop pools to in the next run; nil without one.
	Drop *kernels.DropState

	// LowRes is the saliency network's input, (Batch, 3, s, s): the antialiased
	// downsample of Images (package lowres). Nil for the uniform sampler.
	LowRes *G.Node
	// Downsampled is the uniform sampler's task input before blur, (Batch, 3, TaskInput,
	// TaskInput): the antialiased downsample of the sources. Nil for the saliency sampler.
	Downsampled *G.Node

	Saliency *G.Node // (Batch, h, w), sums to one per image; nil for uniform
	Grid     *G.Node // (Batch, TaskInput, TaskInput, 2), the upsampled grid; nil for uniform
	TaskIn   *G.Node // (Batch, 3, TaskInput, TaskInput), after blur
	Logits   *G.Node // (Batch, Outputs()): class logits, or standardised regression outputs
	Loss     *G.Node // scalar mean cross-entropy or regression loss; nil without a loss

	Params  []Param
	Buffers []Buffer

	// flops counts the forward floating-point operations per image of the layers built
	// so far that dominate the cost (see FLOPs).
	flops float64
}

// FLOPs estimates the floating-point operations of one training step per image
// (forward, and backward at twice the forward cost) of the convolutions, the
// classifier and the grid generator's matrix products, which dominate: 2 per
// multiply-add. It is counted from the layers as built, with their output shapes.
func (m *Model) FLOPs() (forward, step float64) {
	return m.flops, 3 * m.flops
}

// Options for Build.
type Options struct {
	Batch    int
	Dtype    tensor.Dtype // tensor.Float32 (training) or tensor.Float64 (gradient checks)
	WithLoss bool
	Seed     uint64
	// Share, when set, binds the learnables and batch-norm buffers of another model of
	// the same spec instead of fresh ones: an evaluation graph sees the trainer's weights.
	Share *Model
	// Frozen, when set, reports the parameters (by name) that are not trained: their
	// layers build no gradient for them, which saves the backward pass their weight
	// gradients. Gradients to the layers' inputs stay.
	Frozen func(name string) bool
}

// Build constructs the model graph.
func Build(spec Spec, o Options) (*Model, error) {
	b, err := newBuilder(spec, o)
	if err != nil {
		return nil, err
	}
	if o.Share != nil {
		if o.Share.Spec != spec {
			return nil, fmt.Errorf("shared model has another spec")
		}
		b.share = map[string]*G.Node{}
		for _, p := range o.Share.Params {
			b.share[p.Name] = p.Node
		}
		b.shareBN = map[string]*kernels.BatchNormState{}
		for _, bf := range o.Share.Buffers {
			b.shareBN[bf.Name] = bf.BN
		}
	}
	if err := b.build(o.WithLoss); err != nil {
		return nil, err
	}
	return b.m, nil
}

// newBuilder checks the spec and options and starts an empty graph.
func newBuilder(spec Spec, o Options) (*builder, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if o.Batch < 1 {
		return nil, fmt.Errorf("batch size must be positive, got %d", o.Batch)
	}
	if o.Dtype != tensor.Float32 && o.Dtype != tensor.Float64 {
		return nil, fmt.Errorf("unsupported dtype %v", o.Dtype)
	}
	return &builder{
		m:      &Model{Spec: spec, Batch: o.Batch, Dtype: o.Dtype, G: G.NewGraph()},
		rng:    rand.New(rand.NewPCG(o.Seed, 0x5a11e7c7)),
		frozen: o.Frozen,
		fixed:  map[*G.Node]bool{},
	}, nil
}

type builder struct {
	m       *Model
	rng     *rand.Rand
	share   map[string]*G.Node
	shareBN map[string]*kernels.BatchNormState
	data    map[*G.Node]bool // nodes computed from inputs alone (isData)
	frozen  func(name string) bool
	fixed   map[*G.Node]bool // the frozen parameters' nodes
}

func (b *builder) build(withLoss bool) error {
	m, s := b.m, b.m.Spec
	var taskIn *G.Node
	var err error
	switch s.Sampler {
	case SamplerUniform:
		t := s.TaskInput
		m.Downsampled = G.NewTensor(m.G, m.Dtype, 4, G.WithShape(m.Batch, 3, t, t), G.WithName("downsampled"))
		taskIn = m.Downsampled
	case SamplerSaliency:
		if taskIn, err = b.saliencySampler(); err != nil {
			return err
		}
	}
	if s.BlurRadius > 0 {
		m.Blur = G.NewVector(m.G, m.Dtype, G.WithShape(2*s.BlurRadius+1), G.WithName("blur_kernel"))
		if err := G.Let(m.Blur, b.delta(2*s.BlurRadius+1)); err != nil {
			return err
		}
		if taskIn, err = kernels.GaussianBlur(taskIn, m.Blur); err != nil {
			return fmt.Errorf("blur: %w", err)
		}
	}
	if s.ResolutionDrop {
		m.Drop = &kernels.DropState{}
		in := taskIn
		if taskIn, err = kernels.ResolutionDrop(in, m.Drop); err != nil {
			return fmt.Errorf("resolution drop: %w", err)
		}
		b.markData(in, taskIn)
	}
	m.TaskIn = taskIn
	m.Logits, err = b.taskNet(taskIn)
	if err != nil {
		return fmt.Errorf("task network: %w", err)
	}
	if withLoss {
		if err := b.loss(); err != nil {
			return fmt.Errorf("loss: %w", err)
		}
	}
	return nil
}

// loss adds the labels or targets input and the loss on the task network's outputs.
func (b *builder) loss() error {
	m, s := b.m, b.m.Spec
	var err error
	if s.Targets > 0 {
		m.Targets = G.NewMatrix(m.G, m.Dtype, G.WithShape(m.Batch, s.Targets), G.WithName("targets"))
		m.Loss, err = kernels.RegressionLoss(m.Logits, m.Targets, s.Loss)
		return err
	}
	m.OneHot = G.NewMatrix(m.G, m.Dtype, G.WithShape(m.Batch, s.Classes), G.WithName("onehot"))
	m.Loss, err = kernels.SoftmaxCrossEntropy(m.Logits, m.OneHot)
	return err
}

// Outputs is the task network's number of outputs: the classes, or the regression
// targets.
func (s Spec) Outputs() int {
	if s.Targets > 0 {
		return s.Targets
	}
	return s.Classes
}

// saliencySampler builds low-res copy -> saliency net -> softmax -> grid -> sample.
func (b *builder) saliencySampler() (*G.Node, error) {
	m, s := b.m, b.m.Spec
	r, a := s.Resolution, s.SaliencyInput
	m.Images = G.NewTensor(m.G, m.Dtype, 4, G.WithShape(m.Batch, 3, r, r), G.WithName("images"))
	m.LowRes = G.NewTensor(m.G, m.Dtype, 4, G.WithShape(m.Batch, 3, a, a), G.WithName("lowres"))
	logits, err := b.saliencyNet(m.LowRes)
	if err != nil {
		return nil, fmt.Errorf("saliency network: %w", err)
	}
	if m.Saliency, err = kernels.SpatialSoftmax(logits, s.Temperature); err != nil {
		return nil, fmt.Errorf("saliency softmax: %w", err)
	}
	if m.Grid, err = b.grid(m.Saliency); err != nil {
		return nil, err
	}
	out, err := sampler.GridSample(m.Images, m.Grid)
	if err != nil {
		return nil, fmt.Errorf("grid sample: %w", err)
	}
	return out, nil
}

// grid is the grid generator followed by the upsample to the task input size.
func (b *builder) grid(saliency *G.Node) (*G.Node, error) {
	s := b.m.Spec
	gen, err := sampler.NewGenerator(sampler.Params{
		H: s.Grid, W: s.Grid, Padding: s.Padding, FWHM: s.FWHM, Mode: sampler.PaddingMode(s.PaddingMode),
	})
	if err != nil {
		return nil, fmt.Errorf("grid generator: %w", err)
	}
	grid, err := sampler.GenerateGrid(gen, saliency)
	if err != nil {
		return nil, fmt.Errorf("grid generator: %w", err)
	}
	// The separable form's small matrix products over the h x w map.
	h, w := s.Grid, s.Grid
	b.m.flops += 8 * float64(h*w*(h+w))
	up, err := sampler.UpsampleGridCorners(grid, s.TaskInput, s.TaskInput, !s.GridHalfPixel)
	if err != nil {
		return nil, fmt.Errorf("grid upsample: %w", err)
	}
	return up, nil
}

// referenceSaliency is the small saliency network of the reference benchmark:
// conv3x3/2 3->16, ReLU, conv3x3/2 16->32, ReLU, conv3x3 32->32, ReLU, adaptive average
// pool to the grid size, conv1x1 32->1.
func (b *builder) referenceSaliency(x *G.Node) (*G.Node, error) {
	s := b.m.Spec
	l := layers{b: b, part: PartSaliency}
	x = l.convReLU("saliency.conv1", x, 3, 16, 3, 2, 1)
	x = l.convReLU("saliency.conv2", x, 16, 32, 3, 2, 1)
	x = l.convReLU("saliency.conv3", x, 32, 32, 3, 1, 1)
	// The 1x1 head and the adaptive average pool are both linear, one across channels
	// and one within each map, with pooling weights that sum to one: they commute,
	// bias included. The head first pools one map instead of 32.
	l.part = PartSaliencyHead
	x = l.conv("saliency.head", x, 32, 1, 1, 1, 0, true)
	x = l.apply("saliency.pool", func() (*G.Node, error) { return kernels.AdaptiveAvgPool2D(x, s.Grid, s.Grid) })
	return x, l.err
}

// referenceTask is the small task network of the reference benchmark: conv3x3 3->32,
// ReLU, maxpool 2, conv3x3 32->64, ReLU, maxpool 2, conv3x3 64->64, ReLU, global average
// pool, linear 64->classes.
func (b *builder) referenceTask(x *G.Node) (*G.Node, error) {
	l := layers{b: b, part: PartTask}
	// ReLU then max pool equals max pool then ReLU (the max commutes with a
	// non-decreasing map), and the latter applies the ReLU to a quarter of the values.
	x = l.conv("task.conv1", x, 3, 32, 3, 1, 1, true)
	x = l.relu(l.maxPool(x, 2))
	x = l.conv("task.conv2", x, 32, 64, 3, 1, 1, true)
	x = l.relu(l.maxPool(x, 2))
	x = l.convReLU("task.conv3", x, 64, 64, 3, 1, 1)
	x = l.apply("task.gap", func() (*G.Node, error) { return kernels.GlobalAvgPool(x) })
	x = l.linear("task.fc", x, 64, b.m.Spec.Outputs())
	return x, l.err
}

// resnetTask is a residual task network with batch normalisation: a stem conv, three
// stages of basic blocks (width w, 2w, 4w; the last two halve the resolution), global
// average pool and a linear classifier.
func (b *builder) resnetTask(x *G.Node) (*G.Node, error) {
	s := b.m.Spec
	w := s.ResNetWidth
	if w < 1 || s.ResNetBlocks < 1 {
		return nil, fmt.Errorf("resnet needs positive width and blocks, got %d and %d", w, s.ResNetBlocks)
	}
	l := layers{b: b, part: PartTask}
	x = l.conv("task.stem", x, 3, w, 3, 1, 1, false)
	x = l.bn("task.stem.bn", x, w)
	x = l.relu(x)
	in := w
	for stage, width := range []int{w, 2 * w, 4 * w} {
		for blk := 0; blk < s.ResNetBlocks; blk++ {
			stride := 1
			if stage > 0 && blk == 0 {
				stride = 2
			}
			x = l.basicBlock(fmt.Sprintf("task.s%d.b%d", stage+1, blk+1), x, in, width, stride)
			in = width
		}
	}
	x = l.apply("task.gap", func() (*G.Node, error) { return kernels.GlobalAvgPool(x) })
	x = l.linear("task.fc", x, in, s.Outputs())
	return x, l.err
}

// layers builds layers in sequence and keeps the first error, so the network
// definitions read as a list of layers.
type layers struct {
	b    *builder
	part string
	err  error
}

func (l *layers) apply(name string, f func() (*G.Node, error)) *G.Node {
	if l.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		l.err = fmt.Errorf("%s: %w", name, err)
	}
	return n
}

func (l *layers) conv(name string, x *G.Node, cin, cout, k, stride, pad int, bias bool) *G.Node {
	if l.err != nil {
		return nil
	}
	fanIn := cin * k * k
	w := l.b.param(name+".w", l.part, []int{cout, cin, k, k}, fanIn)
	var bn *G.Node
	if bias {
		bn = l.b.param(name+".b", l.part, []int{cout}, fanIn)
	}
	return l.convWith(name, x, w, bn, stride, pad)
}

// convWith is the convolution of x with the weight node w (Cout, Cin, k, k) and the
// bias node b (or nil), counted in the model's FLOPs.
func (l *layers) convWith(name string, x, w, b *G.Node, stride, pad int) *G.Node {
	if l.err != nil {
		return nil
	}
	fixed := l.b.frozenOf(w, b)
	if l.b.isData(x) {
		// The input is data (a downsample of the sources): no gradient to it.
		fixed = append(fixed, x)
	}
	y := l.apply(name, func() (*G.Node, error) { return kernels.Conv2D(x, w, b, stride, pad, kernels.Fixed(fixed...)) })
	if y != nil {
		// One multiply-add per weight use: cin*k*k per output value of one image.
		ws, sh := w.Shape(), y.Shape()
		l.b.m.flops += 2 * float64(ws[1]*ws[2]*ws[3]*sh[1]*sh[2]*sh[3])
	}
	return y
}

func (l *layers) relu(x *G.Node) *G.Node {
	return l.apply("relu", func() (*G.Node, error) { return kernels.ReLU(x) })
}

func (l *layers) convReLU(name string, x *G.Node, cin, cout, k, stride, pad int) *G.Node {
	return l.relu(l.conv(name, x, cin, cout, k, stride, pad, true))
}

func (l *layers) maxPool(x *G.Node, k int) *G.Node {
	return l.apply("maxpool", func() (*G.Node, error) { return kernels.MaxPool2D(x, k) })
}

func (l *layers) linear(name string, x *G.Node, in, out int) *G.Node {
	if l.err != nil {
		return nil
	}
	w := l.b.param(name+".w", l.part, []int{out, in}, in)
	bias := l.b.param(name+".b", l.part, []int{out}, in)
	return l.linearWith(name, x, w, bias)
}

// linearWith is x times the weight node w (out, in) plus the bias node b, counted in
// the model's FLOPs.
func (l *layers) linearWith(name string, x, w, b *G.Node) *G.Node {
	if l.err != nil {
		return nil
	}
	l.b.m.flops += 2 * float64(w.Shape().TotalSize())
	fixed := kernels.Fixed(l.b.frozenOf(w, b)...)
	return l.apply(name, func() (*G.Node, error) { return kernels.Linear(x, w, b, fixed) })
}

func (l *layers) bn(name string, x *G.Node, c int) *G.Node {
	if l.err != nil {
		return nil
	}
	gamma := l.b.constParam(name+".gamma", l.part, c, 1)
	beta := l.b.constParam(name+".beta", l.part, c, 0)
	return l.batchNorm(name, x, gamma, beta)
}

// batchNorm is batch norm of x with the parameter nodes gamma and beta and the
// running statistics of the buffer name.
func (l *layers) batchNorm(name string, x, gamma, beta *G.Node) *G.Node {
	st := l.b.bnState(name, gamma.Shape().TotalSize())
	fixed := kernels.Fixed(l.b.frozenOf(gamma, beta)...)
	return l.apply(name, func() (*G.Node, error) { return kernels.BatchNorm2D(x, gamma, beta, st, fixed) })
}

func (l *layers) basicBlock(name string, x *G.Node, cin, cout, stride int) *G.Node {
	y := l.conv(name+".conv1", x, cin, cout, 3, stride, 1, false)
	y = l.bn(name+".bn1", y, cout)
	y = l.relu(y)
	y = l.conv(name+".conv2", y, cout, cout, 3, 1, 1, false)
	y = l.bn(name+".bn2", y, cout)
	short := x
	if stride != 1 || cin != cout {
		short = l.conv(name+".down", x, cin, cout, 1, stride, 0, false)
		short = l.bn(name+".down.bn", short, cout)
	}
	sum := l.apply(name+".add", func() (*G.Node, error) { return kernels.Add(y, short) })
	return l.relu(sum)
}

// param creates (or shares) a learnable tensor initialised like PyTorch's default for
// convolutions and linear layers: uniform in +-1/sqrt(fan_in).
func (b *builder) param(name, part string, shape []int, fanIn int) *G.Node {
	bound := 1 / math.Sqrt(float64(fanIn))
	return b.newParam(name, part, shape, func() float64 { return (2*b.rng.Float64() - 1) * bound })
}

func (b *builder) constParam(name, part string, n int, v float64) *G.Node {
	return b.newParam(name, part, []int{n}, func() float64 { return v })
}

func (b *builder) newParam(name, part string, shape []int, init func() float64) *G.Node {
	m := b.m
	size := 1
	for _, d := range shape {
		size *= d
	}
	// Draw the values even when sharing, so the random stream, and with it every other
	// parameter's initial value, does not depend on Share.
	vals := make([]float64, size)
	for i := range vals {
		vals[i] = init()
	}
	var val *tensor.Dense
	if b.share != nil {
		if src, ok := b.share[name]; ok {
			val = src.Value().(*tensor.Dense)
		}
	}
	if val == nil {
		val = denseOf(m.Dtype, shape, vals)
	}
	n := G.NewTensor(m.G, m.Dtype, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(val))
	frozen := b.frozen != nil && b.frozen(name)
	if frozen {
		b.fixed[n] = true
	}
	m.Params = append(m.Params, Param{Name: name, Part: part, Node: n, Frozen: frozen})
	return n
}

// frozenOf returns those of a layer's parameter nodes ns that are frozen: the
// layer builds no gradient for them.
func (b *builder) frozenOf(ns ...*G.Node) []*G.Node {
	var fixed []*G.Node
	for _, n := range ns {
		if b.fixed[n] {
			fixed = append(fixed, n)
		}
	}
	return fixed
}

func (b *builder) bnState(name string, c int) *kernels.BatchNormState {
	if st, ok := b.shareBN[name]; ok {
		b.m.Buffers = append(b.m.Buffers, Buffer{Name: name, BN: st})
		return st
	}
	st := &kernels.BatchNormState{
		Mean: make([]float64, c), Var: make([]float64, c),
		Momentum: 0.1, Eps: 1e-5, Training: true,
	}
	for i := range st.Var {
		st.Var[i] = 1
	}
	b.m.Buffers = append(b.m.Buffers, Buffer{Name: name, BN: st})
	return st
}

func (b *builder) delta(n int) *tensor.Dense {
	v := make([]float64, n)
	v[n/2] = 1
	return denseOf(b.m.Dtype, []int{n}, v)
}

func denseOf(dt tensor.Dtype, shape []int, v []float64) *tensor.Dense {
	if dt == tensor.Float64 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
}

// Inputs describes the low-resolution copies of the sources the model takes as inputs,
// in the order of Model.LowResInputs: the saliency network's view for the saliency
// sampler, the task input for the uniform sampler.
func (s Spec) Inputs() lowres.Inputs {
	side := s.SaliencyInput
	if s.Sampler == SamplerUniform {
		side = s.TaskInput
	}
	return lowres.Inputs{Resolution: s.Resolution, Sides: []int{side}, Pool: s.LowResPool}
}

// LowResInputs returns the input nodes that take the copies of Spec.Inputs, each
// (Batch, 3, side, side).
func (m *Model) LowResInputs() []*G.Node {
	if m.Downsampled != nil {
		return []*G.Node{m.Downsampled}
	}
	return []*G.Node{m.LowRes}
}

// SetTraining switches batch normalisation between batch statistics (training) and the
// running estimates (evaluation).
func (m *Model) SetTraining(on bool) {
	for _, b := range m.Buffers {
		b.BN.Training = on
	}
}

// SetBlur sets the blur kernel input for the next run: sigma <= 0 disables the blur.
func (m *Model) SetBlur(sigma float64) error {
	if m.Blur == nil {
		if sigma > 0 {
			return fmt.Errorf("model was built without blur")
		}
		return nil
	}
	k := kernels.BlurKernel(sigma, m.Spec.BlurRadius)
	return G.Let(m.Blur, denseOf(m.Dtype, []int{len(k)}, k))
}

// Learnables returns the nodes of the parameters that are not frozen, in order:
// those to differentiate the loss in.
func (m *Model) Learnables() G.Nodes {
	var ns G.Nodes
	for _, p := range m.Params {
		if !p.Frozen {
			ns = append(ns, p.Node)
		}
	}
	return ns
}

// NumParams counts the learnable scalars.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += p.Node.Shape().TotalSize()
	}
	return n
}

// ParamData returns the backing slice of each learnable of a float32 model, in the
// order of Params: the weights the graph computes with.
func (m *Model) ParamData() ([][]float32, error) {
	out := make([][]float32, len(m.Params))
	for i, p := range m.Params {
		d, ok := p.Node.Value().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("parameter %s has no tensor value", p.Name)
		}
		f, ok := d.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("parameter %s is not float32", p.Name)
		}
		out[i] = f
	}
	return out, nil
}
