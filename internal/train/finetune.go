package train

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/pretrained"
	"zoomtrain/internal/torchfile"
)

// PartMultipliers returns the learning-rate multiplier of each part of the model:
// train.lr_mult, with the older train.saliency_lr_mult (when not 1) for both
// saliency parts.
func PartMultipliers(c config.Config) map[string]float64 {
	lm := c.Train.LRMult
	sal, head := lm.Saliency, lm.SaliencyHead
	if c.Train.SaliencyLRMult != 1 {
		sal, head = c.Train.SaliencyLRMult, c.Train.SaliencyLRMult
	}
	return map[string]float64{graph.PartTask: lm.Task, graph.PartSaliency: sal, graph.PartSaliencyHead: head}
}

// freezes reports whether train.freeze freezes the parameter name: whether one of
// its prefixes starts the name. The training graph is built with it
// (graph.Options.Frozen).
func freezes(c config.Config) func(name string) bool {
	return func(name string) bool {
		return slices.ContainsFunc(c.Train.Freeze, func(pre string) bool { return strings.HasPrefix(name, pre) })
	}
}

// paramMultipliers gives each parameter its part's multiplier, 0 for a parameter
// train.freeze freezes. A prefix that names no parameter is an error (a typo
// would otherwise train what was meant frozen).
func paramMultipliers(c config.Config, m *graph.Model) ([]float64, error) {
	parts := PartMultipliers(c)
	frozen := freezes(c)
	mult := make([]float64, len(m.Params))
	for i, p := range m.Params {
		v, ok := parts[p.Part]
		if !ok {
			return nil, fmt.Errorf("parameter %s is in unknown part %q", p.Name, p.Part)
		}
		if frozen(p.Name) {
			v = 0
		}
		mult[i] = v
	}
	for _, pre := range c.Train.Freeze {
		if !slices.ContainsFunc(m.Params, func(p graph.Param) bool { return strings.HasPrefix(p.Name, pre) }) {
			return nil, fmt.Errorf("train.freeze: %q is the prefix of no parameter (names look like task.layer1.0.conv1.weight, saliency.conv_last.bias)", pre)
		}
	}
	return mult, nil
}

// dropSchedule draws the side of the resolution drop of each step: for the first
// train.blur.epochs epochs uniform in [train.blur.drop_min, task input] (drop_min 0:
// 64/224 of the task input, the official range's ratio), after them
// 0 (no drop). The draw depends on the seed and step only, so a resumed run
// draws what an uninterrupted one would.
type dropSchedule struct {
	on       bool
	epochs   int
	min, max int
	seed     uint64
}

func newDropSchedule(c config.Config) dropSchedule {
	lo := c.Train.Blur.DropMin
	if lo == 0 {
		lo = max(1, (64*c.Model.TaskInput+112)/224) // 64 of 224, rounded
	}
	return dropSchedule{
		on:     c.Train.Blur.Kind == config.BlurResolutionDrop && c.Train.Blur.Epochs > 0,
		epochs: c.Train.Blur.Epochs, min: lo, max: c.Model.TaskInput,
		seed: uint64(c.Seed),
	}
}

// sizeAt is the side for step (counted from 1) of epoch (counted from 0).
func (d dropSchedule) sizeAt(epoch, step int) int {
	if !d.on || epoch >= d.epochs {
		return 0
	}
	rng := rand.New(rand.NewPCG(d.seed, uint64(step)^0xd40b))
	return d.min + rng.IntN(d.max-d.min+1)
}

// loadPretrained loads model.task_weights and model.saliency_weights into m and
// returns one line per file saying what was loaded.
func loadPretrained(c config.Config, m *graph.Model) ([]string, error) {
	var notes []string
	type source struct {
		key, path string
		into      pretrained.Into
	}
	srcs := []source{
		{"model.task_weights", c.Model.TaskWeights, pretrained.Into{Prefix: "task.", Classifier: "fc"}},
		// A torchvision ResNet-18's first three stages are the saliency network;
		// conv_last is new.
		{"model.saliency_weights", c.Model.SaliencyWeights, pretrained.Into{Prefix: "saliency.", Skip: []string{"conv_last."}, Ignore: []string{"layer4.", "fc."}}},
	}
	for _, s := range srcs {
		if s.path == "" {
			continue
		}
		sd, err := torchfile.ReadFile(s.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.key, err)
		}
		rep, err := pretrained.Load(m, pretrained.StripDataParallel(sd), s.into)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.key, s.path, err)
		}
		note := fmt.Sprintf("%s: %d tensors from %s", s.key, rep.Tensors, s.path)
		if rep.Reinitialised != "" {
			note += "; " + rep.Reinitialised
		}
		notes = append(notes, note)
	}
	return notes, nil
}

// InitFrom loads the weights and batch-norm statistics of a checkpoint (an
// imported model, or another run) into m to fine-tune it: not its optimiser
// state or position. When the checkpoint's classes differ from the data's, the
// classifier (task.fc) keeps its initialisation and the note says so.
func InitFrom(m *graph.Model, c *checkpoint.Checkpoint, classes []string) (string, error) {
	if slices.Equal(c.Classes, classes) {
		return "", infer.LoadModelState(m, c)
	}
	const fc = "task.fc."
	cur, err := infer.WeightsOf(m)
	if err != nil {
		return "", err
	}
	ws := slices.DeleteFunc(slices.Clone(c.Weights), func(t checkpoint.Tensor) bool { return strings.HasPrefix(t.Name, fc) })
	n := len(ws)
	for _, t := range cur {
		if strings.HasPrefix(t.Name, fc) {
			ws = append(ws, t)
		}
	}
	if len(ws) == n {
		return "", fmt.Errorf("the checkpoint's classes %v differ from the data's %v and the task network has no classifier %s* to re-initialise", c.Classes, classes, fc)
	}
	cc := *c
	cc.Weights = ws
	if err := infer.LoadModelState(m, &cc); err != nil {
		return "", err
	}
	why := fmt.Sprintf("the checkpoint has %d classes, the data %d", len(c.Classes), len(classes))
	if len(c.Classes) == len(classes) {
		why = fmt.Sprintf("the checkpoint's classes %q are not the data's %q", c.Classes, classes)
	}
	return fmt.Sprintf("%s re-initialised: %s", strings.TrimSuffix(fc, "."), why), nil
}

// InitConfig is cfg with the model settings of the checkpoint to fine-tune: its
// model section, data.resolution and data.normalize, which fix the networks'
// shapes. Pretrained weight files are dropped (the checkpoint replaces them).
func InitConfig(cfg config.Config, c *checkpoint.Checkpoint) (config.Config, error) {
	src, err := config.Parse(c.ConfigYAML)
	if err != nil {
		return cfg, fmt.Errorf("checkpoint config: %w", err)
	}
	cfg.Model = src.Model
	cfg.Model.TaskWeights, cfg.Model.SaliencyWeights = "", ""
	cfg.Data.Normalize = src.Data.Normalize
	cfg.Data.Resolution = src.Data.Resolution
	if cfg.Data.Source == config.SourceNeedle && cfg.Data.Needle.Canvas != cfg.Data.Resolution {
		cfg.Data.Needle.Canvas = cfg.Data.Resolution
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("with the model settings of the checkpoint: %w", err)
	}
	return cfg, nil
}

// CheckPretrained loads model.task_weights and model.saliency_weights into a
// throw-away model of cfg for the given classes (or, with targets > 0, regression
// targets), so that a wrong file is reported before a run directory is made for it.
// It does nothing without them.
func CheckPretrained(cfg config.Config, classes, targets int) error {
	if cfg.Model.TaskWeights == "" && cfg.Model.SaliencyWeights == "" {
		return nil
	}
	m, err := graph.Build(specOf(cfg, classes, targets), graph.Options{Batch: 1, Dtype: tensor.Float32, Seed: uint64(cfg.Seed)})
	if err != nil {
		return err
	}
	_, err = loadPretrained(cfg, m)
	return err
}
