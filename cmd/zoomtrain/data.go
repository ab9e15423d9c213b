package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"zoomtrain/internal/data"
)

func newDataCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Prepare data sets",
		Long: `Prepare data sets.

zoomtrain trains on image folders (ROOT/train/<class>/*, ROOT/val/<class>/*, or
ROOT/<class>/* with a seeded split) or on the built-in needle set, which needs no
download. 'zoomtrain data needle' writes the needle set out as such a folder;
'zoomtrain data needle-gaze' writes the built-in regression set as a folder with a
targets.csv per split.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDataNeedleCmd(s), newDataGazeCmd(s))
	return cmd
}

// dataSynthOptions are the flags that `data needle` and `data needle-gaze` share.
type dataSynthOptions struct {
	Out   string
	Force bool
	JSON  bool
	// ProgressMin is the job size from which progress is shown on stderr.
	ProgressMin int
}

// synthCommand is what a command writing a built-in synthetic set gives wireSynthCommand.
type synthCommand struct {
	common   *dataSynthOptions
	canvas   *int
	shared   *data.SynthOptions
	manifest string // the folder's manifest file, which --force replaces with the splits
	validate func() error
	run      func(ctx context.Context) error
}

// wireSynthCommand gives cmd the run and the flags the synthetic sets' commands share:
// --out is required, the options are validated as a usage error, an interrupted job
// writes nothing, and --canvas, --clutter, --train, --val, --noise, --seed, --force and
// --json fill the options.
func wireSynthCommand(cmd *cobra.Command, c synthCommand) {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if c.common.Out == "" {
			return usageErrorf("--out is required")
		}
		if err := c.validate(); err != nil {
			return usageError{err}
		}
		ctx, signalled, stop := interruptContext(cmd.Context(), nil, nil)
		defer stop()
		err := c.run(ctx)
		if sig := signalled(); sig != nil && err != nil {
			return exitCodeError{fmt.Errorf("interrupted by %v; nothing was written", sig), exitStatus(sig)}
		}
		return err
	}
	f, o := cmd.Flags(), c.shared
	f.StringVar(&c.common.Out, "out", "", "output folder (must not exist or be empty, unless --force)")
	f.IntVar(c.canvas, "canvas", *c.canvas, fmt.Sprintf("canvas side in pixels, up to %d", data.MaxNeedleCanvas))
	f.IntVar(&o.Clutter, "clutter", o.Clutter, "clutter fragments per canvas")
	f.IntVar(&o.Train, "train", o.Train, "number of training canvases")
	f.IntVar(&o.Val, "val", o.Val, "number of validation canvases")
	f.Float64Var(&o.Noise, "noise", o.Noise, "brightest background noise value, in [0, 1]")
	f.Int64Var(&o.Seed, "seed", o.Seed, "random seed")
	f.BoolVar(&c.common.Force, "force", false, "replace train/, val/ and "+c.manifest+" in a non-empty output folder")
	f.BoolVar(&c.common.JSON, "json", false, "print the summary as JSON")
}

// synthProgress returns the step to call per canvas written: a bar on a terminal, a
// line per quarter elsewhere (a log file, a pipe), nothing for a job under min canvases.
func synthProgress(s streams, name, out string, total, min int) func() {
	if total < min {
		return func() {}
	}
	if isTerminal(s.Err) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(s.Err), progressbar.OptionSetDescription(name),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(s.Err) }))
		return func() { bar.Add(1) }
	}
	// The first line waits for the first canvas, so a job refused before it starts
	// (a non-empty folder, say) prints only its error.
	var begin sync.Once
	start := time.Now()
	var done atomic.Int64
	return func() {
		begin.Do(func() { fmt.Fprintf(s.Err, "%s: writing %d canvases to %s\n", name, total, out) })
		n := done.Add(1)
		if q := 4 * n / int64(total); q > 4*(n-1)/int64(total) {
			fmt.Fprintf(s.Err, "%s: %d/%d canvases (%.0fs)\n", name, n, total, time.Since(start).Seconds())
		}
	}
}

// dataNeedleOptions are the flags of `zoomtrain data needle`.
type dataNeedleOptions struct {
	dataSynthOptions
	Needle data.NeedleOptions
}

func newDataNeedleCmd(s streams) *cobra.Command {
	opts := dataNeedleOptions{dataSynthOptions: dataSynthOptions{ProgressMin: 2000}, Needle: data.DefaultNeedleOptions()}
	digit := rangeFlag[int]{min: &opts.Needle.DigitMin, max: &opts.Needle.DigitMax, seps: "-:", what: "size", parse: strconv.Atoi}
	cmd := &cobra.Command{
		Use:   "needle --out DIR",
		Short: "Write the built-in needle data set as an image folder",
		Long: `Write the built-in needle data set as an image folder.

Each canvas is dim noise, a few clutter fragments cut from other MNIST digits and one
whole MNIST digit, whose class (0-9) is the label. Training canvases use MNIST training
digits, validation canvases MNIST test digits. The images are 8-bit grayscale PNGs in
DIR/train/<class>/ and DIR/val/<class>/; DIR/needle.json records the options and where
each digit was put. The same options and seed give the same files.

DIR must not exist or be empty; --force replaces DIR's train/, val/ and needle.json and
leaves anything else in it alone. The folder appears complete or not at all.`,
		Example: `  zoomtrain data needle --out needle128
  zoomtrain data needle --out needle512 --canvas 512 --digit 24,32 --clutter 8 --seed 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			// Accept the two-word form "--digit MIN MAX" as well as "--digit MIN,MAX".
			if len(args) == 1 && digit.single && cmd.Flags().Changed("digit") {
				v, err := strconv.Atoi(args[0])
				if err != nil {
					return usageErrorf("unexpected argument %q", args[0])
				}
				*digit.max = v
				return nil
			}
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			return nil
		},
	}
	wireSynthCommand(cmd, synthCommand{
		common: &opts.dataSynthOptions, canvas: &opts.Needle.Canvas, shared: &opts.Needle.SynthOptions,
		manifest: data.NeedleManifestFile, validate: func() error { return opts.Needle.Validate() },
		run: func(ctx context.Context) error { return runDataNeedle(ctx, opts, s) },
	})
	cmd.Flags().Var(&digit, "digit", "digit size range MIN,MAX in pixels (or one size)")
	return cmd
}

// rangeFlag is a MIN,MAX flag of the synthetic sets' commands, --digit and --eye: two
// numbers or one for both. seps are the separators it accepts besides ",", what names a
// single value in its error.
type rangeFlag[T int | float64] struct {
	min, max *T
	seps     string
	what     string
	parse    func(string) (T, error)
	single   bool // the value was one number (MAX may follow as an argument)
}

func (r *rangeFlag[T]) String() string {
	if r.min == nil {
		return ""
	}
	return fmt.Sprint(*r.min) + "," + fmt.Sprint(*r.max)
}

func (r *rangeFlag[T]) Type() string { return "MIN,MAX" }

func (r *rangeFlag[T]) Set(v string) error {
	// An empty part ("3,", "24,,30") is a typo, not a single value.
	parts := strings.Split(strings.Map(func(c rune) rune {
		if strings.ContainsRune(r.seps, c) {
			return ','
		}
		return c
	}, v), ",")
	if len(parts) > 2 {
		return fmt.Errorf("want MIN,MAX or one %s, got %q", r.what, v)
	}
	var n [2]T
	for k, p := range parts {
		x, err := r.parse(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("want MIN,MAX or one %s, got %q", r.what, v)
		}
		n[k] = x
	}
	r.single = len(parts) == 1
	if r.single {
		n[1] = n[0]
	}
	*r.min, *r.max = n[0], n[1]
	return nil
}

// synthSummary is what the synthetic sets' commands print when done; the eye radii
// are needle-gaze's alone.
type synthSummary struct {
	Out    string   `json:"out"`
	Train  int      `json:"train"`
	Val    int      `json:"val"`
	Canvas int      `json:"canvas"`
	EyeMin *float64 `json:"eye_min,omitempty"`
	EyeMax *float64 `json:"eye_max,omitempty"`
	Seed   int64    `json:"seed"`
}

// writeSynth writes a synthetic set through write with progress on stderr for big jobs,
// then prints sum on stdout: as JSON with --json, else as a line.
func (c dataSynthOptions) writeSynth(ctx context.Context, s streams, name string, sum synthSummary,
	write func(ctx context.Context, out string, w data.WriteOptions) error,
) error {
	sum.Out = filepath.Clean(c.Out)
	step := synthProgress(s, name, sum.Out, sum.Train+sum.Val, c.ProgressMin)
	if err := write(ctx, sum.Out, data.WriteOptions{Force: c.Force, Progress: step}); err != nil {
		if ne, ok := errors.AsType[*data.NotEmptyError](err); ok {
			return fmt.Errorf("%w (--force replaces its train/, val/ and %s)", err, ne.Manifest)
		}
		return err
	}
	if c.JSON {
		return json.NewEncoder(s.Out).Encode(sum)
	}
	var eye string
	if sum.EyeMin != nil {
		eye = fmt.Sprintf(" (eye radius %g-%g)", *sum.EyeMin, *sum.EyeMax)
	}
	_, err := fmt.Fprintf(s.Out, "wrote %d training and %d validation canvases of %dx%d%s to %s\n",
		sum.Train, sum.Val, sum.Canvas, sum.Canvas, eye, sum.Out)
	return err
}

// runDataNeedle writes the needle set and prints a summary.
func runDataNeedle(ctx context.Context, opts dataNeedleOptions, s streams) error {
	o := opts.Needle
	sum := synthSummary{Train: o.Train, Val: o.Val, Canvas: o.Canvas, Seed: o.Seed}
	return opts.writeSynth(ctx, s, "needle", sum, func(ctx context.Context, out string, w data.WriteOptions) error {
		return data.WriteFolder(ctx, out, o, w)
	})
}
