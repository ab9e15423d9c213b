package train

import (
	"encoding/json"
	"fmt"
	"strings"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/metrics"
)

// Keys of Checkpoint.Extra written by training (infer.ExtraBatchNorm is the third).
const (
	extraPosition = "position"
	extraBest     = "best_top1" // a regression run's best val MAE
)

// position says where in training a checkpoint was taken, with the partial sums of
// the epoch in progress, so a resumed run reports the same metrics.
type position struct {
	Epoch       int     `json:"epoch"` // epoch in progress (0-based)
	Batch       int     `json:"batch"` // batches of it already done
	Step        int     `json:"step"`  // optimiser steps in total
	LossSum     float64 `json:"loss_sum"`
	Correct     int     `json:"correct"`
	Seen        int     `json:"seen"`
	Seconds     float64 `json:"seconds"` // time spent in the epoch so far
	BestTop1    float64 `json:"best_top1"`
	BestMAE     float64 `json:"best_mae,omitempty"`    // a regression run's best val MAE
	AbsErrSum   float64 `json:"abs_err_sum,omitempty"` // a regression epoch's training absolute errors so far
	HasBest     bool    `json:"has_best"`
	OptStepSeen int     `json:"opt_step"`
}

// extraHistory is the key of Checkpoint.Extra that holds the run's metrics records up to
// the checkpoint, as JSON Lines: what a resume rebuilds a lost metrics.jsonl from.
const extraHistory = "metrics_history"

// Progress is where in training a checkpoint was taken.
type Progress struct {
	Epoch int // epochs complete when Batch is 0; else the 0-based epoch in progress
	Batch int // batches of epoch Epoch already done
	Step  int // optimiser steps in total
}

// CheckpointProgress reads where a training checkpoint was taken.
func CheckpointProgress(c *checkpoint.Checkpoint) (Progress, error) {
	var pos position
	if err := json.Unmarshal([]byte(c.Extra[extraPosition]), &pos); err != nil {
		return Progress{}, fmt.Errorf("checkpoint position: %w", err)
	}
	return Progress{Epoch: pos.Epoch, Batch: pos.Batch, Step: pos.Step}, nil
}

// Done reports whether a run at p has nothing left to do under cfg.
func (p Progress) Done(cfg config.Config) bool {
	if cfg.Train.MaxSteps > 0 && p.Step >= cfg.Train.MaxSteps {
		return true
	}
	return p.Epoch >= cfg.Train.Epochs
}

// CheckpointHistory returns the metrics records a checkpoint carries (those of the
// epochs before it); nil for a checkpoint written before they were kept.
func CheckpointHistory(c *checkpoint.Checkpoint) ([]metrics.Record, error) {
	h := c.Extra[extraHistory]
	if h == "" {
		return nil, nil
	}
	var out []metrics.Record
	dec := json.NewDecoder(strings.NewReader(h))
	for dec.More() {
		var r metrics.Record
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("checkpoint metrics history: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

func historyJSON(recs []metrics.Record) (string, error) {
	var b strings.Builder
	for _, r := range recs {
		j, err := json.Marshal(r)
		if err != nil {
			return "", err
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
