// Package infer runs trained models forward: a forward-only VM over a built graph,
// checkpoints loaded into one, evaluation over a data set, and the class scores. The
// trainer evaluates with it; eval, predict and visualize use nothing else.
package infer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/opkit"
)

// Forward runs a model built without a loss: batches in, logits (and, for
// visualisation, the saliency maps, grids and task inputs) out.
type Forward struct {
	Model *graph.Model
	vm    G.VM
	input []float32   // the full-resolution batch; nil when the model takes none
	small [][]float32 // the low-resolution copies of Spec.Inputs

	logits, saliency, grid, taskIn G.Value
}

// NewForward compiles a forward-only VM for m. With details, the saliency maps, grids
// and task inputs are read out too.
func NewForward(m *graph.Model, details bool, arena *opkit.Arena) (*Forward, error) {
	if m.Dtype != tensor.Float32 {
		return nil, fmt.Errorf("forward runs float32 models, got %v", m.Dtype)
	}
	f := &Forward{Model: m}
	G.Read(m.Logits, &f.logits)
	if details {
		if m.Saliency != nil {
			G.Read(m.Saliency, &f.saliency)
			G.Read(m.Grid, &f.grid)
		}
		G.Read(m.TaskIn, &f.taskIn)
	}
	var err error
	if f.vm, _, err = opkit.NewMachine(m.G, arena); err != nil {
		return nil, err
	}
	return f, nil
}

// bind allocates the input buffers on the first run: a trainer's evaluation graph
// (batch eval_batch_size of full-resolution images) would otherwise hold them through
// all the training steps before it.
func (f *Forward) bind() error {
	m := f.Model
	if m.Images != nil && f.input == nil {
		f.input = make([]float32, m.Images.Shape().TotalSize())
		if err := G.Let(m.Images, tensor.New(tensor.WithShape(m.Images.Shape()...), tensor.WithBacking(f.input))); err != nil {
			return err
		}
	}
	if f.small != nil {
		return nil
	}
	for _, n := range m.LowResInputs() {
		buf := make([]float32, n.Shape().TotalSize())
		if err := G.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(buf))); err != nil {
			return err
		}
		f.small = append(f.small, buf)
	}
	return nil
}

// Outputs of one forward run; slices are valid until the next Run.
type Outputs struct {
	N        int       // images in the batch (the rest of the graph's batch is padding)
	Logits   []float32 // N x classes, or N x targets standardised for a regressor
	Saliency []float32 // N x h x w, nil for the uniform sampler or without details
	Grid     []float32 // N x task x task x 2
	TaskIn   []float32 // N x 3 x task x task
}

// Run evaluates the model on a batch of n <= the model's batch images carrying the
// model's low-resolution copies (as the loader or data.NewBatch makes them); the
// remainder of the graph's batch is zero-filled and ignored.
func (f *Forward) Run(b *data.Batch) (*Outputs, error) {
	m := f.Model
	r := m.Spec.Resolution
	per := 3 * r * r
	n := b.N
	if n < 1 || n > m.Batch || len(b.X) != n*per {
		return nil, fmt.Errorf("forward: batch of %d images (%d values) does not fit the model's %d of 3 x %d x %d", n, len(b.X), m.Batch, r, r)
	}
	in := m.Spec.Inputs()
	if err := in.Check(b.LowRes, n); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if err := f.bind(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	if f.input != nil {
		copy(f.input, b.X)
		clear(f.input[n*per:])
	}
	for k := range in.Sides {
		copy(f.small[k], b.LowRes[k])
		clear(f.small[k][in.Size(k, n):])
	}
	m.SetTraining(false)
	defer m.SetTraining(true)
	if err := m.SetBlur(0); err != nil {
		return nil, err
	}
	defer f.vm.Reset()
	if err := f.vm.RunAll(); err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	out := &Outputs{N: n}
	k := m.Spec.Outputs()
	out.Logits = f32(f.logits)[:n*k]
	if f.saliency != nil {
		s := f32(f.saliency)
		out.Saliency = s[:len(s)/m.Batch*n]
		g := f32(f.grid)
		out.Grid = g[:len(g)/m.Batch*n]
	}
	if f.taskIn != nil {
		t := f32(f.taskIn)
		out.TaskIn = t[:len(t)/m.Batch*n]
	}
	return out, nil
}

func f32(v G.Value) []float32 {
	if v == nil {
		return nil
	}
	return v.Data().([]float32)
}

// Loaded is a trained model read from a checkpoint, ready to run forward.
type Loaded struct {
	*Forward
	Config  config.Config
	Classes []string // nil for a regressor
	// Standardiser is a regressor's target names and the training set's mean and
	// deviation of each (Predict reports in the targets' units); nil for a classifier.
	Standardiser *data.Standardiser
	Checkpoint   *checkpoint.Checkpoint
}

// LoadForward reads a checkpoint and builds a forward graph of the given batch size
// holding its weights. With details, saliency maps, grids and task inputs are read too.
func LoadForward(path string, batch int, details bool) (*Loaded, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(c.ConfigYAML)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: stored config: %w", path, err)
	}
	std, err := StandardiserOf(c)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	targets := 0
	if std != nil {
		targets = len(std.Names)
	}
	m, err := graph.Build(SpecOf(cfg, len(c.Classes), targets), graph.Options{Batch: batch, Dtype: tensor.Float32, Seed: uint64(cfg.Seed)})
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := LoadModelState(m, c); err != nil {
		return nil, fmt.Errorf("checkpoint %s does not fit its config: %w", path, err)
	}
	f, err := NewForward(m, details, nil)
	if err != nil {
		return nil, err
	}
	return &Loaded{Forward: f, Config: cfg, Classes: c.Classes, Standardiser: std, Checkpoint: c}, nil
}
