package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/kernels"
	"zoomtrain/internal/sampler"
)

// Names of the model's parts, for timing them one at a time.
const (
	PartNameSaliencyNet = "saliency_net" // low-resolution copy -> softmax saliency map
	PartNameGenerator   = "generator"    // saliency map -> upsampled grid
	PartNameSampler     = "sampler"      // full-resolution batch and grid -> task input
	PartNameTaskNet     = "task_net"     // task input -> logits -> loss
)

// PartNames lists the parts a spec's model has, in pipeline order.
func (s Spec) PartNames() []string {
	if s.Sampler == SamplerUniform {
		return []string{PartNameTaskNet}
	}
	return []string{PartNameSaliencyNet, PartNameGenerator, PartNameSampler, PartNameTaskNet}
}

// Part is one stage of the model as a graph of its own, with a scalar cost whose
// gradient reaches the stage's parameters and the inputs that would receive a gradient
// inside the whole model: running forward and backward costs what the stage costs in a
// training step.
type Part struct {
	Name   string
	G      *G.ExprGraph
	Inputs []*G.Node // nodes to Let (the task network's include the one-hot labels)
	Wrt    []*G.Node // the nodes Cost is differentiated with respect to; they hold values
	Cost   *G.Node
}

// BuildPart builds the named stage of spec's model for o.Batch and o.Dtype (o.WithLoss
// and o.Share are ignored). A stage without a loss of its own gets the cost sum(out * R)
// with R a fixed random tensor, so that its backward pass sees a dense gradient.
func BuildPart(spec Spec, name string, o Options) (*Part, error) {
	b, err := newBuilder(spec, o)
	if err != nil {
		return nil, err
	}
	p := &Part{Name: name, G: b.m.G}
	switch {
	case name == PartNameTaskNet:
		err = b.taskPart(p)
	case spec.Sampler != SamplerSaliency:
		err = fmt.Errorf("the %s model has no part %q", spec.Sampler, name)
	case name == PartNameSaliencyNet:
		err = b.saliencyPart(p)
	case name == PartNameGenerator:
		err = b.generatorPart(p)
	case name == PartNameSampler:
		err = b.samplerPart(p)
	default:
		err = fmt.Errorf("unknown part %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("part %s: %w", name, err)
	}
	return p, nil
}

func (b *builder) input(name string, shape ...int) *G.Node {
	return G.NewTensor(b.m.G, b.m.Dtype, len(shape), G.WithShape(shape...), G.WithName(name))
}

// variable is a differentiated input with a random value in [lo, hi).
func (b *builder) variable(name string, lo, hi float64, shape ...int) *G.Node {
	return G.NewTensor(b.m.G, b.m.Dtype, len(shape), G.WithShape(shape...), G.WithName(name),
		G.WithValue(b.random(lo, hi, shape...)))
}

func (b *builder) random(lo, hi float64, shape ...int) *tensor.Dense {
	v := make([]float64, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = lo + (hi-lo)*b.rng.Float64()
	}
	return denseOf(b.m.Dtype, shape, v)
}

// projectCost is sum(out * R) for a fixed random R.
func (b *builder) projectCost(out *G.Node) (*G.Node, error) {
	n := out.Shape().TotalSize()
	flat, err := G.Reshape(out, tensor.Shape{n})
	if err != nil {
		return nil, err
	}
	r := G.NewVector(b.m.G, b.m.Dtype, G.WithShape(n), G.WithName("projection"), G.WithValue(b.random(-1, 1, n)))
	return G.Mul(flat, r)
}

func (b *builder) learnables() []*G.Node {
	ns := make([]*G.Node, len(b.m.Params))
	for i, p := range b.m.Params {
		ns[i] = p.Node
	}
	return ns
}

func (b *builder) saliencyPart(p *Part) error {
	m, s := b.m, b.m.Spec
	m.LowRes = b.input("lowres", m.Batch, 3, s.SaliencyInput, s.SaliencyInput)
	logits, err := b.saliencyNet(m.LowRes)
	if err != nil {
		return err
	}
	sal, err := kernels.SpatialSoftmax(logits, s.Temperature)
	if err != nil {
		return err
	}
	p.Inputs, p.Wrt = []*G.Node{m.LowRes}, b.learnables()
	p.Cost, err = b.projectCost(sal)
	return err
}

func (b *builder) generatorPart(p *Part) error {
	m, s := b.m, b.m.Spec
	sal := b.variable("saliency", 0.5/float64(s.Grid*s.Grid), 1.5/float64(s.Grid*s.Grid), m.Batch, s.Grid, s.Grid)
	grid, err := b.grid(sal)
	if err != nil {
		return err
	}
	p.Wrt = []*G.Node{sal}
	p.Cost, err = b.projectCost(grid)
	return err
}

func (b *builder) samplerPart(p *Part) error {
	m, s := b.m, b.m.Spec
	r, t := s.Resolution, s.TaskInput
	m.Images = b.input("images", m.Batch, 3, r, r)
	grid := b.variable("grid", -1, 1, m.Batch, t, t, 2)
	out, err := sampler.GridSample(m.Images, grid)
	if err != nil {
		return err
	}
	p.Inputs, p.Wrt = []*G.Node{m.Images}, []*G.Node{grid}
	p.Cost, err = b.projectCost(out)
	return err
}

func (b *builder) taskPart(p *Part) error {
	m, s := b.m, b.m.Spec
	t := s.TaskInput
	m.TaskIn = b.input("taskin", m.Batch, 3, t, t)
	var err error
	if m.Logits, err = b.taskNet(m.TaskIn); err != nil {
		return err
	}
	if err := b.loss(); err != nil {
		return err
	}
	p.Cost = m.Loss
	label := m.OneHot
	if m.Targets != nil {
		label = m.Targets
	}
	p.Inputs, p.Wrt = []*G.Node{m.TaskIn, label}, b.learnables()
	return nil
}
