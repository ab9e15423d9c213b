package train

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/metrics"
)

// gazeResumeConfig is resumeConfig on the needle-gaze set: a small regression run with
// every piece of state a resume restores (Adam, cosine rate, decaying blur, batch-norm
// statistics, canvases redrawn each epoch, flips that negate gx) and smooth_l1 loss.
func gazeResumeConfig(t *testing.T) config.Config {
	t.Helper()
	c := resumeConfig(t)
	c.Data.Source = config.SourceNeedleGaze
	c.Data.Gaze.Canvas, c.Data.Resolution = 64, 64
	c.Data.Gaze.EyeMin, c.Data.Gaze.EyeMax = 4, 6
	c.Data.Gaze.Train, c.Data.Gaze.Val = 32, 16
	c.Data.Augment.CropScaleMin = 1 // a crop would change the geometry the targets describe
	c.Train.Loss = config.LossSmoothL1
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRegressionResumeIsExact: a regression run interrupted mid-epoch, or as evaluation
// starts, and resumed ends with the checkpoints and metrics of an uninterrupted run.
func TestRegressionResumeIsExact(t *testing.T) {
	cases := []resumeCase{
		{"mid-epoch", []stopAt{{Step: 6}}},
		{"as evaluation starts", []stopAt{{EvalEpoch: 2}}},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	checkResumes(t, gazeResumeConfig(t), cases, func(last *checkpoint.Checkpoint, recs []metrics.Record) {
		for _, r := range recs {
			if r.Regression == nil || !(r.Regression.ValMAE > 0) || !(r.Regression.TrainMAE > 0) || !math.IsNaN(r.ValTop1) {
				t.Fatalf("epoch %d record %+v: want regression errors and no accuracy", r.Epoch, r)
			}
		}
		if last.Extra[infer.ExtraStandardiser] == "" || len(last.Classes) != 0 {
			t.Fatalf("checkpoint has standardiser %q and classes %v", last.Extra[infer.ExtraStandardiser], last.Classes)
		}
	})
}

// TestRegressorStandardisesWithTrainingSet: the checkpoint keeps the training set's
// mean and deviation of each target, and its best checkpoint is the epoch of lowest val
// MAE.
func TestRegressorStandardisesWithTrainingSet(t *testing.T) {
	c := gazeResumeConfig(t)
	c.Train.Epochs = 2
	dir := t.TempDir()
	runUntil(t, c, dir, false, stopAt{})
	last, best, recs := runOutputs(t, dir)
	tr, _, err := infer.OpenData(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.FitTargets(tr.(data.Regression))
	if err != nil {
		t.Fatal(err)
	}
	var got data.Standardiser
	if err := json.Unmarshal([]byte(last.Extra[infer.ExtraStandardiser]), &got); err != nil {
		t.Fatal(err)
	}
	for j := range want.Names {
		if got.Names[j] != want.Names[j] || got.Mean[j] != want.Mean[j] || got.Std[j] != want.Std[j] {
			t.Errorf("target %d: standardiser %v %v %v, want %v %v %v", j, got.Names[j], got.Mean[j], got.Std[j], want.Names[j], want.Mean[j], want.Std[j])
		}
	}
	bestEpoch := 1
	if recs[1].Regression.ValMAE < recs[0].Regression.ValMAE {
		bestEpoch = 2
	}
	if best.Epoch != bestEpoch {
		t.Errorf("best.ckpt is of epoch %d, want %d (val MAE %v, %v)", best.Epoch, bestEpoch, recs[0].Regression.ValMAE, recs[1].Regression.ValMAE)
	}
	// A classifier's checkpoint cannot resume a regression run.
	cls := tinyConfig(t)
	cdir := t.TempDir()
	cls.Train.Epochs = 1
	runUntil(t, cls, cdir, false, stopAt{})
	ck, err := checkpoint.Load(filepath.Join(cdir, LastCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trainerFor(c, tr, ck); err == nil {
		t.Error("a classifier's checkpoint resumed a regression run")
	}
}

// TestRegressionMemoryModel: the memory estimate of a regressor is measured on its own
// graph (two outputs, not a classifier's), and close to a classifier's of two classes.
func TestRegressionMemoryModel(t *testing.T) {
	c := gazeResumeConfig(t)
	reg, err := NewMemoryModel(c, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	cls, err := NewMemoryModel(c, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Weights != cls.Weights || reg.PerExample <= 0 {
		t.Errorf("regressor %+v, classifier of 2 classes %+v: want the same weights", reg, cls)
	}
	if _, err := NewMemoryModel(c, 0, 0); err == nil {
		t.Error("a model with neither classes nor targets was estimated")
	}
}
