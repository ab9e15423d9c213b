// Package train owns the training loop: schedules (learning rate, blur), steps,
// periodic evaluation, checkpoints, metrics, and stopping on cancellation.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/kernels"
	"zoomtrain/internal/metrics"
	"zoomtrain/internal/opkit"
)

// ErrInterrupted is returned when the context was cancelled; a checkpoint of the last
// complete step has been written.
var ErrInterrupted = errors.New("training interrupted")

// NonFiniteError reports a NaN or infinite loss or gradient.
type NonFiniteError struct {
	What     string // "loss" or "gradient of <param>"
	Step     int
	LastGood string // path of the last good checkpoint, "" if none yet
}

func (e *NonFiniteError) Error() string {
	last := "no checkpoint was written yet"
	if e.LastGood != "" {
		last = "the last good checkpoint is " + e.LastGood
	}
	return fmt.Sprintf("non-finite %s at step %d; training stopped, %s", e.What, e.Step, last)
}

// StepInfo is reported after every optimiser step.
type StepInfo struct {
	Epoch, Batch, Batches, Step int
	Loss                        float64
	BlurSigma                   float64
}

// RunInfo is reported once training starts.
type RunInfo struct {
	Dir             string
	Params          int
	BatchesPerEpoch int
	StartEpoch      int
	StartBatch      int
	// Notes say where the starting weights came from (pretrained files, an --init
	// checkpoint) and what was re-initialised, one line each.
	Notes []string
}

// Observer receives progress; the command line draws it, tests ignore it.
type Observer interface {
	Start(RunInfo)
	Step(StepInfo)
	Epoch(metrics.Record)
	Evaluating()
}

// SkipObserver is an Observer that also hears, at the end of each epoch, which
// unreadable training files the epoch skipped (data.on_error: skip).
type SkipObserver interface {
	Skipped(epoch int, files []data.SkippedFile)
}

type nopObserver struct{}

func (nopObserver) Start(RunInfo)        {}
func (nopObserver) Step(StepInfo)        {}
func (nopObserver) Epoch(metrics.Record) {}
func (nopObserver) Evaluating()          {}

// Options for Run.
type Options struct {
	Config     config.Config
	Dir        *RunDir
	Train, Val data.Dataset
	// Resume continues from this checkpoint (its weights, optimiser and position).
	Resume *checkpoint.Checkpoint
	// Init starts from this checkpoint's weights and batch-norm statistics (not its
	// optimiser or position): fine-tuning an imported model. Config must hold its
	// model settings (InitConfig).
	Init     *checkpoint.Checkpoint
	Observer Observer
	// Hook, when set, is called after each step (tests use it to interrupt at a step).
	Hook func(step int)
}

// Summary is what Run returns.
type Summary struct {
	Epochs   int
	Steps    int
	BestTop1 float64
	BestMAE  float64 // a regression run's best val MAE (0 before one is measured)
	Last     *metrics.Record
}

// Trainer holds the built graphs, the VMs and the optimiser of one run.
type Trainer struct {
	cfg    config.Config
	model  *graph.Model
	eval   *infer.Forward
	vm     G.VM
	opt    *Optimizer
	params [][]float32
	mult   []float64
	lrs    []float64
	grads  [][]float32
	onehot []float32

	// A regressor's standardiser, the standardised targets of a step and the sum of
	// the step's absolute errors in the targets' units; std is nil for a classifier.
	std     *data.Standardiser
	targets []float32
	absErr  float64

	loss, logits G.Value
}

// NewTrainer builds the training graph (batch train.batch_size, with loss and
// gradients) and a forward graph sharing its weights for evaluation.
func NewTrainer(cfg config.Config, classes int) (*Trainer, error) {
	return newTrainer(cfg, Spec(cfg, classes), nil)
}

// NewRegressor is NewTrainer for a regression model of std's targets, which it learns
// standardised by std (the training set's mean and deviation).
func NewRegressor(cfg config.Config, std data.Standardiser) (*Trainer, error) {
	if err := std.Validate(); err != nil {
		return nil, err
	}
	return newTrainer(cfg, specOf(cfg, 0, len(std.Names)), &std)
}

func newTrainer(cfg config.Config, spec graph.Spec, std *data.Standardiser) (*Trainer, error) {
	if err := checkSchedules(cfg); err != nil {
		return nil, err
	}
	m, mult, err := trainingGraph(cfg, spec)
	if err != nil {
		return nil, err
	}
	evalBatch, err := infer.BatchForMemory(spec, cfg.Train.EvalBatchSize, infer.EvalMemoryBytes)
	if err != nil {
		return nil, err
	}
	em, err := graph.Build(spec, graph.Options{Batch: evalBatch, Dtype: tensor.Float32, Seed: uint64(cfg.Seed), Share: m})
	if err != nil {
		return nil, fmt.Errorf("build evaluation graph: %w", err)
	}
	t := &Trainer{cfg: cfg, model: m, std: std, mult: mult}
	// The evaluation runs between steps, when none of the step's shared values is
	// needed: its values take turns in the same memory.
	arena := new(opkit.Arena)
	if t.eval, err = infer.NewForward(em, false, arena); err != nil {
		return nil, err
	}
	G.Read(m.Loss, &t.loss)
	G.Read(m.Logits, &t.logits)
	if std != nil {
		t.targets = make([]float32, cfg.Train.BatchSize*spec.Targets)
		if err := G.Let(m.Targets, tensor.New(tensor.WithShape(m.Targets.Shape()...), tensor.WithBacking(t.targets))); err != nil {
			return nil, err
		}
	} else {
		t.onehot = make([]float32, cfg.Train.BatchSize*spec.Classes)
		if err := G.Let(m.OneHot, tensor.New(tensor.WithShape(m.OneHot.Shape()...), tensor.WithBacking(t.onehot))); err != nil {
			return nil, err
		}
	}
	// The step's values that are not needed at the same time (most gradients, and
	// forward outputs the backward pass does not read) share memory.
	if t.vm, _, err = opkit.NewMachine(m.G, arena, G.BindDualValues(m.Learnables()...)); err != nil {
		return nil, err
	}
	if t.params, err = m.ParamData(); err != nil {
		return nil, err
	}
	sizes := make([]int, len(t.params))
	for i, p := range t.params {
		sizes[i] = len(p)
	}
	if t.opt, err = NewOptimizer(optimizerConfig(cfg), sizes); err != nil {
		return nil, err
	}
	t.lrs = make([]float64, len(t.params))
	t.grads = make([][]float32, len(t.params))
	return t, nil
}

// trainingGraph builds spec's training graph at train.batch_size with the
// parameters train.freeze names frozen, differentiates the loss in the others, and
// returns it with each parameter's learning-rate multiplier.
func trainingGraph(cfg config.Config, spec graph.Spec) (*graph.Model, []float64, error) {
	m, err := graph.Build(spec, graph.Options{Batch: cfg.Train.BatchSize, Dtype: tensor.Float32, WithLoss: true, Seed: uint64(cfg.Seed), Frozen: freezes(cfg)})
	if err != nil {
		return nil, nil, fmt.Errorf("build training graph: %w", err)
	}
	mult, err := paramMultipliers(cfg, m)
	if err != nil {
		return nil, nil, err
	}
	if len(m.Learnables()) == 0 {
		return nil, nil, fmt.Errorf("train.freeze %q freezes every parameter: nothing is left to train", cfg.Train.Freeze)
	}
	if _, err := G.Grad(m.Loss, m.Learnables()...); err != nil {
		return nil, nil, fmt.Errorf("differentiate the loss: %w", err)
	}
	return m, mult, nil
}

// Model returns the training graph's model (its weights are the trained ones).
func (t *Trainer) Model() *graph.Model { return t.model }

// Step runs one forward/backward pass and optimiser update on a batch of the graph's
// batch size that carries the model's low-resolution copies (the loader's, or
// data.NewBatch's), at base learning rate lr; stepNo only names the step in errors. It
// returns the loss and the number of correct top-1 predictions (0 for a regressor, whose
// step's absolute errors AbsError sums); on a non-finite loss or gradient the weights
// are left untouched. The graph reads b's slices in place.
func (t *Trainer) Step(b *data.Batch, lr float64, stepNo int) (loss float64, correct int, err error) {
	k := t.model.Spec.Outputs()
	labels := b.Labels
	if len(labels) != t.model.Batch || b.N != len(labels) {
		return 0, 0, fmt.Errorf("step %d: batch of %d images and %d labels, the graph takes %d", stepNo, b.N, len(labels), t.model.Batch)
	}
	if err := bindInputs(t.model, b); err != nil {
		return 0, 0, fmt.Errorf("step %d: %w", stepNo, err)
	}
	if t.std != nil {
		if len(b.Targets) != len(t.targets) {
			return 0, 0, fmt.Errorf("step %d: batch of %d targets, the graph takes %d", stepNo, len(b.Targets), len(t.targets))
		}
		copy(t.targets, b.Targets)
		if err := t.std.Standardise(t.targets); err != nil {
			return 0, 0, fmt.Errorf("step %d: %w", stepNo, err)
		}
	} else {
		clear(t.onehot)
		for i, y := range labels {
			t.onehot[i*k+y] = 1
		}
	}
	// Gorgonia adds each run's gradients into the parameters' dual values: clear them,
	// or every step would apply the sum of all gradients so far.
	if err := t.zeroGrads(); err != nil {
		return 0, 0, err
	}
	// Evaluation switches batch norm to its running statistics and back to
	// training; train.bn_eval keeps them.
	t.model.SetTraining(!t.cfg.Train.BNEval)
	defer t.vm.Reset()
	if err := t.vm.RunAll(); err != nil {
		return 0, 0, fmt.Errorf("step %d: %w", stepNo, err)
	}
	loss = float64(t.loss.Data().(float32))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0, &NonFiniteError{What: "loss (" + strconv.FormatFloat(loss, 'g', -1, 64) + ")", Step: stepNo}
	}
	logits := t.logits.Data().([]float32)
	if t.std != nil {
		pred, err := infer.Predictions(*t.std, logits)
		if err != nil {
			return 0, 0, err
		}
		t.absErr = 0
		for i, y := range b.Targets {
			t.absErr += math.Abs(float64(pred[i]) - float64(y))
		}
	} else {
		for i, y := range labels {
			if infer.Argmax(logits[i*k:(i+1)*k]) == y {
				correct++
			}
		}
	}
	for i, p := range t.model.Params {
		if p.Frozen {
			continue // no gradient: the optimiser leaves it as it is
		}
		g, err := p.Node.Grad()
		if err != nil {
			return 0, 0, fmt.Errorf("gradient of %s: %w", p.Name, err)
		}
		gd := g.Data().([]float32)
		for _, v := range gd {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return loss, 0, &NonFiniteError{What: "gradient of " + p.Name, Step: stepNo}
			}
		}
		t.grads[i] = gd
		t.lrs[i] = lr * t.mult[i]
	}
	if err := t.opt.Update(t.params, t.grads, t.lrs); err != nil {
		return 0, 0, err
	}
	return loss, correct, nil
}

// AbsError is the sum over the last step's examples and targets of the absolute error
// in the targets' units (0 for a classifier).
func (t *Trainer) AbsError() float64 { return t.absErr }

func (t *Trainer) zeroGrads() error {
	for _, p := range t.model.Params {
		if p.Frozen {
			continue
		}
		g, err := p.Node.Grad()
		if err != nil || g == nil {
			// Before the first run there is no gradient value yet.
			continue
		}
		if d, ok := g.Data().([]float32); ok {
			clear(d)
		}
	}
	return nil
}

// bindInputs lets the model's image and low-resolution inputs read b's slices in place.
func bindInputs(m *graph.Model, b *data.Batch) error {
	if err := m.Spec.Inputs().Check(b.LowRes, b.N); err != nil {
		return err
	}
	if m.Images != nil {
		r := m.Spec.Resolution
		if len(b.X) != m.Batch*3*r*r {
			return fmt.Errorf("batch of %d values, the graph takes %d images of 3 x %d x %d", len(b.X), m.Batch, r, r)
		}
		if err := G.Let(m.Images, tensor.New(tensor.WithShape(m.Images.Shape()...), tensor.WithBacking(b.X))); err != nil {
			return err
		}
	}
	for i, n := range m.LowResInputs() {
		if err := G.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(b.LowRes[i]))); err != nil {
			return err
		}
	}
	return nil
}

// Run trains until the configured epochs (or max_steps) are done, the context is
// cancelled (ErrInterrupted, after writing a checkpoint) or a step fails.
func Run(ctx context.Context, o Options) (*Summary, error) {
	cfg := o.Config
	obs := o.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	classes := o.Train.Classes()
	t, err := trainerFor(cfg, o.Train, o.Resume)
	if err != nil {
		return nil, err
	}
	m := t.model
	// One budget for the decoded images of both sets, kept across epochs.
	cache := data.NewCacheBudget(int64(cfg.Data.CacheMB) << 20)
	loader, err := data.NewLoader(o.Train, data.LoaderOptions{
		BatchSize: cfg.Train.BatchSize, Shuffle: true, Seed: cfg.Seed, Workers: cfg.Data.Workers,
		Cache: cache, DropLast: true, Prefetch: trainPrefetch(cfg),
		Augment: data.Augment{HFlip: cfg.Data.Augment.HFlip, CropScaleMin: cfg.Data.Augment.CropScaleMin},
		Inputs:  m.Spec.Inputs(),
	})
	if err != nil {
		return nil, err
	}
	nb := loader.BatchesPerEpoch()
	if nb == 0 {
		return nil, fmt.Errorf("training set of %d images holds no full batch of %d", o.Train.Len(), cfg.Train.BatchSize)
	}
	// The validation loader, and the images it caches, last across epochs.
	validate, err := t.newValidation(o.Val, cache)
	if err != nil {
		return nil, err
	}
	cfgYAML, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	metricsPath := o.Dir.File(MetricsFile)
	lastPath := o.Dir.File(LastCheckpoint)
	bestPath := o.Dir.File(BestCheckpoint)

	pos := position{}
	lastGood := ""
	var notes []string
	switch {
	case o.Resume != nil:
	case o.Init != nil:
		note, err := InitFrom(m, o.Init, classes)
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		notes = append(notes, "weights from the --init checkpoint")
		if note != "" {
			notes = append(notes, note)
		}
	default:
		if notes, err = loadPretrained(cfg, m); err != nil {
			return nil, err
		}
	}
	var history []metrics.Record // the records of the epochs done, kept in checkpoints
	if o.Resume != nil {
		if pos, err = t.restore(o.Resume, classes); err != nil {
			return nil, err
		}
		h, err := CheckpointHistory(o.Resume)
		if err != nil {
			return nil, err
		}
		for _, r := range h {
			if r.Epoch <= pos.Epoch {
				history = append(history, r)
			}
		}
		if err := metrics.Truncate(metricsPath, pos.Epoch); err != nil {
			return nil, err
		}
		lastGood = lastPath
	}
	// save writes the state at position at; checkpoint.Save's error already says
	// what failed (a full disk included), so it only gains the step.
	save := func(path string, at position) error {
		c, err := t.checkpoint(cfgYAML, classes, at, history)
		if err != nil {
			return err
		}
		if err := checkpoint.Save(path, c); err != nil {
			return fmt.Errorf("step %d: %w", at.Step, err)
		}
		return nil
	}
	// interrupted is the error of a run stopped by ctx with last.ckpt at position at.
	interrupted := func(at position) error {
		return fmt.Errorf("%w at step %d; checkpoint %s", ErrInterrupted, at.Step, lastPath)
	}
	// stop saves the state at position at as last.ckpt and ends the run: interrupted
	// when ctx was cancelled, complete when max_steps stopped it.
	stop := func(sum *Summary, at position) (*Summary, error) {
		if err := save(lastPath, at); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return sum, interrupted(at)
		}
		return sum, nil
	}
	obs.Start(RunInfo{Dir: o.Dir.Path(), Params: m.NumParams(), BatchesPerEpoch: nb, StartEpoch: pos.Epoch, StartBatch: pos.Batch, Notes: notes})
	lrSched, blur, drop := lrSchedule(cfg), blurSchedule(cfg), newDropSchedule(cfg)
	sum := &Summary{BestTop1: pos.BestTop1, BestMAE: pos.BestMAE}
	for ; pos.Epoch < cfg.Train.Epochs; pos.Epoch, pos.Batch = pos.Epoch+1, 0 {
		epochStart := time.Now().Add(-time.Duration(pos.Seconds * float64(time.Second)))
		sigma0 := blur.SigmaAt(float64(pos.Epoch))
		lr0 := cfg.Train.LR * lrSched.Factor(float64(pos.Epoch))
		it := loader.Epoch(ctx, pos.Epoch)
		for b := 0; ; b++ {
			batch, ok := it.Next()
			if !ok {
				break
			}
			if b < pos.Batch {
				loader.Release(batch)
				continue // replaying a resumed epoch up to where it stopped
			}
			tEp := float64(pos.Epoch) + float64(b)/float64(nb)
			sigma := blur.SigmaAt(tEp)
			if err := m.SetBlur(sigma); err != nil {
				it.Close()
				return nil, err
			}
			if m.Drop != nil {
				m.Drop.Size = drop.sizeAt(pos.Epoch, pos.Step+1)
			}
			lr := cfg.Train.LR * lrSched.Factor(tEp)
			loss, correct, err := t.Step(batch, lr, pos.Step+1)
			if err != nil {
				it.Close()
				var nf *NonFiniteError
				if errors.As(err, &nf) {
					nf.LastGood = lastGood
				}
				return nil, err
			}
			pos.Step++
			pos.Batch = b + 1
			pos.LossSum += loss * float64(batch.N)
			pos.Correct += correct
			pos.AbsErrSum += t.AbsError()
			pos.Seen += batch.N
			// The graph reads the batch's buffers in place; the next step binds its own.
			loader.Release(batch)
			obs.Step(StepInfo{Epoch: pos.Epoch, Batch: b + 1, Batches: nb, Step: pos.Step, Loss: loss, BlurSigma: sigma})
			if o.Hook != nil {
				o.Hook(pos.Step)
			}
			stopSteps := cfg.Train.MaxSteps > 0 && pos.Step >= cfg.Train.MaxSteps
			if ctx.Err() != nil || (stopSteps && pos.Batch < nb) {
				it.Close()
				pos.Seconds = time.Since(epochStart).Seconds()
				sum.Steps = pos.Step
				return stop(sum, pos)
			}
		}
		if err := it.Err(); err != nil {
			it.Close()
			if ctx.Err() != nil {
				pos.Seconds = time.Since(epochStart).Seconds()
				return stop(sum, pos)
			}
			return nil, fmt.Errorf("epoch %d: %w", pos.Epoch+1, err)
		}
		skipped := it.Skipped()
		it.Close()
		// The training convolutions' im2col matrices do not share memory with the
		// evaluation: a collection now lets it reuse theirs (without it the
		// evaluation grew the heap before the next one).
		kernels.ReleaseScratch(m.G)
		runtime.GC()
		if so, ok := obs.(SkipObserver); ok && len(skipped) > 0 {
			so.Skipped(pos.Epoch+1, skipped)
		}
		trainSeconds := time.Since(epochStart).Seconds()
		obs.Evaluating()
		res, err := validate(ctx)
		// Nor do the evaluation's convolution scratch matrices with the next epoch's.
		kernels.ReleaseScratch(t.eval.Model.G)
		runtime.GC()
		if err != nil {
			if ctx.Err() != nil {
				// The epoch's training is complete; keep it, and evaluate on resume.
				pos.Batch = nb
				pos.Seconds = trainSeconds
				return stop(sum, pos)
			}
			return nil, fmt.Errorf("evaluate epoch %d: %w", pos.Epoch+1, err)
		}
		rec := metrics.Record{
			Epoch: pos.Epoch + 1, Step: pos.Step,
			TrainLoss: pos.LossSum / float64(max(pos.Seen, 1)), TrainAcc: float64(pos.Correct) / float64(max(pos.Seen, 1)),
			ValLoss: res.loss, ValTop1: res.top1, ValTop5: res.top5,
			Seconds: trainSeconds, ImagesPerS: float64(pos.Seen) / math.Max(trainSeconds, 1e-9),
			BlurSigma: sigma0,
			LR:        map[string]float64{graph.PartTask: lr0},
			Time:      time.Now().UTC().Format(time.RFC3339),
			Skipped:   len(skipped),
		}
		if res.reg != nil {
			rec.TrainAcc, rec.ValTop1, rec.ValTop5 = math.NaN(), math.NaN(), math.NaN()
			rec.Regression = &metrics.RegressionErrors{
				TrainMAE: pos.AbsErrSum / float64(max(pos.Seen*t.model.Spec.Targets, 1)),
				ValMAE:   res.reg.MAE, ValRMSE: res.reg.RMSE,
			}
		}
		mults := PartMultipliers(cfg)
		rec.LR[graph.PartTask] = lr0 * mults[graph.PartTask]
		if m.Spec.Sampler == graph.SamplerSaliency {
			rec.LR[graph.PartSaliency] = lr0 * mults[graph.PartSaliency]
			rec.LR[graph.PartSaliencyHead] = lr0 * mults[graph.PartSaliencyHead]
		}
		if err := metrics.Append(metricsPath, rec); err != nil {
			return nil, err
		}
		history = append(history, rec)
		improved := !pos.HasBest || res.top1 > pos.BestTop1
		if res.reg != nil {
			improved = !pos.HasBest || res.reg.MAE < pos.BestMAE
		}
		if improved {
			pos.BestTop1, pos.HasBest = res.top1, true
			if res.reg != nil {
				pos.BestMAE = res.reg.MAE
			}
		}
		// The checkpoint names the next epoch's start.
		done := pos
		done.Epoch, done.Batch, done.LossSum, done.Correct, done.Seen, done.Seconds = pos.Epoch+1, 0, 0, 0, 0, 0
		done.AbsErrSum = 0
		if improved {
			if err := save(bestPath, done); err != nil {
				return nil, err
			}
		}
		if err := save(lastPath, done); err != nil {
			return nil, err
		}
		lastGood = lastPath
		pos.LossSum, pos.Correct, pos.Seen, pos.Seconds, pos.AbsErrSum = 0, 0, 0, 0, 0
		sum.Epochs = pos.Epoch + 1
		sum.Steps = pos.Step
		sum.BestTop1, sum.BestMAE = pos.BestTop1, pos.BestMAE
		r := rec
		sum.Last = &r
		obs.Epoch(rec)
		if cfg.Train.MaxSteps > 0 && pos.Step >= cfg.Train.MaxSteps {
			break
		}
		if ctx.Err() != nil {
			return sum, interrupted(done)
		}
	}
	return sum, nil
}

// checkpoint captures the trainer's full state at pos.
func (t *Trainer) checkpoint(cfgYAML []byte, classes []string, pos position, history []metrics.Record) (*checkpoint.Checkpoint, error) {
	ws, err := infer.WeightsOf(t.model)
	if err != nil {
		return nil, err
	}
	step, mom, vel := t.opt.State()
	var opt []checkpoint.Tensor
	for i, p := range t.model.Params {
		opt = append(opt, checkpoint.Tensor{Name: p.Name + "/m", Shape: []int{len(mom[i])}, Data: append([]float32(nil), mom[i]...)})
		if vel != nil {
			opt = append(opt, checkpoint.Tensor{Name: p.Name + "/v", Shape: []int{len(vel[i])}, Data: append([]float32(nil), vel[i]...)})
		}
	}
	pos.OptStepSeen = step
	pj, err := json.Marshal(pos)
	if err != nil {
		return nil, err
	}
	bn, err := infer.BatchNormJSON(t.model)
	if err != nil {
		return nil, err
	}
	hist, err := historyJSON(history)
	if err != nil {
		return nil, err
	}
	c := &checkpoint.Checkpoint{
		Version:    checkpoint.FormatVersion,
		ConfigYAML: cfgYAML,
		Classes:    classes,
		Epoch:      pos.Epoch,
		Step:       pos.Step,
		Weights:    ws,
		Optimizer:  opt,
		Extra: map[string]string{
			extraPosition:        string(pj),
			infer.ExtraBatchNorm: bn,
			extraBest:            strconv.FormatFloat(pos.BestTop1, 'g', -1, 64),
			extraHistory:         hist,
		},
	}
	if t.std != nil {
		if c.Extra[infer.ExtraStandardiser], err = infer.StandardiserJSON(*t.std); err != nil {
			return nil, err
		}
		c.Extra[extraBest] = strconv.FormatFloat(pos.BestMAE, 'g', -1, 64)
	}
	return c, nil
}

// restore loads a checkpoint into the trainer and returns where to continue.
func (t *Trainer) restore(c *checkpoint.Checkpoint, classes []string) (position, error) {
	var pos position
	if len(c.Classes) != len(classes) {
		return pos, fmt.Errorf("checkpoint has %d classes, the data %d", len(c.Classes), len(classes))
	}
	for i := range classes {
		if c.Classes[i] != classes[i] {
			return pos, fmt.Errorf("checkpoint class %d is %q, the data's is %q", i, c.Classes[i], classes[i])
		}
	}
	if err := infer.LoadModelState(t.model, c); err != nil {
		return pos, err
	}
	if err := json.Unmarshal([]byte(c.Extra[extraPosition]), &pos); err != nil {
		return pos, fmt.Errorf("checkpoint position: %w", err)
	}
	byName := map[string][]float32{}
	for _, ts := range c.Optimizer {
		byName[ts.Name] = ts.Data
	}
	mom := make([][]float32, len(t.model.Params))
	var vel [][]float32
	_, _, curV := t.opt.State()
	if curV != nil {
		vel = make([][]float32, len(t.model.Params))
	}
	for i, p := range t.model.Params {
		var ok bool
		if mom[i], ok = byName[p.Name+"/m"]; !ok {
			return pos, fmt.Errorf("checkpoint has no optimizer state for %s", p.Name)
		}
		if vel != nil {
			if vel[i], ok = byName[p.Name+"/v"]; !ok {
				return pos, fmt.Errorf("checkpoint has no Adam state for %s (saved with another optimizer?)", p.Name)
			}
		}
	}
	if err := t.opt.SetState(pos.OptStepSeen, mom, vel); err != nil {
		return pos, err
	}
	return pos, nil
}
