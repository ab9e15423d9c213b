package train

import (
	"encoding/json"
	"fmt"

	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/graph"
)

// paramData returns the float32 backing slice of each learnable.
func paramData(m *graph.Model) ([][]float32, error) {
	out := make([][]float32, len(m.Params))
	for i, p := range m.Params {
		d, ok := p.Node.Value().(*tensor.Dense)
		if !ok {
			return nil, fmt.Errorf("parameter %s has no tensor value", p.Name)
		}
		f, ok := d.Data().([]float32)
		if !ok {
			return nil, fmt.Errorf("parameter %s is not float32", p.Name)
		}
		out[i] = f
	}
	return out, nil
}

// WeightsOf exports a model's learnables as checkpoint tensors (copies).
func WeightsOf(m *graph.Model) ([]checkpoint.Tensor, error) {
	ps, err := paramData(m)
	if err != nil {
		return nil, err
	}
	ts := make([]checkpoint.Tensor, len(ps))
	for i, p := range m.Params {
		ts[i] = checkpoint.Tensor{Name: p.Name, Shape: append([]int(nil), p.Node.Shape()...), Data: append([]float32(nil), ps[i]...)}
	}
	return ts, nil
}

// SetWeights loads checkpoint tensors into a model, matching by name and shape.
func SetWeights(m *graph.Model, ts []checkpoint.Tensor) error {
	ps, err := paramData(m)
	if err != nil {
		return err
	}
	byName := make(map[string]checkpoint.Tensor, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	if len(ts) != len(m.Params) {
		return fmt.Errorf("checkpoint holds %d weight tensors, the model has %d", len(ts), len(m.Params))
	}
	for i, p := range m.Params {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("checkpoint has no weights for %s", p.Name)
		}
		if len(t.Data) != len(ps[i]) {
			return fmt.Errorf("checkpoint weights for %s have %d values, the model needs %d", p.Name, len(t.Data), len(ps[i]))
		}
		copy(ps[i], t.Data)
	}
	return nil
}

type bnRecord struct {
	Mean []float64 `json:"mean"`
	Var  []float64 `json:"var"`
}

// bnJSON exports batch-norm running statistics exactly (float64, as JSON).
func bnJSON(m *graph.Model) (string, error) {
	rec := make(map[string]bnRecord, len(m.Buffers))
	for _, b := range m.Buffers {
		rec[b.Name] = bnRecord{Mean: b.BN.Mean, Var: b.BN.Var}
	}
	j, err := json.Marshal(rec)
	return string(j), err
}

// setBN restores running statistics saved by bnJSON.
func setBN(m *graph.Model, s string) error {
	if len(m.Buffers) == 0 {
		return nil
	}
	var rec map[string]bnRecord
	if err := json.Unmarshal([]byte(s), &rec); err != nil {
		return fmt.Errorf("batch-norm statistics: %w", err)
	}
	for _, b := range m.Buffers {
		r, ok := rec[b.Name]
		if !ok || len(r.Mean) != len(b.BN.Mean) || len(r.Var) != len(b.BN.Var) {
			return fmt.Errorf("checkpoint has no matching batch-norm statistics for %s", b.Name)
		}
		copy(b.BN.Mean, r.Mean)
		copy(b.BN.Var, r.Var)
	}
	return nil
}

// LoadModelState loads weights and batch-norm statistics from a checkpoint.
func LoadModelState(m *graph.Model, c *checkpoint.Checkpoint) error {
	if err := SetWeights(m, c.Weights); err != nil {
		return err
	}
	return setBN(m, c.Extra[extraBN])
}

// Keys of Checkpoint.Extra.
const (
	extraBN       = "batchnorm"
	extraPosition = "position"
	extraBest     = "best_top1"
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
	HasBest     bool    `json:"has_best"`
	OptStepSeen int     `json:"opt_step"`
}
