package train

import (
	"encoding/json"
	"fmt"
	"strconv"

	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/pretrained"
	"zoomtrain/internal/torchfile"
)

// OfficialOptions describe the official Saliency-Sampler model a state_dict was
// saved from: what its file does not record.
type OfficialOptions struct {
	TaskNet       string   // resnet18, resnet34, resnet50 or resnet101 (hi_res)
	Classes       []string // class names, in the classifier's order
	Resolution    int      // side of the source images
	TaskInput     int      // the task network's input side (task_input_size)
	SaliencyInput int      // the saliency network's input side (saliency_input_size)
	Grid          int      // grid_size, 31 in the official code
	Padding       int      // padding_size, 30
	FWHM          float64  // the Gaussian's fwhm, 13
}

// OfficialConfig is the configuration of the official model: the resnet18-layer3
// saliency network and a torchvision task network of the given stem widths, and the
// official forward pass (ImageNet normalisation, the low-resolution copy by adaptive
// average pooling, both bilinear resizes with align_corners false, softmax at
// temperature 1, replicate padding). The training section is the official recipe
// (configs/official.yaml has it at CPU scale).
func OfficialConfig(o OfficialOptions, taskWidth, saliencyWidth int, origin string) (config.Config, error) {
	c := config.Default()
	c.Data.Source = config.SourceFolder
	// An imported model has no data of its own: eval needs --data.
	c.Data.Path = "(none: imported from " + origin + ")"
	c.Data.Resolution = o.Resolution
	c.Data.Normalize = config.NormalizeImageNet
	m := &c.Model
	m.Sampler = config.SamplerSaliency
	m.TaskNet, m.SaliencyNet = o.TaskNet, config.NetResNet18Layer3
	m.TaskWidth, m.SaliencyWidth = taskWidth, saliencyWidth
	m.TaskInput, m.SaliencyInput = o.TaskInput, o.SaliencyInput
	m.Grid, m.Padding, m.FWHM = o.Grid, o.Padding, o.FWHM
	m.PaddingMode, m.Temperature = config.PaddingReplicate, 1
	m.LowRes = config.LowResAvgPool
	m.SaliencyUpsampleAlignCorners, m.GridUpsampleAlignCorners = false, false
	t := &c.Train
	t.Optimizer, t.LR, t.Momentum, t.WeightDecay = config.OptimizerSGD, 0.1, 0.9, 1e-4
	t.LRMult = config.LRMult{Task: 1, Saliency: 0.001, SaliencyHead: 0.01}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// ImportOfficial reads a state_dict of the official Saliency-Sampler model and
// returns a checkpoint of the same model (eval, predict and visualize run it,
// train --init fine-tunes it) and notes on what was done (a re-initialised
// classifier). The file's widths are read from its tensors; its filter must be the
// Gaussian of o.Padding and o.FWHM.
func ImportOfficial(path string, o OfficialOptions) (*checkpoint.Checkpoint, []string, error) {
	if !graph.IsTorchvisionResNet(o.TaskNet) {
		return nil, nil, fmt.Errorf("unknown task network %q (want resnet18, resnet34, resnet50 or resnet101)", o.TaskNet)
	}
	if len(o.Classes) < 2 {
		return nil, nil, fmt.Errorf("the model needs at least 2 classes, got %d", len(o.Classes))
	}
	sd, err := torchfile.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	shape, err := pretrained.InspectOfficial(sd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := OfficialConfig(o, shape.TaskWidth, shape.SaliencyWidth, path)
	if err != nil {
		return nil, nil, err
	}
	spec := Spec(cfg, len(o.Classes))
	m, err := graph.Build(spec, graph.Options{Batch: 1, Dtype: tensor.Float32, Seed: uint64(cfg.Seed)})
	if err != nil {
		return nil, nil, err
	}
	reps, err := pretrained.LoadOfficial(m, sd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var notes []string
	n := 0
	for _, r := range reps {
		n += r.Tensors
		if r.Reinitialised != "" {
			notes = append(notes, "task network "+r.Reinitialised)
		}
	}
	notes = append([]string{fmt.Sprintf("%d tensors from %s: %s task network of width %d, resnet18-layer3 saliency network of width %d",
		n, path, o.TaskNet, shape.TaskWidth, shape.SaliencyWidth)}, notes...)
	c, err := ModelCheckpoint(cfg, o.Classes, m)
	if err != nil {
		return nil, nil, err
	}
	return c, notes, nil
}

// ModelCheckpoint is a checkpoint of a model that has not been trained here: its
// weights, batch-norm statistics and config, at step 0 with no optimiser state.
func ModelCheckpoint(cfg config.Config, classes []string, m *graph.Model) (*checkpoint.Checkpoint, error) {
	y, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	ws, err := infer.WeightsOf(m)
	if err != nil {
		return nil, err
	}
	bn, err := infer.BatchNormJSON(m)
	if err != nil {
		return nil, err
	}
	pj, err := json.Marshal(position{})
	if err != nil {
		return nil, err
	}
	return &checkpoint.Checkpoint{
		Version:    checkpoint.FormatVersion,
		ConfigYAML: y,
		Classes:    append([]string(nil), classes...),
		Weights:    ws,
		Extra: map[string]string{
			extraPosition:        string(pj),
			infer.ExtraBatchNorm: bn,
			extraBest:            strconv.FormatFloat(0, 'g', -1, 64),
		},
	}, nil
}
