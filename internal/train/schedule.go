package train

import (
	"fmt"
	"math"
)

// LRSchedule gives the learning-rate factor (of the base rate) at a point of training
// measured in epochs (fractional: epoch e, batch b of n is e + b/n).
type LRSchedule struct {
	Kind        string // constant | step | cosine
	Epochs      int
	Warmup      float64 // epochs of linear warm-up from 0
	Milestones  []int   // step: epochs at which the rate is multiplied by Gamma
	Gamma       float64
	MinFraction float64 // cosine: the floor, as a fraction of the base rate
}

// Validate checks the schedule's parameters.
func (s LRSchedule) Validate() error {
	switch s.Kind {
	case "constant", "step", "cosine":
	default:
		return fmt.Errorf("unknown learning-rate schedule %q (want constant, step or cosine)", s.Kind)
	}
	if s.Warmup < 0 || s.Warmup > float64(s.Epochs) {
		return fmt.Errorf("warm-up of %g epochs must be within the %d epochs", s.Warmup, s.Epochs)
	}
	return nil
}

// Factor returns the multiplier of the base learning rate at time t (in epochs).
func (s LRSchedule) Factor(t float64) float64 {
	f := 1.0
	switch s.Kind {
	case "step":
		for _, m := range s.Milestones {
			if t >= float64(m) {
				f *= s.Gamma
			}
		}
	case "cosine":
		span := float64(s.Epochs) - s.Warmup
		if span > 0 {
			p := math.Min(math.Max((t-s.Warmup)/span, 0), 1)
			f = s.MinFraction + (1-s.MinFraction)*0.5*(1+math.Cos(math.Pi*p))
		}
	}
	if s.Warmup > 0 && t < s.Warmup {
		f *= t / s.Warmup
	}
	return f
}

// BlurSchedule anneals the Gaussian blur of the task input from Sigma to zero over
// Epochs, as the paper does to push the sampler to zoom early in training.
type BlurSchedule struct {
	Sigma  float64
	Epochs float64
	Shape  string // linear | cosine | step
}

// Validate checks the schedule's parameters.
func (b BlurSchedule) Validate() error {
	switch b.Shape {
	case "linear", "cosine", "step":
	default:
		return fmt.Errorf("unknown blur shape %q (want linear, cosine or step)", b.Shape)
	}
	if b.Sigma < 0 || b.Epochs < 0 {
		return fmt.Errorf("blur sigma and epochs must not be negative")
	}
	return nil
}

// Sigma returns the blur at time t (in epochs); zero once the schedule has run out.
func (b BlurSchedule) SigmaAt(t float64) float64 {
	if b.Sigma <= 0 || b.Epochs <= 0 || t >= b.Epochs {
		return 0
	}
	p := t / b.Epochs
	switch b.Shape {
	case "cosine":
		return b.Sigma * 0.5 * (1 + math.Cos(math.Pi*p))
	case "step":
		return b.Sigma
	default:
		return b.Sigma * (1 - p)
	}
}

// Radius is the blur kernel radius the graph needs for the schedule's largest sigma.
func (b BlurSchedule) Radius() int {
	if b.Sigma <= 0 || b.Epochs <= 0 {
		return 0
	}
	return int(math.Ceil(3 * b.Sigma))
}
