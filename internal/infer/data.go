package infer

import (
	"fmt"

	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/kernels"
)

// Spec derives the model a config describes for a number of classes, as it runs at
// inference: without the training-time blur and resolution drop (train.Spec adds them).
func Spec(c config.Config, classes int) graph.Spec {
	return SpecOf(c, classes, 0)
}

// SpecOf is Spec for a classifier of classes classes or, with targets > 0 (and no
// classes), a regressor of that many targets trained with train.loss.
func SpecOf(c config.Config, classes, targets int) graph.Spec {
	s := graph.Spec{
		Classes:       classes,
		Resolution:    c.Data.Resolution,
		Sampler:       c.Model.Sampler,
		TaskInput:     c.Model.TaskInput,
		SaliencyInput: c.Model.SaliencyInput,
		Grid:          c.Model.Grid,
		FWHM:          c.Model.FWHM,
		Padding:       c.Model.Padding,
		PaddingMode:   c.Model.PaddingMode,
		Temperature:   c.Model.Temperature,
		TaskNet:       c.Model.TaskNet,
		ResNetWidth:   c.Model.ResNetWidth,
		ResNetBlocks:  c.Model.ResNetBlocks,

		SaliencyNet:          c.Model.SaliencyNet,
		TaskWidth:            c.Model.TaskWidth,
		SaliencyWidth:        c.Model.SaliencyWidth,
		Normalize:            c.Data.Normalize,
		SaliencyAlignCorners: c.Model.SaliencyUpsampleAlignCorners,
		GridHalfPixel:        !c.Model.GridUpsampleAlignCorners,
		LowResPool:           c.Model.LowRes == config.LowResAvgPool,
	}
	if targets > 0 {
		s.Targets, s.Loss = targets, kernels.RegressionLossKind(c.Train.Loss)
	}
	return s
}

// OpenData opens the configured training and validation sets.
func OpenData(c config.Config) (trainSet, valSet data.Dataset, err error) {
	switch c.Data.Source {
	case config.SourceNeedle:
		return data.Needle(needleOptions(c))
	case config.SourceNeedleGaze:
		return data.Gaze(GazeOptions(c))
	case config.SourceFolder:
		return data.OpenFolder(FolderOptions(c))
	}
	return nil, nil, fmt.Errorf("unknown data source %q", c.Data.Source)
}

// FolderOptions maps the config's data section to the image-folder loader's options.
func FolderOptions(c config.Config) data.FolderOptions {
	return data.FolderOptions{
		Root: c.Data.Path, Resolution: c.Data.Resolution, Policy: c.Data.Policy,
		ValFraction: c.Data.ValFraction, Seed: c.Seed, OnError: c.Data.OnError, MaxPixels: c.Data.MaxPixels,
	}
}

// The needle set has its own seed: the training seed varies the initialisation and the
// order, not the data, so runs with different seeds compare on the same canvases.
func needleOptions(c config.Config) data.NeedleOptions {
	n := c.Data.Needle
	return data.NeedleOptions{Canvas: n.Canvas, DigitMin: n.DigitMin, DigitMax: n.DigitMax, SynthOptions: data.SynthOptions{
		Clutter: n.Clutter, Train: n.Train, Val: n.Val, Noise: n.Noise, Seed: n.Seed, FreshEachEpoch: n.FreshEachEpoch,
	}}
}

// GazeOptions maps the config's data.gaze section to the needle-gaze set's options. As
// with the needle set, its seed is its own.
func GazeOptions(c config.Config) data.GazeOptions {
	g := c.Data.Gaze
	return data.GazeOptions{Canvas: g.Canvas, EyeMin: g.EyeMin, EyeMax: g.EyeMax, SynthOptions: data.SynthOptions{
		Clutter: g.Clutter, Train: g.Train, Val: g.Val, Noise: g.Noise, Seed: g.Seed, FreshEachEpoch: g.FreshEachEpoch,
	}}
}
