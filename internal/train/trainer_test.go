package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/kernels"
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
	samplers := []string{"saliency", "uniform"}
	if testing.Short() {
		samplers = samplers[:1] // its graph holds both networks' weights
	}
	for _, sampler := range samplers {
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
		batch, err := data.NewBatch(x, labels, Spec(c, 10).Inputs())
		if err != nil {
			t.Fatal(err)
		}
		first, _, err := tr.Step(batch, c.Train.LR, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last float64
		for i := 0; i < 100; i++ {
			if last, _, err = tr.Step(batch, c.Train.LR, i+2); err != nil {
				t.Fatal(err)
			}
		}
		if last > 0.1*first {
			t.Errorf("%s: loss %.4f after 100 steps on one batch, first %.4f: not fitting", sampler, last, first)
		}
	}
}

// TestStepUsesBatchCopies: a step on a batch whose low-resolution copies were made
// image by image (as the loader's workers make them; the uniform batch without its
// images) equals a step on data.NewBatch's, the step reads the copies, and a batch
// without them, or short of images, is refused.
func TestStepUsesBatchCopies(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		c := tinyConfig(t)
		c.Model.Sampler = sampler
		b, r := c.Train.BatchSize, c.Data.Resolution
		rng := rand.New(rand.NewPCG(2, 3))
		x := make([]float32, b*3*r*r)
		for i := range x {
			x[i] = rng.Float32()
		}
		labels := make([]int, b)
		for i := range labels {
			labels[i] = i % 10
		}
		batch := &data.Batch{N: b, X: x, Labels: labels}
		for _, s := range Spec(c, 10).Inputs().Sides {
			small := make([]float32, b*3*s*s)
			for i := range b {
				kernels.ResizePlain32(x[i*3*r*r:], 3, r, r, s, s, small[i*3*s*s:])
			}
			batch.LowRes = append(batch.LowRes, small)
		}
		if sampler == "uniform" {
			batch.X = nil
		}
		// The third run darkens the given downsamples: the step must read them.
		var losses [3]float64
		for k := range losses {
			tr, err := NewTrainer(c, 10)
			if err != nil {
				t.Fatal(err)
			}
			if k == 2 {
				for _, small := range batch.LowRes {
					for i := range small {
						small[i] *= 0.5
					}
				}
			}
			if k == 0 {
				whole, berr := data.NewBatch(x, labels, Spec(c, 10).Inputs())
				if berr != nil {
					t.Fatal(berr)
				}
				losses[k], _, err = tr.Step(whole, c.Train.LR, 1)
			} else {
				losses[k], _, err = tr.Step(batch, c.Train.LR, 1)
			}
			if err != nil {
				t.Fatalf("%s: %v", sampler, err)
			}
		}
		if math.Abs(losses[0]-losses[1]) > 1e-6*math.Abs(losses[0]) {
			t.Errorf("%s: loss with copies made image by image %.8g, by data.NewBatch %.8g", sampler, losses[1], losses[0])
		}
		if losses[2] == losses[1] {
			t.Errorf("%s: loss %.8g unchanged by darker downsamples", sampler, losses[2])
		}
		tr, err := NewTrainer(c, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.Step(&data.Batch{N: b, X: x, Labels: labels}, c.Train.LR, 1); err == nil {
			t.Errorf("%s: a batch without low-resolution copies was accepted", sampler)
		}
		if sampler == "saliency" {
			short := *batch
			short.X = x[:len(x)-1]
			if _, _, err := tr.Step(&short, c.Train.LR, 1); err == nil {
				t.Errorf("%s: a batch short of image values was accepted", sampler)
			}
		}
	}
}
