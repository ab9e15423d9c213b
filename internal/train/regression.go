package train

import (
	"context"
	"fmt"
	"slices"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
)

// trainerFor builds the trainer the training set needs: a classifier of its classes, or
// a regressor of its targets standardised with its mean and deviation, those of the
// checkpoint when resuming (so the resumed run learns the same standardised values).
func trainerFor(cfg config.Config, ds data.Dataset, resume *checkpoint.Checkpoint) (*Trainer, error) {
	reg, ok := ds.(data.Regression)
	if !ok {
		return NewTrainer(cfg, len(ds.Classes()))
	}
	var std data.Standardiser
	if resume != nil {
		s, err := infer.StandardiserOf(resume)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, fmt.Errorf("checkpoint is a classifier's, the data a regression set of targets %v", reg.TargetNames())
		}
		if !slices.Equal(s.Names, reg.TargetNames()) {
			return nil, fmt.Errorf("checkpoint has targets %v, the data %v", s.Names, reg.TargetNames())
		}
		std = *s
	} else {
		var err error
		if std, err = data.FitTargets(reg); err != nil {
			return nil, err
		}
	}
	return NewRegressor(cfg, std)
}

// evaluation is one validation pass: a classifier's loss and accuracies, or a
// regressor's errors (reg, with zero accuracies).
type evaluation struct {
	loss, top1, top5 float64
	reg              *infer.RegressionResult
}

// newValidation returns the run's validation pass over val, a classifier's or a
// regressor's; its loader, and the images it caches within cache, last across epochs.
func (t *Trainer) newValidation(val data.Dataset, cache *data.CacheBudget) (func(context.Context) (evaluation, error), error) {
	workers := t.cfg.Data.Workers
	if t.std != nil {
		ev, err := infer.NewRegressionEvaluator(t.eval, *t.std, val, workers, cache)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (evaluation, error) {
			r, err := ev.Run(ctx)
			if err != nil {
				return evaluation{}, err
			}
			return evaluation{loss: r.Loss, reg: r}, nil
		}, nil
	}
	ev, err := infer.NewEvaluator(t.eval, val, workers, cache)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (evaluation, error) {
		r, err := ev.Run(ctx)
		if err != nil {
			return evaluation{}, err
		}
		return evaluation{loss: r.Loss, top1: r.Top1, top5: r.Top5}, nil
	}, nil
}

// Standardiser returns a regressor's standardiser, nil for a classifier.
func (t *Trainer) Standardiser() *data.Standardiser { return t.std }
