package train

import (
	"math/rand/v2"
	"testing"

	"zoomtrain/internal/config"
)

func tinyConfig(t *testing.T) config.Config {
	t.Helper()
	c, err := config.Load("../../configs/tiny.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStepsReduceLossOnFixedBatch: repeated steps on one batch must fit it, which fails
// if the optimiser's updates do not reach the weights the graph computes with.
func TestStepsReduceLossOnFixedBatch(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		c := tinyConfig(t)
		c.Model.Sampler = sampler
		c.Train.LR = 1e-3
		tr, err := NewTrainer(c, 10)
		if err != nil {
			t.Fatal(err)
		}
		b, r := c.Train.BatchSize, c.Data.Resolution
		// Two classes told apart by brightness, plus noise.
		rng := rand.New(rand.NewPCG(1, 1))
		x := make([]float32, b*3*r*r)
		labels := make([]int, b)
		for i := range labels {
			labels[i] = i % 2
			for j := 0; j < 3*r*r; j++ {
				x[i*3*r*r+j] = 0.6*float32(labels[i]) + 0.4*rng.Float32()
			}
		}
		first, _, err := tr.Step(x, labels, c.Train.LR, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last float64
		for i := 0; i < 100; i++ {
			if last, _, err = tr.Step(x, labels, c.Train.LR, i+2); err != nil {
				t.Fatal(err)
			}
		}
		if last > 0.1*first {
			t.Errorf("%s: loss %.4f after 100 steps on one batch, first %.4f: not fitting", sampler, last, first)
		}
	}
}
