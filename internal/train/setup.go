package train

import (
	"fmt"

	"zoomtrain/internal/config"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
)

// Spec derives the model spec of training from a config and the number of classes:
// infer.Spec with the blur the schedule needs.
func Spec(c config.Config, classes int) graph.Spec {
	return specOf(c, classes, 0)
}

// specOf is Spec for a classifier or, with targets > 0, a regressor (infer.SpecOf).
func specOf(c config.Config, classes, targets int) graph.Spec {
	s := infer.SpecOf(c, classes, targets)
	s.BlurRadius = blurSchedule(c).Radius()
	s.ResolutionDrop = newDropSchedule(c).on
	return s
}

func blurSchedule(c config.Config) BlurSchedule {
	return BlurSchedule{Sigma: c.Train.Blur.Sigma, Epochs: float64(c.Train.Blur.Epochs), Shape: c.Train.Blur.Shape}
}

func lrSchedule(c config.Config) LRSchedule {
	return LRSchedule{
		Kind:       c.Train.Schedule,
		Epochs:     c.Train.Epochs,
		Warmup:     float64(c.Train.WarmupEpochs),
		Milestones: c.Train.StepEpochs,
		Gamma:      c.Train.StepGamma,
	}
}

func optimizerConfig(c config.Config) OptimizerConfig {
	return OptimizerConfig{
		Kind:        c.Train.Optimizer,
		Momentum:    c.Train.Momentum,
		Beta1:       c.Train.Beta1,
		Beta2:       c.Train.Beta2,
		WeightDecay: c.Train.WeightDecay,
	}
}

func checkSchedules(c config.Config) error {
	if err := lrSchedule(c).Validate(); err != nil {
		return err
	}
	if err := blurSchedule(c).Validate(); err != nil {
		return err
	}
	if _, err := NewOptimizer(optimizerConfig(c), nil); err != nil {
		return err
	}
	if c.Train.BatchSize < 1 || c.Train.EvalBatchSize < 1 {
		return fmt.Errorf("batch sizes must be positive")
	}
	return nil
}
