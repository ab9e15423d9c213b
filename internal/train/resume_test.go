package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/metrics"
)

// resumeConfig is a tiny run that still carries every piece of state a resume must
// restore: Adam moments, a cosine learning rate, a decaying blur, batch-norm running
// statistics (the resnet task net), random crops and flips keyed by epoch, and canvases
// regenerated each epoch. Four batches an epoch, three epochs.
func resumeConfig(t *testing.T) config.Config {
	t.Helper()
	c := tinyConfig(t)
	c.Data.Needle.Train, c.Data.Needle.Val = 32, 16
	c.Data.Needle.FreshEachEpoch = true
	c.Data.Augment.HFlip, c.Data.Augment.CropScaleMin = true, 0.7
	c.Model.TaskNet, c.Model.ResNetWidth, c.Model.ResNetBlocks = config.NetResNet, 4, 1
	c.Train.Epochs, c.Train.BatchSize, c.Train.EvalBatchSize = 3, 8, 8
	c.Train.Schedule = config.ScheduleCosine
	c.Train.Blur = config.Blur{Kind: config.BlurGaussian, Sigma: 1, Epochs: 2, Shape: config.BlurLinear, DropMin: 64}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// cancelObserver cancels the run when it starts evaluating epoch `at` (1-based).
type cancelObserver struct {
	nopObserver
	at, epoch int
	cancel    func()
}

func (o *cancelObserver) Epoch(metrics.Record) { o.epoch++ }
func (o *cancelObserver) Evaluating() {
	if o.epoch+1 == o.at {
		o.cancel()
	}
}

// stopAt describes one interruption: after optimiser step Step, or (Step 0) as
// evaluation of epoch EvalEpoch begins.
type stopAt struct{ Step, EvalEpoch int }

// runDir opens dir, which exists, as a run directory.
func runDir(t *testing.T, dir string) *RunDir {
	t.Helper()
	d, err := OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Close() // the tests open one directory more than once; Run needs no lock
	return d
}

// runUntil trains in dir from the checkpoint there (if resume) and stops at s, or runs
// to the end when s is the zero value. It reports whether the run was interrupted.
func runUntil(t *testing.T, c config.Config, dir string, resume bool, s stopAt) bool {
	t.Helper()
	tr, val, err := infer.OpenData(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := Options{Config: c, Dir: runDir(t, dir), Train: tr, Val: val}
	if resume {
		if o.Resume, err = checkpoint.Load(filepath.Join(dir, LastCheckpoint)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Step > 0 {
		o.Hook = func(step int) {
			if step == s.Step {
				cancel()
			}
		}
	}
	if s.EvalEpoch > 0 {
		o.Observer = &cancelObserver{at: s.EvalEpoch, cancel: cancel}
	}
	_, err = Run(ctx, o)
	if errors.Is(err, ErrInterrupted) {
		return true
	}
	if err != nil {
		t.Fatalf("run (stop %+v): %v", s, err)
	}
	return false
}

// TestResumeIsExact: a run interrupted at any point and resumed from last.ckpt ends with
// the same checkpoints, bit for bit, and the same metrics (but for timings) as a run that
// was never interrupted.
func TestResumeIsExact(t *testing.T) {
	cases := []resumeCase{
		{"after the first step", []stopAt{{Step: 1}}},
		{"mid-epoch", []stopAt{{Step: 6}}},
		{"after an epoch's last step, before evaluation", []stopAt{{Step: 4}}},
		{"as evaluation starts", []stopAt{{EvalEpoch: 2}}},
		{"after the last step of the run", []stopAt{{Step: 12}}},
		{"twice, the second in the resumed run", []stopAt{{Step: 2}, {Step: 9}}},
	}
	if testing.Short() {
		cases = cases[1:2]
	}
	checkResumes(t, resumeConfig(t), cases, nil)
}

// TestResumeIsExactFrozen: so is a run with frozen parameters (which have no
// gradient and keep their optimiser moments at zero).
func TestResumeIsExactFrozen(t *testing.T) {
	c := resumeConfig(t)
	c.Train.Freeze = []string{"task.stem.", "task.s1."}
	checkResumes(t, c, []resumeCase{{"mid-epoch", []stopAt{{Step: 6}}}}, nil)
}

type resumeCase struct {
	name  string
	stops []stopAt
}

// checkResumes runs c uninterrupted, hands its last checkpoint and records to
// checkRef (when not nil), then for each case runs c interrupted at its stops and
// resumed, and compares the outputs with the uninterrupted run's.
func checkResumes(t *testing.T, c config.Config, cases []resumeCase, checkRef func(*checkpoint.Checkpoint, []metrics.Record)) {
	t.Helper()
	ref := t.TempDir()
	if runUntil(t, c, ref, false, stopAt{}) {
		t.Fatal("uninterrupted run reported an interruption")
	}
	wantLast, wantBest, wantRecs := runOutputs(t, ref)
	if len(wantRecs) != c.Train.Epochs {
		t.Fatalf("reference run wrote %d metrics records, want %d", len(wantRecs), c.Train.Epochs)
	}
	if checkRef != nil {
		checkRef(wantLast, wantRecs)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, s := range tc.stops {
				if !runUntil(t, c, dir, i > 0, s) {
					t.Fatalf("run %d was not interrupted at %+v", i+1, s)
				}
				ck, err := checkpoint.Load(filepath.Join(dir, LastCheckpoint))
				if err != nil {
					t.Fatalf("checkpoint after interruption %d: %v", i+1, err)
				}
				if s.Step > 0 && ck.Step != s.Step {
					t.Errorf("interrupted at step %d, checkpoint says step %d", s.Step, ck.Step)
				}
			}
			if runUntil(t, c, dir, true, stopAt{}) {
				t.Fatal("final resumed run reported an interruption")
			}
			gotLast, gotBest, gotRecs := runOutputs(t, dir)
			compareCheckpoints(t, "last.ckpt", gotLast, wantLast)
			compareCheckpoints(t, "best.ckpt", gotBest, wantBest)
			compareRecords(t, gotRecs, wantRecs)
		})
	}
}

func runOutputs(t *testing.T, dir string) (last, best *checkpoint.Checkpoint, recs []metrics.Record) {
	t.Helper()
	var err error
	if last, err = checkpoint.Load(filepath.Join(dir, LastCheckpoint)); err != nil {
		t.Fatal(err)
	}
	if best, err = checkpoint.Load(filepath.Join(dir, BestCheckpoint)); err != nil {
		t.Fatal(err)
	}
	if recs, err = metrics.Read(filepath.Join(dir, MetricsFile)); err != nil {
		t.Fatal(err)
	}
	return last, best, recs
}

// compareCheckpoints requires identical checkpoints: weights, optimiser state and
// batch-norm statistics bit for bit, and the same position and counters.
func compareCheckpoints(t *testing.T, name string, got, want *checkpoint.Checkpoint) {
	t.Helper()
	if got.Epoch != want.Epoch || got.Step != want.Step {
		t.Errorf("%s: epoch %d step %d, want epoch %d step %d", name, got.Epoch, got.Step, want.Epoch, want.Step)
	}
	for _, sec := range []struct {
		what      string
		got, want []checkpoint.Tensor
	}{{"weights", got.Weights, want.Weights}, {"buffers", got.Buffers, want.Buffers}, {"optimizer", got.Optimizer, want.Optimizer}} {
		if len(sec.got) != len(sec.want) {
			t.Errorf("%s: %d %s tensors, want %d", name, len(sec.got), sec.what, len(sec.want))
			continue
		}
		for i := range sec.got {
			if d := firstBitDiff(sec.got[i].Data, sec.want[i].Data); d >= 0 {
				t.Errorf("%s: %s %s differs at value %d: got %g, want %g", name, sec.what, sec.got[i].Name, d, sec.got[i].Data[d], sec.want[i].Data[d])
			}
		}
	}
	for _, k := range []string{infer.ExtraBatchNorm, infer.ExtraStandardiser, extraPosition, extraBest} {
		if got.Extra[k] != want.Extra[k] {
			t.Errorf("%s: extra %q differs:\n got %.200s\nwant %.200s", name, k, got.Extra[k], want.Extra[k])
		}
	}
	if len(got.Extra) != len(want.Extra) {
		t.Errorf("%s: %d extra entries, want %d", name, len(got.Extra), len(want.Extra))
	}
	if !bytes.Equal(got.ConfigYAML, want.ConfigYAML) {
		t.Errorf("%s: saved configs differ", name)
	}
}

// firstBitDiff is the first index where a and b differ bitwise, -1 if none (or a length
// mismatch at 0).
func firstBitDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// compareRecords requires equal metrics but for the timings.
func compareRecords(t *testing.T, got, want []metrics.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d metrics records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		g.Seconds, g.ImagesPerS, g.Time = 0, 0, ""
		w.Seconds, w.ImagesPerS, w.Time = 0, 0, ""
		// As JSON, which leaves out NaN (not measured) fields: NaN != NaN.
		gj, gerr := json.Marshal(g)
		wj, werr := json.Marshal(w)
		if gerr != nil || werr != nil || !bytes.Equal(gj, wj) {
			t.Errorf("metrics record %d:\n got %s (%v)\nwant %s (%v)", i+1, gj, gerr, wj, werr)
		}
	}
}

// TestNonFiniteLossKeepsLastGoodCheckpoint: an absurd learning rate makes the loss blow
// up after a good epoch; training stops with an error naming the step and the last
// good checkpoint, which is left byte for byte as it was.
func TestNonFiniteLossKeepsLastGoodCheckpoint(t *testing.T) {
	c := tinyConfig(t)
	c.Data.Needle.Train, c.Data.Needle.Val = 16, 8
	c.Train.Epochs, c.Train.EvalBatchSize = 1, 8
	c.Train.Optimizer, c.Train.Momentum = config.OptimizerSGD, 0
	dir := t.TempDir()
	if runUntil(t, c, dir, false, stopAt{}) {
		t.Fatal("first epoch was interrupted")
	}
	lastPath := filepath.Join(dir, LastCheckpoint)
	before, err := os.ReadFile(lastPath)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Load(lastPath)
	if err != nil {
		t.Fatal(err)
	}

	bad := c
	bad.Train.Epochs, bad.Train.LR = 3, 1e30
	tr, val, err := infer.OpenData(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Config: bad, Dir: runDir(t, dir), Train: tr, Val: val, Resume: ck})
	var nf *NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("error = %v, want a NonFiniteError", err)
	}
	// Step 3 (the first after the checkpoint) applies the huge update; the loss or a
	// gradient of step 4 or 5 is the first that cannot be finite.
	if nf.Step <= ck.Step+1 || nf.Step > ck.Step+4 {
		t.Errorf("non-finite at step %d, want within a few steps after %d", nf.Step, ck.Step+1)
	}
	if nf.LastGood != lastPath {
		t.Errorf("last good checkpoint %q, want %q", nf.LastGood, lastPath)
	}
	msg := err.Error()
	for _, want := range []string{fmt.Sprintf("at step %d", nf.Step), lastPath} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	after, err := os.ReadFile(lastPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, before) {
		t.Error("last.ckpt changed after the non-finite step")
	}
}

// TestNonFiniteBeforeAnyCheckpoint: a blow-up in the first epoch says that no checkpoint
// exists yet, and writes none.
func TestNonFiniteBeforeAnyCheckpoint(t *testing.T) {
	c := tinyConfig(t)
	c.Train.Optimizer, c.Train.Momentum, c.Train.LR = config.OptimizerSGD, 0, 1e30
	dir := t.TempDir()
	tr, val, err := infer.OpenData(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), Options{Config: c, Dir: runDir(t, dir), Train: tr, Val: val})
	var nf *NonFiniteError
	if !errors.As(err, &nf) {
		t.Fatalf("error = %v, want a NonFiniteError", err)
	}
	if nf.LastGood != "" || !strings.Contains(err.Error(), "no checkpoint was written yet") {
		t.Errorf("error %q names a last good checkpoint %q, want none", err, nf.LastGood)
	}
	if _, err := os.Stat(filepath.Join(dir, LastCheckpoint)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("last.ckpt after a blow-up in the first epoch: stat error %v, want not-exist", err)
	}
}

// TestSmokeTiny20Steps: the tiny config trains 20 steps (two full epochs and part of a
// third) with finite losses, two metrics records and a mid-epoch checkpoint at step 20.
func TestSmokeTiny20Steps(t *testing.T) {
	c := tinyConfig(t)
	c.Train.Epochs, c.Train.MaxSteps = 3, 20
	dir := t.TempDir()
	tr, val, err := infer.OpenData(c)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	sum, err := Run(context.Background(), Options{Config: c, Dir: runDir(t, dir), Train: tr, Val: val, Hook: func(int) { steps++ }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 20 || steps != 20 {
		t.Errorf("summary says %d steps, hook saw %d, want 20", sum.Steps, steps)
	}
	recs, err := metrics.Read(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d metrics records, want 2", len(recs))
	}
	for _, r := range recs {
		for _, v := range []float64{r.TrainLoss, r.ValLoss, r.TrainAcc, r.ValTop1} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("epoch %d: non-finite measurement in %+v", r.Epoch, r)
			}
		}
	}
	ck, err := checkpoint.Load(filepath.Join(dir, LastCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Step != 20 || ck.Epoch != 2 {
		t.Errorf("last.ckpt at epoch %d step %d, want epoch 2 (0-based, in progress) step 20", ck.Epoch, ck.Step)
	}
}
