package data

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// A Standardiser maps each target to zero mean and unit deviation with the mean and
// deviation of a training set, so a regression head's outputs are of order one whatever
// the targets' units; it is kept with a trained model to report predictions in those
// units. Values are rows of len(Names) targets, N x T row-major.
type Standardiser struct {
	Names []string  `json:"names"`
	Mean  []float64 `json:"mean"`
	// Std is the population standard deviation; a target that never varies gets 1, so it
	// is only centred.
	Std []float64 `json:"std"`
}

// FitStandardiser measures the mean and deviation of each target over rows (N x T,
// T = len(names)) in float64.
func FitStandardiser(names []string, rows []float32) (Standardiser, error) {
	t := len(names)
	if t == 0 {
		return Standardiser{}, errors.New("standardiser: no targets")
	}
	if len(rows) == 0 || len(rows)%t != 0 {
		return Standardiser{}, fmt.Errorf("standardiser: %d values are not whole rows of %d targets", len(rows), t)
	}
	n := len(rows) / t
	s := Standardiser{Names: slices.Clone(names), Mean: make([]float64, t), Std: make([]float64, t)}
	for k, v := range rows {
		s.Mean[k%t] += float64(v)
	}
	for j := range s.Mean {
		s.Mean[j] /= float64(n)
	}
	for k, v := range rows { // a second pass: no cancellation when the mean is large
		d := float64(v) - s.Mean[k%t]
		s.Std[k%t] += d * d
	}
	for j := range s.Std {
		s.Std[j] = math.Sqrt(s.Std[j] / float64(n))
		if s.Std[j] == 0 {
			s.Std[j] = 1
		}
	}
	return s, s.Validate()
}

// FitTargets fits a Standardiser to the targets of a training set (epoch 0 of a set that
// redraws its examples each epoch).
func FitTargets(ds Regression) (Standardiser, error) {
	names := ds.TargetNames()
	rows := make([]float32, ds.Len()*len(names))
	for i := 0; i < ds.Len(); i++ {
		if err := ds.Targets(i, 0, rows[i*len(names):(i+1)*len(names)]); err != nil {
			return Standardiser{}, fmt.Errorf("standardiser: %w", err)
		}
	}
	return FitStandardiser(names, rows)
}

// Validate reports a Standardiser that cannot map values, such as one read from a
// damaged checkpoint.
func (s Standardiser) Validate() error {
	t := len(s.Names)
	if t == 0 || len(s.Mean) != t || len(s.Std) != t {
		return fmt.Errorf("standardiser: %d names, %d means and %d deviations", t, len(s.Mean), len(s.Std))
	}
	for j := range s.Names {
		m, d := s.Mean[j], s.Std[j]
		if math.IsNaN(m) || math.IsInf(m, 0) || !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("standardiser: target %q has mean %v and deviation %v", s.Names[j], m, d)
		}
	}
	return nil
}

// Standardise maps rows of targets, in place, to (v - mean) / std.
func (s Standardiser) Standardise(rows []float32) error {
	return s.apply(rows, func(v float64, j int) float64 { return (v - s.Mean[j]) / s.Std[j] })
}

// Unstandardise maps standardised rows, such as a model's outputs, back to the targets'
// units in place: v * std + mean.
func (s Standardiser) Unstandardise(rows []float32) error {
	return s.apply(rows, func(v float64, j int) float64 { return v*s.Std[j] + s.Mean[j] })
}

func (s Standardiser) apply(rows []float32, f func(v float64, j int) float64) error {
	if err := s.Validate(); err != nil {
		return err
	}
	t := len(s.Names)
	if len(rows)%t != 0 {
		return fmt.Errorf("standardiser: %d values are not whole rows of %d targets", len(rows), t)
	}
	for k, v := range rows {
		rows[k] = float32(f(float64(v), k%t))
	}
	return nil
}
