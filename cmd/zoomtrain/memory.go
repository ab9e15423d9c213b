package main

import (
	"fmt"
	"os"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/membudget"
	"zoomtrain/internal/train"
)

// memoryLimit is the memory this process may use (membudget.Available).
func memoryLimit() (membudget.Limit, error) {
	return membudget.Available(os.Environ(), membudget.SystemFiles())
}

// checkTrainingMemory refuses, before anything is allocated, a training setting whose
// estimated memory exceeds what the machine has: a classifier of classes classes, or a
// regressor of targets targets.
func checkTrainingMemory(cfg config.Config, classes, targets, examples int) error {
	lim, err := memoryLimit()
	if err != nil || lim.Bytes == 0 {
		return err
	}
	mm, err := train.NewMemoryModel(cfg, classes, targets)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("training at batch size %d (evaluation batch %d), resolution %d, on %d images",
		cfg.Train.BatchSize, mm.EvalBatch, cfg.Data.Resolution, examples)
	return lim.Check(what, mm.Training(cfg, examples))
}

// checkForwardMemory does the same for evaluating the checkpoint at path in batches of
// batch, from its header alone (the weights are not read).
func checkForwardMemory(path string, batch int) error {
	lim, err := memoryLimit()
	if err != nil || lim.Bytes == 0 {
		return err
	}
	c, err := checkpoint.Peek(path)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(c.ConfigYAML)
	if err != nil {
		return fmt.Errorf("checkpoint %s: stored config: %w", path, err)
	}
	std, err := infer.StandardiserOf(c)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	targets := 0
	if std != nil {
		targets = len(std.Names)
	}
	mm, err := train.NewMemoryModel(cfg, len(c.Classes), targets)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("evaluation at batch size %d, resolution %d", batch, cfg.Data.Resolution)
	return lim.Check(what, mm.Forward(batch, cfg.Data.Resolution, 2))
}
