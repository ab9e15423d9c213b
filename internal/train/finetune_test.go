package train

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/metrics"
)

// lossObserver records every step's loss and the run's notes.
type lossObserver struct {
	nopObserver
	losses []float64
	notes  []string
}

func (o *lossObserver) Start(i RunInfo)      { o.notes = i.Notes }
func (o *lossObserver) Step(s StepInfo)      { o.losses = append(o.losses, s.Loss) }
func (o *lossObserver) Epoch(metrics.Record) {}

func importedCheckpoint(t *testing.T) *checkpoint.Checkpoint {
	t.Helper()
	c, _, err := ImportOfficial(filepath.Join(officialFixture, "official_w8.pth"), officialOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tintFolder writes ROOT/train and ROOT/val of 96 x 96 PNGs of noise tinted by
// class: an easy task whose loss falls within a few steps.
func tintFolder(t *testing.T, classes []string, perClass int) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, split := range []string{"train", "val"} {
		for k, name := range classes {
			dir := filepath.Join(root, split, name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tint := [3]float64{float64(k%2) * 0.5, float64(k/2%2) * 0.5, float64(k/4) * 0.5}
			for i := range perClass {
				img := image.NewRGBA(image.Rect(0, 0, 96, 96))
				for p := 0; p < len(img.Pix); p += 4 {
					for c := range 3 {
						img.Pix[p+c] = uint8(255 * (tint[c] + 0.5*rng.Float64()))
					}
					img.Pix[p+3] = 255
				}
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.png", i)))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, img); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

// TestFineTuneImported: one epoch of train --init from an imported official model
// (its classes, so its classifier is kept) with the official recipe's optimiser and
// multipliers, a frozen stem and first stage (the README's recipe) and the
// resolution drop: the loss falls, the frozen weights stay byte for byte with
// their optimiser moments at zero (they have no gradient), the others move.
func TestFineTuneImported(t *testing.T) {
	if testing.Short() {
		t.Skip("trains an epoch (a few seconds); run without -short")
	}
	start := importedCheckpoint(t)
	c := config.Default()
	c.Data.Source, c.Data.Path = config.SourceFolder, tintFolder(t, start.Classes, 32)
	c.Train.Epochs, c.Train.BatchSize, c.Train.EvalBatchSize = 1, 16, 32
	c.Train.Optimizer, c.Train.LR, c.Train.Momentum, c.Train.WeightDecay = config.OptimizerSGD, 0.05, 0.9, 1e-4
	c.Train.LRMult = config.LRMult{Task: 1, Saliency: 0.001, SaliencyHead: 0.01}
	c.Train.Freeze = []string{"task.conv1.", "task.bn1.", "task.layer1."}
	c.Train.Blur = config.Blur{Kind: config.BlurResolutionDrop, Epochs: 1, DropMin: 32, Shape: config.BlurLinear}
	cfg, err := InitConfig(c, start)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.TaskNet != "resnet18" || cfg.Data.Resolution != 96 || cfg.Model.LowRes != config.LowResAvgPool {
		t.Fatalf("init config: task net %q, resolution %d, lowres %q", cfg.Model.TaskNet, cfg.Data.Resolution, cfg.Model.LowRes)
	}
	tr, val, err := infer.OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	obs := &lossObserver{}
	if _, err := Run(context.Background(), Options{Config: cfg, Dir: runDir(t, dir), Train: tr, Val: val, Init: start, Observer: obs}); err != nil {
		t.Fatal(err)
	}
	if len(obs.notes) != 1 {
		t.Errorf("notes %q, want only the init's", obs.notes)
	}
	n := len(obs.losses)
	if n != 10 {
		t.Fatalf("%d steps, want 10", n)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	first, last := mean(obs.losses[:3]), mean(obs.losses[n-3:])
	t.Logf("loss: first three steps %.3f, last three %.3f", first, last)
	if !(last < 0.7*first) {
		t.Errorf("loss did not fall: first three steps %.3f, last three %.3f (all %.3f)", first, last, obs.losses)
	}
	end, err := checkpoint.Load(filepath.Join(dir, LastCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	was := map[string][]float32{}
	for _, w := range start.Weights {
		was[w.Name] = w.Data
	}
	frozen := freezes(c)
	for _, w := range end.Weights {
		if same := slices.Equal(w.Data, was[w.Name]); same != frozen(w.Name) {
			t.Errorf("%s: unchanged = %v, want %v", w.Name, same, frozen(w.Name))
		}
	}
	nFrozen := 0
	for _, m := range end.Optimizer {
		name, _, _ := strings.Cut(m.Name, "/")
		if !frozen(name) {
			continue
		}
		nFrozen++
		if slices.ContainsFunc(m.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("frozen %s: optimiser state %s is not zero", name, m.Name)
		}
	}
	if nFrozen != 15 { // conv1, bn1 and layer1's 4 convolutions and 4 batch norms
		t.Errorf("%d frozen optimiser tensors, want 15", nFrozen)
	}
}

// TestInitFromOtherClasses: a checkpoint of other classes loads all but the
// classifier, which keeps its initialisation, and the note says so.
func TestInitFromOtherClasses(t *testing.T) {
	start := importedCheckpoint(t)
	cfg, err := InitConfig(config.Default(), start)
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.Build(Spec(cfg, 3), graph.Options{Batch: 1, Dtype: tensor.Float32, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	before, err := infer.WeightsOf(m)
	if err != nil {
		t.Fatal(err)
	}
	note, err := InitFrom(m, start, []string{"x", "y", "z"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "task.fc re-initialised: the checkpoint has 5 classes, the data 3") {
		t.Errorf("note %q", note)
	}
	after, err := infer.WeightsOf(m)
	if err != nil {
		t.Fatal(err)
	}
	from := map[string][]float32{}
	for _, w := range start.Weights {
		from[w.Name] = w.Data
	}
	for i, w := range after {
		fc := strings.HasPrefix(w.Name, "task.fc.")
		if fc && !slices.Equal(w.Data, before[i].Data) {
			t.Errorf("%s changed", w.Name)
		}
		if !fc && !slices.Equal(w.Data, from[w.Name]) {
			t.Errorf("%s is not the checkpoint's", w.Name)
		}
	}
}

func TestParamMultipliers(t *testing.T) {
	c := config.Default()
	c.Model.SaliencyNet, c.Model.SaliencyWidth, c.Model.SaliencyInput = config.NetResNet18Layer3, 4, 32
	c.Train.LRMult = config.LRMult{Task: 1, Saliency: 0.001, SaliencyHead: 0.01}
	c.Train.Freeze = []string{"saliency.layer1.", "task.conv1"}
	m, err := graph.Build(Spec(c, 10), graph.Options{Batch: 1, Dtype: tensor.Float32})
	if err != nil {
		t.Fatal(err)
	}
	mult, err := paramMultipliers(c, m)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params {
		want := 1.0
		switch {
		case strings.HasPrefix(p.Name, "saliency.layer1.") || strings.HasPrefix(p.Name, "task.conv1"):
			want = 0
		case strings.HasPrefix(p.Name, "saliency.conv_last."):
			want = 0.01
		case strings.HasPrefix(p.Name, "saliency."):
			want = 0.001
		}
		if mult[i] != want {
			t.Errorf("%s: multiplier %g, want %g", p.Name, mult[i], want)
		}
	}
	// The older key sets both saliency parts.
	old := c
	old.Train.LRMult, old.Train.SaliencyLRMult = config.LRMult{Task: 1, Saliency: 1, SaliencyHead: 1}, 0.5
	pm := PartMultipliers(old)
	if pm[graph.PartSaliency] != 0.5 || pm[graph.PartSaliencyHead] != 0.5 || pm[graph.PartTask] != 1 {
		t.Errorf("saliency_lr_mult 0.5: multipliers %v", pm)
	}
	// A prefix that names nothing is an error.
	c.Train.Freeze = []string{"task.layer9"}
	if _, err := paramMultipliers(c, m); err == nil || !strings.Contains(err.Error(), `"task.layer9" is the prefix of no parameter`) {
		t.Errorf("unknown prefix: err = %v", err)
	}
	// So is a list that leaves nothing to train.
	c.Train.Freeze = []string{"task.", "saliency."}
	if _, _, err := trainingGraph(c, Spec(c, 10)); err == nil || !strings.Contains(err.Error(), "freezes every parameter") {
		t.Errorf("everything frozen: err = %v", err)
	}
}

func TestDropSchedule(t *testing.T) {
	c := config.Default()
	c.Train.Blur = config.Blur{Kind: config.BlurResolutionDrop, Epochs: 2, DropMin: 20, Shape: config.BlurLinear}
	d := newDropSchedule(c)
	seen := map[int]bool{}
	for step := 1; step <= 400; step++ {
		s := d.sizeAt(step/200, step)
		if step/200 < 2 && (s < 20 || s > c.Model.TaskInput) {
			t.Fatalf("step %d: size %d outside [20, %d]", step, s, c.Model.TaskInput)
		}
		if s != d.sizeAt(step/200, step) {
			t.Fatalf("step %d: the size is not a function of the step", step)
		}
		seen[s] = true
	}
	delete(seen, 0) // step 400 is in epoch 2
	if len(seen) != c.Model.TaskInput-20+1 {
		t.Errorf("%d distinct sizes in 400 steps, want all %d", len(seen), c.Model.TaskInput-20+1)
	}
	if s := d.sizeAt(2, 401); s != 0 {
		t.Errorf("after the drop's epochs: size %d, want 0", s)
	}
	c.Train.Blur.Kind = config.BlurGaussian
	if newDropSchedule(c).on {
		t.Error("the Gaussian blur turned the resolution drop on")
	}
}

func TestDropScheduleAutomaticMinimum(t *testing.T) {
	c := config.Default()
	c.Train.Blur = config.Blur{Kind: config.BlurResolutionDrop, Epochs: 1, Shape: config.BlurLinear}
	for _, tc := range []struct{ task, want int }{{224, 64}, {112, 32}, {32, 9}, {1, 1}} {
		c.Model.TaskInput = tc.task
		if got := newDropSchedule(c).min; got != tc.want {
			t.Errorf("task input %d: smallest side %d, want %d", tc.task, got, tc.want)
		}
	}
}

// TestBatchNormEval: with train.bn_eval the running statistics stay as they are
// through training steps (and an evaluation between them); without it they move.
func TestBatchNormEval(t *testing.T) {
	for _, eval := range []bool{true, false} {
		c := tinyConfig(t)
		c.Model.TaskNet, c.Model.ResNetWidth, c.Model.ResNetBlocks = config.NetResNet, 4, 1
		c.Train.BNEval = eval
		tr, err := NewTrainer(c, 10)
		if err != nil {
			t.Fatal(err)
		}
		b, r := c.Train.BatchSize, c.Data.Resolution
		rng := rand.New(rand.NewPCG(4, 4))
		x := make([]float32, b*3*r*r)
		for i := range x {
			x[i] = rng.Float32()
		}
		batch, err := data.NewBatch(x, make([]int, b), Spec(c, 10).Inputs())
		if err != nil {
			t.Fatal(err)
		}
		m := tr.Model()
		before := slices.Clone(m.Buffers[0].BN.Mean)
		for step := 1; step <= 2; step++ {
			if _, _, err := tr.Step(batch, 1e-3, step); err != nil {
				t.Fatal(err)
			}
			m.SetTraining(true) // as an evaluation between steps leaves it
		}
		if same := slices.Equal(before, m.Buffers[0].BN.Mean); same != eval {
			t.Errorf("bn_eval %v: running mean unchanged = %v", eval, same)
		}
	}
}
