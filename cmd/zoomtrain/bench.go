package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"

	"github.com/spf13/cobra"

	"zoomtrain/internal/bench"
	"zoomtrain/internal/blas"
	"zoomtrain/internal/config"
	"zoomtrain/internal/graph"
)

type benchOptions struct {
	ConfigPath string
	Steps      int
	Warmup     int
	JSON       bool
	Variants   []string
	Resolution int
	Batch      int
	InProcess  bool
	Parts      bool
	CPUProfile string
	set        func(string) bool
}

func newBenchCmd(s streams) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench [--config FILE] [--steps N] [--json]",
		Short: "Time full training steps of the saliency model and the uniform baseline",
		Long: `Time full training steps (forward, backward, Adam) on a synthetic batch, after
warm-up. With no --config, the reference setting: the small reference networks,
batch 32, 256 x 256 sources, 64 x 64 saliency and task inputs, a 31 x 31 grid.

Each variant runs in a process of its own so that its peak resident memory is its own.
Reports the median and spread of ms per step, images per second, achieved GFLOP/s
(counting the convolutions and the classifier), allocations per step and peak RSS;
then the forward and backward passes of each part of the model (saliency network,
grid generator with upsample, grid sampler, task network with loss) timed alone.

The batch is decoded sources in memory whose downsamples (the saliency network's
low-resolution copy, the uniform model's task input) were made ahead, as the data
loader's workers make them: they are not part of the timed step.`,
		Example: `  zoomtrain bench
  zoomtrain bench --steps 50 --json
  zoomtrain bench --resolution 1024 --variant saliency`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.set = cmd.Flags().Changed
			return runBench(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "config file whose model and batch to time (default: the reference setting)")
	f.IntVar(&o.Steps, "steps", 20, "timed steps per variant")
	f.IntVar(&o.Warmup, "warmup", 5, "untimed warm-up steps")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object keyed by variant")
	f.StringSliceVar(&o.Variants, "variant", []string{"saliency", "uniform"}, "variants to time")
	f.IntVar(&o.Resolution, "resolution", 0, "source resolution (default 256, or the config's)")
	f.IntVar(&o.Batch, "batch-size", 0, "batch size (default 32, or the config's)")
	f.BoolVar(&o.InProcess, "in-process", false, "run every variant in this process (peak RSS then accumulates)")
	f.BoolVar(&o.Parts, "parts", true, "also time each part of the model alone")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed steps (implies --in-process)")
	return cmd
}

func (o *benchOptions) config(variant string) (config.Config, error) {
	c := bench.Reference(variant)
	if o.ConfigPath != "" {
		var err error
		if c, err = config.Load(o.ConfigPath, nil, map[string]any{"model.sampler": variant}); err != nil {
			return c, err
		}
		if c.IsAuto() {
			// bench reads no images: an image folder's "auto" becomes the reference size.
			c.Data.Resolution = bench.Reference(variant).Data.Resolution
		}
	}
	if o.set("resolution") {
		c.Data.Resolution = o.Resolution
	}
	if o.set("batch-size") {
		c.Train.BatchSize = o.Batch
	}
	if c.Data.Resolution < c.Model.TaskInput || c.Train.BatchSize < 1 {
		return c, fmt.Errorf("resolution %d below the task input %d, or batch %d not positive", c.Data.Resolution, c.Model.TaskInput, c.Train.BatchSize)
	}
	return c, nil
}

func runBench(ctx context.Context, o *benchOptions, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Steps < 1 || o.Warmup < 0 {
		return usageErrorf("--steps must be positive and --warmup non-negative")
	}
	for _, v := range o.Variants {
		if v != config.SamplerSaliency && v != config.SamplerUniform {
			return usageErrorf("unknown variant %q (want saliency or uniform)", v)
		}
	}
	for _, v := range o.Variants {
		c, err := o.config(v)
		if err != nil {
			return err
		}
		// bench never evaluates: an evaluation batch (100 by default) must not count.
		c.Train.EvalBatchSize = c.Train.BatchSize
		if err := checkTrainingMemory(c, 10, 0, c.Train.BatchSize); err != nil {
			return fmt.Errorf("bench %s: %w", v, err)
		}
	}
	results := map[string]*bench.Result{}
	for _, v := range o.Variants {
		var r *bench.Result
		var err error
		if o.InProcess || o.CPUProfile != "" || len(o.Variants) == 1 {
			r, err = o.inProcess(ctx, v)
		} else {
			r, err = o.child(ctx, v)
		}
		if err != nil {
			return fmt.Errorf("bench %s: %w", v, err)
		}
		results[v] = r
		if !o.JSON {
			fmt.Fprintf(s.Err, "%s done\n", v)
		}
	}
	if o.JSON {
		return json.NewEncoder(s.Out).Encode(results)
	}
	fmt.Fprintf(s.Out, "%-9s %6s %5s %9s %9s %9s %8s %8s %9s %9s %8s %8s\n",
		"variant", "batch", "src", "ms/step", "min", "p90", "img/s", "GFLOP/s", "allocs", "MB alloc", "peak MB", "other%")
	for _, v := range o.Variants {
		r := results[v]
		fmt.Fprintf(s.Out, "%-9s %6d %5d %9.1f %9.1f %9.1f %8.0f %8.1f %9.0f %9.1f %8.0f %8.0f\n",
			v, r.Batch, r.Resolution, r.MsPerStep, r.MsMin, r.MsP90, r.ImagesPerS, r.GFLOPPerS, r.AllocsPerStep, r.AllocMBPerSt, r.PeakRSSMB, r.ForeignCPUPct)
	}
	fmt.Fprintln(s.Out, "(other% = CPU other processes used during the timed steps, % of one core; above ~10 the timing is contaminated)")
	for _, v := range o.Variants {
		r := results[v]
		if len(r.Parts) == 0 {
			continue
		}
		fmt.Fprintf(s.Out, "%-9s parts, forward + backward, median ms:", v)
		// The saliency model has every part, in pipeline order.
		for _, name := range (graph.Spec{Sampler: graph.SamplerSaliency}).PartNames() {
			if p, ok := r.Parts[name]; ok {
				fmt.Fprintf(s.Out, "  %s %.1f", name, p.MsPerStep)
			}
		}
		fmt.Fprintln(s.Out)
	}
	for _, v := range o.Variants {
		fmt.Fprintf(s.Out, "BLAS: %s, GOMAXPROCS %d, %d timed steps after %d warm-up; %s\n",
			results[v].BLAS, results[v].GOMAXPROCS, o.Steps, o.Warmup, results[v].Inputs)
		printEngine(s.Out, results[v].Engine)
		break
	}
	return nil
}

func (o *benchOptions) inProcess(ctx context.Context, variant string) (*bench.Result, error) {
	c, err := o.config(variant)
	if err != nil {
		return nil, err
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	return bench.Run(ctx, bench.Options{Config: c, Steps: o.Steps, Warmup: o.Warmup, Parts: o.Parts})
}

// child runs one variant in a fresh process of this executable.
func (o *benchOptions) child(ctx context.Context, variant string) (*bench.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "--json", "--variant", variant, "--steps", strconv.Itoa(o.Steps), "--warmup", strconv.Itoa(o.Warmup),
		"--parts=" + strconv.FormatBool(o.Parts)}
	if o.ConfigPath != "" {
		args = append(args, "--config", o.ConfigPath)
	}
	if o.set("resolution") {
		args = append(args, "--resolution", strconv.Itoa(o.Resolution))
	}
	if o.set("batch-size") {
		args = append(args, "--batch-size", strconv.Itoa(o.Batch))
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, bytes.TrimSpace(errb.Bytes()))
	}
	var m map[string]*bench.Result
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m[variant] == nil {
		return nil, fmt.Errorf("child process printed no result: %q", out.String())
	}
	return m[variant], nil
}

// printEngine prints how the GEMM engine was chosen: kernel, CPU features,
// OpenBLAS's core, the calibration and any slow-path warning.
func printEngine(w io.Writer, e *blas.EngineInfo) {
	if e == nil {
		return
	}
	fmt.Fprintf(w, "GEMM engine: %s, kernel %s; CPU: %s\n", e.Engine, e.Kernel, e.CPU)
	if e.Library != "" {
		fmt.Fprintf(w, "  OpenBLAS: %s, %s %s\n", e.Library, "OPENBLAS_CORETYPE", cmp.Or(e.CoreType, "unset"))
	}
	for _, c := range e.Calibration {
		fmt.Fprintf(w, "  calibration: %s %.1f GFLOP/s\n", c.Engine, c.GFLOPS)
	}
	for _, n := range e.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if e.Warning != "" {
		fmt.Fprintf(w, "WARNING: %s\n", e.Warning)
	}
}
