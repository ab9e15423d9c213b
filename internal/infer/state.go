package infer

import (
	"encoding/json"
	"fmt"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/graph"
)

// ExtraBatchNorm is the key of Checkpoint.Extra that holds the batch-norm running
// statistics (BatchNormJSON).
const ExtraBatchNorm = "batchnorm"

// WeightsOf exports a model's learnables as checkpoint tensors (copies).
func WeightsOf(m *graph.Model) ([]checkpoint.Tensor, error) {
	ps, err := m.ParamData()
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
	ps, err := m.ParamData()
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

// BatchNormJSON exports batch-norm running statistics exactly (float64, as JSON).
func BatchNormJSON(m *graph.Model) (string, error) {
	rec := make(map[string]bnRecord, len(m.Buffers))
	for _, b := range m.Buffers {
		rec[b.Name] = bnRecord{Mean: b.BN.Mean, Var: b.BN.Var}
	}
	j, err := json.Marshal(rec)
	return string(j), err
}

// setBN restores running statistics saved by BatchNormJSON.
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
	return setBN(m, c.Extra[ExtraBatchNorm])
}
