package train

import (
	"fmt"
	"math"
)

// Optimizer kinds.
const (
	OptAdam = "adam"
	OptSGD  = "sgd"
)

// OptimizerConfig holds the optimiser's hyper-parameters (the learning rate comes per
// step, from the schedule).
type OptimizerConfig struct {
	Kind        string
	Momentum    float64 // SGD
	Beta1       float64 // Adam
	Beta2       float64
	Eps         float64
	WeightDecay float64 // L2 penalty added to the gradient, as torch.optim does
}

// Optimizer updates float32 parameters in place from their gradients. Its state (step
// count, moments) is exported into checkpoints so that a resumed run continues exactly.
type Optimizer struct {
	cfg  OptimizerConfig
	step int
	m, v [][]float32 // per parameter: Adam first/second moments, or SGD momentum (m)
}

// NewOptimizer creates an optimiser for parameters of the given sizes.
func NewOptimizer(cfg OptimizerConfig, sizes []int) (*Optimizer, error) {
	switch cfg.Kind {
	case OptAdam, OptSGD:
	default:
		return nil, fmt.Errorf("unknown optimizer %q (want adam or sgd)", cfg.Kind)
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-8
	}
	o := &Optimizer{cfg: cfg, m: make([][]float32, len(sizes))}
	for i, n := range sizes {
		o.m[i] = make([]float32, n)
	}
	if cfg.Kind == OptAdam {
		o.v = make([][]float32, len(sizes))
		for i, n := range sizes {
			o.v[i] = make([]float32, n)
		}
	}
	return o, nil
}

// Update applies one step: params[i] -= update(grads[i]) with learning rate lrs[i].
// A parameter without a gradient (nil: frozen) keeps its value and its moments.
func (o *Optimizer) Update(params, grads [][]float32, lrs []float64) error {
	if len(params) != len(o.m) || len(grads) != len(o.m) || len(lrs) != len(o.m) {
		return fmt.Errorf("optimizer holds %d parameters, got %d params, %d grads, %d rates", len(o.m), len(params), len(grads), len(lrs))
	}
	o.step++
	wd := float32(o.cfg.WeightDecay)
	switch o.cfg.Kind {
	case OptAdam:
		b1, b2 := o.cfg.Beta1, o.cfg.Beta2
		bc1 := 1 - math.Pow(b1, float64(o.step))
		bc2 := 1 - math.Pow(b2, float64(o.step))
		fb1, fb2 := float32(b1), float32(b2)
		eps := float32(o.cfg.Eps)
		for i, p := range params {
			g, m, v := grads[i], o.m[i], o.v[i]
			if g == nil {
				continue
			}
			step := float32(lrs[i] / bc1)
			sq := float32(math.Sqrt(bc2))
			for j := range p {
				gj := g[j] + wd*p[j]
				m[j] = fb1*m[j] + (1-fb1)*gj
				v[j] = fb2*v[j] + (1-fb2)*gj*gj
				p[j] -= step * m[j] / (float32(math.Sqrt(float64(v[j])))/sq + eps)
			}
		}
	case OptSGD:
		mu := float32(o.cfg.Momentum)
		for i, p := range params {
			g, m := grads[i], o.m[i]
			if g == nil {
				continue
			}
			lr := float32(lrs[i])
			for j := range p {
				gj := g[j] + wd*p[j]
				if o.step == 1 {
					m[j] = gj
				} else {
					m[j] = mu*m[j] + gj
				}
				p[j] -= lr * m[j]
			}
		}
	}
	return nil
}

// State returns the optimiser's moments, named by suffix ("m", "v") per parameter, and
// the step count.
func (o *Optimizer) State() (step int, m, v [][]float32) { return o.step, o.m, o.v }

// SetState restores the state returned by State.
func (o *Optimizer) SetState(step int, m, v [][]float32) error {
	if len(m) != len(o.m) || (o.v != nil && len(v) != len(o.v)) {
		return fmt.Errorf("optimizer state holds %d tensors, want %d", len(m), len(o.m))
	}
	for i := range m {
		if len(m[i]) != len(o.m[i]) {
			return fmt.Errorf("optimizer state tensor %d has %d values, want %d", i, len(m[i]), len(o.m[i]))
		}
		copy(o.m[i], m[i])
		if o.v != nil {
			if len(v[i]) != len(o.v[i]) {
				return fmt.Errorf("optimizer state tensor %d has %d values, want %d", i, len(v[i]), len(o.v[i]))
			}
			copy(o.v[i], v[i])
		}
	}
	o.step = step
	return nil
}
