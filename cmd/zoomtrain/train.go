package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/metrics"
	"zoomtrain/internal/termsafe"
	"zoomtrain/internal/train"
)

type trainOptions struct {
	ConfigPath  string
	Data        string
	Epochs      int
	Sampler     string
	Out         string
	Name        string
	Seed        int64
	BatchSize   int
	Resume      string
	Init        string
	Force       bool
	PrintConfig bool
	NoPlot      bool
	MemProfile  string
	set         func(name string) bool // whether a flag was given
}

func newTrainCmd(s streams) *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train [--config FILE]",
		Short: "Train the saliency sampler and the task network jointly",
		Long: `Train a model. With no --config, trains the default: the saliency sampler on the
built-in needle data (MNIST digits on 128 x 128 cluttered canvases, task input 32 x 32).

Each run gets its own directory under --out: config.yaml (the resolved config),
metrics.jsonl (one line per epoch), last.ckpt and best.ckpt, and curves.png.
Ctrl-C finishes the current step, writes a checkpoint and prints how to resume.

Settings come from, highest first: flags, ZOOMTRAIN_* environment variables
(ZOOMTRAIN_TRAIN_EPOCHS=3), the config file, the defaults.`,
		Example: `  zoomtrain train
  zoomtrain train --config configs/needle-uniform.yaml --seed 1
  zoomtrain train --data ~/images --epochs 30 --out runs
  zoomtrain train --resume runs/needle-saliency-s0
  zoomtrain train --config configs/official.yaml --data ~/photos --init official.ckpt
  zoomtrain train --config configs/tiny.yaml --print-config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.set = func(name string) bool { return cmd.Flags().Changed(name) }
			return runTrain(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "YAML config file (only what differs from the defaults)")
	f.StringVar(&o.Data, "data", "", "image folder ROOT/train/<class>, ROOT/val/<class> (or ROOT/<class>) instead of the needle data")
	f.IntVar(&o.Epochs, "epochs", 0, "epochs to train (with --resume: the new total)")
	f.StringVar(&o.Sampler, "sampler", "", "saliency or uniform")
	_ = cmd.RegisterFlagCompletionFunc("sampler", cobra.FixedCompletions([]string{config.SamplerSaliency, config.SamplerUniform}, cobra.ShellCompDirectiveNoFileComp))
	f.StringVar(&o.Out, "out", "", "parent folder of run directories (default runs; with --resume FILE, of the new one)")
	f.StringVar(&o.Name, "name", "", "run directory name (default derived from the data, sampler and seed)")
	f.Int64Var(&o.Seed, "seed", 0, "random seed (initialisation, order, augmentation)")
	f.IntVar(&o.BatchSize, "batch-size", 0, "training batch size")
	f.StringVar(&o.Resume, "resume", "", "continue the run in this directory, or from this checkpoint file in a new run directory")
	f.StringVar(&o.Init, "init", "", "fine-tune this checkpoint (an imported model or another run): its weights and model settings, a new run")
	f.BoolVar(&o.Force, "force", false, "reuse an existing run directory, replacing its checkpoints and metrics")
	f.BoolVar(&o.PrintConfig, "print-config", false, "print the resolved config as YAML and exit")
	f.BoolVar(&o.NoPlot, "no-plot", false, "do not draw curves.png at the end")
	f.StringVar(&o.MemProfile, "memprofile", "", "write heap profiles of the first epoch: FILE after its steps, FILE.eval after its evaluation")
	return cmd
}

// overrides maps the flags that were given onto config keys.
func (o *trainOptions) overrides() map[string]any {
	ov := map[string]any{}
	if o.set("data") {
		ov["data.source"] = config.SourceFolder
		ov["data.path"] = o.Data
	}
	if o.set("epochs") {
		ov["train.epochs"] = o.Epochs
	}
	if o.set("sampler") {
		ov["model.sampler"] = o.Sampler
	}
	if o.set("out") {
		ov["out"] = o.Out
	}
	if o.set("name") {
		ov["name"] = o.Name
	}
	if o.set("seed") {
		ov["seed"] = o.Seed
	}
	if o.set("batch-size") {
		ov["train.batch_size"] = o.BatchSize
	}
	return ov
}

func runTrain(parent context.Context, o *trainOptions, s streams) (err error) {
	var (
		cfg    config.Config
		resume *checkpoint.Checkpoint
		start  *checkpoint.Checkpoint
		dir    *train.RunDir
		inRun  string // the run directory a resume continues in place; "" for a new one
	)
	// A failed start removes the run directory it made (a run directory appears with
	// its first checkpoint); in every case the directory's lock is released.
	defer func() {
		if dir == nil {
			return
		}
		if err != nil {
			if derr := dir.Discard(); derr != nil {
				fmt.Fprintf(s.Err, "warning: run directory %s not cleaned up: %v\n", dir.Path(), derr)
			}
			return
		}
		dir.Close()
	}()
	if o.Resume != "" {
		for _, fl := range []string{"config", "sampler", "seed", "batch-size", "force", "init"} {
			if o.set(fl) {
				return usageErrorf("--%s cannot be combined with --resume: a resumed run keeps its config (only --epochs and --data may change)", fl)
			}
		}
		var ckptPath string
		ckptPath, inRun = resumeTarget(o.Resume)
		if inRun != "" && (o.set("out") || o.set("name")) {
			return usageErrorf("--out and --name name a new run directory: resuming %s continues it in place (give a checkpoint file to resume into a new one)", inRun)
		}
		if resume, err = checkpoint.Load(ckptPath); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if cfg, err = config.Parse(resume.ConfigYAML); err != nil {
			return fmt.Errorf("resume: checkpoint config: %w", err)
		}
		ckptYAML, err := cfg.YAML()
		if err != nil {
			return err
		}
		if o.set("epochs") {
			cfg.Train.Epochs = o.Epochs
		}
		if inRun == "" {
			// A checkpoint file outside its run continues in a new run directory,
			// so that no file next to it is overwritten.
			cfg.Name = ""
			if o.set("name") {
				cfg.Name = o.Name
			}
			if o.set("out") {
				cfg.Out = o.Out
			}
		}
		if o.set("data") {
			if err := movedData(&cfg, o.Data); err != nil {
				return err
			}
		}
		ignoredEnvNote(s.Err, os.Environ())
		if err := cfg.Validate(); err != nil {
			return err
		}
		if o.PrintConfig {
			return printConfig(cfg, s)
		}
		prog, err := train.CheckpointProgress(resume)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if prog.Done(cfg) {
			fmt.Fprintf(s.Err, "nothing to do: %s is at the end of epoch %d (step %d) and the run trains %d epochs; nothing was changed (pass --epochs above %d to train on)\n",
				ckptPath, prog.Epoch, prog.Step, cfg.Train.Epochs, prog.Epoch)
			return nil
		}
		if inRun != "" {
			if dir, err = train.OpenRunDir(inRun); err != nil {
				return err
			}
			note, err := train.SetAsideEditedConfig(dir, ckptYAML)
			if err != nil {
				return err
			}
			notes, err := train.ReconcileMetrics(dir, resume)
			if err != nil {
				return err
			}
			for _, n := range append([]string{note}, notes...) {
				if n != "" {
					fmt.Fprintf(s.Err, "warning: %s\n", n)
				}
			}
		}
	} else {
		if cfg, err = config.Load(o.ConfigPath, os.Environ(), o.overrides()); err != nil {
			return err
		}
		if err := cfg.AbsDataPath(); err != nil {
			return err
		}
		if o.Init != "" {
			if o.set("sampler") {
				return usageErrorf("--sampler cannot be combined with --init: the model settings are the checkpoint's")
			}
			if start, err = checkpoint.Load(o.Init); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if cfg, err = train.InitConfig(cfg, start); err != nil {
				return fmt.Errorf("init %s: %w", o.Init, err)
			}
		}
	}
	if o.PrintConfig {
		return printConfig(cfg, s)
	}
	resNote, err := infer.ResolveResolution(&cfg)
	if err != nil {
		return err
	}
	// Open the data first: a bad data folder must not leave an empty run directory.
	trainSet, valSet, err := infer.OpenData(cfg)
	if err != nil {
		return err
	}
	if err := checkTrainingMemory(cfg, len(trainSet.Classes()), len(data.TargetNames(trainSet)), trainSet.Len()+valSet.Len()); err != nil {
		return err
	}
	if resume == nil {
		// A pretrained file that does not fit must not leave a run directory either.
		if err := train.CheckPretrained(cfg, len(trainSet.Classes()), len(data.TargetNames(trainSet))); err != nil {
			return err
		}
	}
	if dir == nil {
		if dir, err = train.CreateRunDir(cfg, o.Force); err != nil {
			return err
		}
		if resume != nil {
			// The new run's history starts with the epochs the checkpoint carries.
			if _, err := train.ReconcileMetrics(dir, resume); err != nil {
				return err
			}
			if _, err := train.SeedBest(dir, resume, o.Resume); err != nil {
				return err
			}
			fmt.Fprintf(s.Err, "resuming %s in the new run directory %s\n", o.Resume, dir.Path())
		}
	}
	y, err := cfg.YAML()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(dir.File(train.ConfigFile), y); err != nil {
		return err
	}
	// A log piped into a reader that exits must not end the run.
	defer survivePipeClose()()
	// The first signal stops the run after the step with a checkpoint; a second exits
	// at once, leaving the last complete checkpoint in place.
	ctx, sig, stop := interruptContext(parent, func(first os.Signal) {
		fmt.Fprintf(s.Err, "\n%v: finishing the current step and writing a checkpoint (again to quit at once)\n", first)
	}, func(second os.Signal) {
		fmt.Fprintf(s.Err, "%v again: exiting now; the last complete checkpoint in %s is intact (resume with: zoomtrain train --resume %s)\n", second, dir.Path(), dir.Path())
	})
	defer stop()
	defer setTrainingGC(os.Environ())()
	obs := newTrainObserver(s.Err, trainSet, valSet, cfg)
	obs.resNote = resNote
	if o.MemProfile != "" {
		obs.mem = &memProfiler{path: o.MemProfile, warnings: func(err error) { fmt.Fprintf(s.Err, "warning: %v\n", err) }}
	}
	sum, err := train.Run(ctx, train.Options{Config: cfg, Dir: dir, Train: trainSet, Val: valSet, Resume: resume, Init: start, Observer: obs})
	obs.finish()
	if n := data.Skipped(trainSet) + data.Skipped(valSet); n > 0 {
		fmt.Fprintf(s.Err, "skipped %d unreadable image(s) (data.on_error: skip)\n", n)
	}
	if _, serr := os.Stat(dir.File(train.MetricsFile)); !o.NoPlot && serr == nil {
		if perr := plotRun(dir.Path()); perr != nil {
			fmt.Fprintf(s.Err, "warning: curves not drawn: %v\n", perr)
		}
	}
	if errors.Is(err, train.ErrInterrupted) {
		// One line says where the checkpoint is and how to go on.
		return exitCodeError{err: fmt.Errorf("%w; resume with: zoomtrain train --resume %s", err, dir.Path()), code: exitStatus(sig())}
	}
	if err != nil {
		return err
	}
	if data.TargetNames(trainSet) != nil {
		fmt.Fprintf(s.Out, "run %s: %d epochs, %d steps, best val MAE %.4f\n", dir.Path(), sum.Epochs, sum.Steps, sum.BestMAE)
		return nil
	}
	fmt.Fprintf(s.Out, "run %s: %d epochs, %d steps, best val top-1 %.2f%%\n", dir.Path(), sum.Epochs, sum.Steps, 100*sum.BestTop1)
	printNextSteps(s.Err, dir.Path())
	return nil
}

func printConfig(cfg config.Config, s streams) error {
	y, err := cfg.YAML()
	if err != nil {
		return err
	}
	_, err = s.Out.Write(y)
	return err
}

// resumeTarget resolves --resume: a run directory, or its last.ckpt, continues that run
// in place (ckpt is its last.ckpt, inRun the directory); any other checkpoint file
// (best.ckpt, a copy elsewhere) is resumed into a new run directory (inRun "").
func resumeTarget(arg string) (ckpt, inRun string) {
	if st, err := os.Stat(arg); err == nil && st.IsDir() {
		return filepath.Join(arg, train.LastCheckpoint), arg
	}
	d := filepath.Dir(arg)
	if filepath.Base(arg) == train.LastCheckpoint {
		if st, err := os.Stat(filepath.Join(d, train.ConfigFile)); err == nil && st.Mode().IsRegular() {
			return arg, d
		}
	}
	return arg, ""
}

// trainObserver draws a progress bar when stderr is a terminal and prints one line
// per epoch.
type trainObserver struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	info  train.RunInfo
	start time.Time
	cfg   config.Config
	ntr   int
	nval  int
	// resNote says how an "auto" data.resolution was resolved (in the first line).
	resNote string
	mem     *memProfiler // --memprofile, or nil
}

func newTrainObserver(w io.Writer, tr, val data.Dataset, cfg config.Config) *trainObserver {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return &trainObserver{w: w, tty: tty, cfg: cfg, ntr: tr.Len(), nval: val.Len()}
}

func (t *trainObserver) Start(i train.RunInfo) {
	t.info = i
	t.start = time.Now()
	c := t.cfg
	res := fmt.Sprintf("%d px", c.Data.Resolution)
	if t.resNote != "" {
		res += " (" + t.resNote + ")"
	}
	fmt.Fprintf(t.w, "run %s: %s sampler, %s task net, %d parameters; %d train / %d val images at %s, task input %d, %d batches of %d per epoch\n",
		i.Dir, c.Model.Sampler, c.Model.TaskNet, i.Params, t.ntr, t.nval, res, c.Model.TaskInput, i.BatchesPerEpoch, c.Train.BatchSize)
	for _, n := range i.Notes {
		fmt.Fprintln(t.w, n)
	}
	if i.StartEpoch > 0 || i.StartBatch > 0 {
		fmt.Fprintf(t.w, "resuming at epoch %d, batch %d\n", i.StartEpoch+1, i.StartBatch)
	}
}

func (t *trainObserver) Step(si train.StepInfo) {
	if !t.tty {
		if le := t.cfg.Train.LogEvery; le > 0 && si.Step%le == 0 {
			fmt.Fprintf(t.w, "epoch %d batch %d/%d step %d loss %.4f\n", si.Epoch+1, si.Batch, si.Batches, si.Step, si.Loss)
		}
		return
	}
	if t.bar == nil {
		t.bar = progressbar.NewOptions(si.Batches,
			progressbar.OptionSetWriter(t.w),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", si.Epoch+1, t.cfg.Train.Epochs)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("batch"),
			progressbar.OptionClearOnFinish(),
		)
		_ = t.bar.Set(si.Batch - 1)
	}
	t.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f", si.Epoch+1, t.cfg.Train.Epochs, si.Loss))
	_ = t.bar.Set(si.Batch)
}

func (t *trainObserver) Evaluating() {
	t.mem.at(0)
	if t.bar != nil {
		t.bar.Describe("evaluating")
	}
}

func (t *trainObserver) Epoch(r metrics.Record) {
	t.finish()
	t.mem.at(1)
	lrs := make([]string, 0, 2)
	for _, k := range []string{"task", "saliency"} {
		if v, ok := r.LR[k]; ok {
			lrs = append(lrs, fmt.Sprintf("%s %.2g", k, v))
		}
	}
	if e := r.Regression; e != nil {
		fmt.Fprintf(t.w, "epoch %3d/%d  train loss %.4f MAE %.4f  val loss %.4f MAE %.4f RMSE %.4f  blur %.2f  lr %s  %.0fs (%.0f img/s)\n",
			r.Epoch, t.cfg.Train.Epochs, r.TrainLoss, e.TrainMAE, r.ValLoss, e.ValMAE, e.ValRMSE,
			r.BlurSigma, strings.Join(lrs, ", "), r.Seconds, r.ImagesPerS)
		return
	}
	fmt.Fprintf(t.w, "epoch %3d/%d  train loss %.4f acc %5.1f%%  val loss %.4f top-1 %5.1f%% top-5 %5.1f%%  blur %.2f  lr %s  %.0fs (%.0f img/s)\n",
		r.Epoch, t.cfg.Train.Epochs, r.TrainLoss, 100*r.TrainAcc, r.ValLoss, 100*r.ValTop1, 100*r.ValTop5,
		r.BlurSigma, strings.Join(lrs, ", "), r.Seconds, r.ImagesPerS)
}

// Skipped names the files an epoch skipped as unreadable (data.on_error: skip).
func (t *trainObserver) Skipped(epoch int, files []data.SkippedFile) {
	t.finish()
	names := make([]string, 0, min(len(files), 10))
	for _, f := range files[:min(len(files), 10)] {
		names = append(names, termsafe.Quote(f.Path))
	}
	more := ""
	if len(files) > 10 {
		more = fmt.Sprintf(" and %d more", len(files)-10)
	}
	fmt.Fprintf(t.w, "epoch %d skipped %d unreadable file(s): %s%s\n", epoch, len(files), strings.Join(names, ", "), more)
}

func (t *trainObserver) finish() {
	if t.bar != nil {
		_ = t.bar.Finish()
		t.bar = nil
	}
}
