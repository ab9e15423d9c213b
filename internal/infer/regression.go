package infer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/data"
)

// ExtraStandardiser is the key of Checkpoint.Extra that holds a regressor's
// data.Standardiser as JSON: its target names and the training set's mean and deviation.
const ExtraStandardiser = "standardiser"

// StandardiserJSON is the checkpoint form of s.
func StandardiserJSON(s data.Standardiser) (string, error) {
	j, err := json.Marshal(s)
	return string(j), err
}

// StandardiserOf reads a regressor's standardiser from its checkpoint: nil for a
// classifier's checkpoint, an error for a damaged one.
func StandardiserOf(c *checkpoint.Checkpoint) (*data.Standardiser, error) {
	j, ok := c.Extra[ExtraStandardiser]
	if !ok {
		return nil, nil
	}
	var s data.Standardiser
	if err := json.Unmarshal([]byte(j), &s); err != nil {
		return nil, fmt.Errorf("target standardiser: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(c.Classes) > 0 {
		return nil, fmt.Errorf("checkpoint names %d classes and %d regression targets", len(c.Classes), len(s.Names))
	}
	return &s, nil
}

// TargetError is the error of one target (or of all together), in the targets' units.
type TargetError struct {
	MAE  float64 `json:"mae"`
	RMSE float64 `json:"rmse"`
}

// RegressionResult is a regressor's evaluation over a data set. Loss is the training loss
// (on standardised targets); MAE and RMSE are over every target of every example, in the
// targets' units, and Targets gives them per target.
type RegressionResult struct {
	N       int                    `json:"n"`
	Loss    float64                `json:"loss"`
	MAE     float64                `json:"mae"`
	RMSE    float64                `json:"rmse"`
	Targets map[string]TargetError `json:"targets"`
	// Names are the targets in the model's order (the JSON map has no order).
	Names []string `json:"-"`
}

// Predictions maps a batch's standardised outputs (N x T) to the targets' units.
func Predictions(std data.Standardiser, out []float32) ([]float32, error) {
	p := slices.Clone(out)
	if err := std.Unstandardise(p); err != nil {
		return nil, err
	}
	return p, nil
}

// EvaluateRegression runs the regressor f over every image of ds, without augmentation,
// in order, and measures its errors against ds's targets, which must be the
// standardiser's, in its order.
func EvaluateRegression(ctx context.Context, f *Forward, std data.Standardiser, ds data.Dataset, workers int, cacheBytes int64) (*RegressionResult, error) {
	e, err := NewRegressionEvaluator(f, std, ds, workers, data.NewCacheBudget(cacheBytes))
	if err != nil {
		return nil, err
	}
	return e.Run(ctx)
}

// RegressionEvaluator is Evaluator for a regressor: its loader, and the images it
// caches, last across runs.
type RegressionEvaluator struct {
	f     *Forward
	std   data.Standardiser
	names []string
	ld    *data.Loader
}

// NewRegressionEvaluator checks ds against the regressor f and its standardiser and
// makes the loader Run reads it with, caching decoded images within cache (nil: none).
func NewRegressionEvaluator(f *Forward, std data.Standardiser, ds data.Dataset, workers int, cache *data.CacheBudget) (*RegressionEvaluator, error) {
	if ds.Len() == 0 {
		return nil, fmt.Errorf("evaluation set is empty")
	}
	names := data.TargetNames(ds)
	if !slices.Equal(names, std.Names) {
		return nil, fmt.Errorf("data has targets %v, the model %v", names, std.Names)
	}
	if t := len(names); f.Model.Spec.Targets != t {
		return nil, fmt.Errorf("model has %d regression outputs for %d targets", f.Model.Spec.Targets, t)
	}
	ld, err := evalLoader(f, ds, workers, cache)
	if err != nil {
		return nil, err
	}
	return &RegressionEvaluator{f: f, std: std, names: names, ld: ld}, nil
}

// Run runs the regressor over every image of the set, without augmentation, in order.
func (e *RegressionEvaluator) Run(ctx context.Context) (*RegressionResult, error) {
	f, std, names, ld := e.f, e.std, e.names, e.ld
	t := len(names)
	it := ld.Epoch(ctx, 0)
	defer it.Close()
	kind := f.Model.Spec.Loss
	abs, sq := make([]float64, t), make([]float64, t)
	var lossSum float64
	n := 0
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		out, err := f.Run(b)
		if err != nil {
			return nil, err
		}
		pred, err := Predictions(std, out.Logits)
		if err != nil {
			return nil, err
		}
		for k, y := range b.Targets {
			j := k % t
			d := float64(pred[k]) - float64(y)
			abs[j] += math.Abs(d)
			sq[j] += d * d
			// The loss on standardised values, as training measures it.
			lossSum += kind.Penalty(float64(out.Logits[k]) - (float64(y)-std.Mean[j])/std.Std[j])
		}
		n += b.N
		ld.Release(b) // Run copied it, and its targets are read
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &RegressionResult{N: n, Loss: lossSum / float64(n*t), Targets: make(map[string]TargetError, t), Names: names}
	var absAll, sqAll float64
	for j, name := range names {
		r.Targets[name] = TargetError{MAE: abs[j] / float64(n), RMSE: math.Sqrt(sq[j] / float64(n))}
		absAll += abs[j]
		sqAll += sq[j]
	}
	r.MAE = absAll / float64(n*t)
	r.RMSE = math.Sqrt(sqAll / float64(n*t))
	return r, nil
}
