package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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

// dataNeedleOptions are the flags of `zoomtrain data needle`.
type dataNeedleOptions struct {
	Out    string
	Needle data.NeedleOptions
	Force  bool
	JSON   bool
	// ProgressMin is the job size from which progress is shown on stderr.
	ProgressMin int
}

func newDataNeedleCmd(s streams) *cobra.Command {
	opts := dataNeedleOptions{Needle: data.DefaultNeedleOptions(), ProgressMin: 2000}
	digit := digitRange{min: &opts.Needle.DigitMin, max: &opts.Needle.DigitMax}
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Out == "" {
				return usageErrorf("--out is required")
			}
			if err := opts.Needle.Validate(); err != nil {
				return usageError{err}
			}
			ctx, signalled, stop := interruptContext(cmd.Context(), nil, nil)
			defer stop()
			err := runDataNeedle(ctx, opts, s)
			if sig := signalled(); sig != nil && err != nil {
				return exitCodeError{fmt.Errorf("interrupted by %v; nothing was written", sig), exitStatus(sig)}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output folder (must not exist or be empty, unless --force)")
	f.IntVar(&opts.Needle.Canvas, "canvas", opts.Needle.Canvas, fmt.Sprintf("canvas side in pixels, up to %d", data.MaxNeedleCanvas))
	f.Var(&digit, "digit", "digit size range MIN,MAX in pixels (or one size)")
	f.IntVar(&opts.Needle.Clutter, "clutter", opts.Needle.Clutter, "clutter fragments per canvas")
	f.IntVar(&opts.Needle.Train, "train", opts.Needle.Train, "number of training canvases")
	f.IntVar(&opts.Needle.Val, "val", opts.Needle.Val, "number of validation canvases")
	f.Float64Var(&opts.Needle.Noise, "noise", opts.Needle.Noise, "brightest background noise value, in [0, 1]")
	f.Int64Var(&opts.Needle.Seed, "seed", opts.Needle.Seed, "random seed")
	f.BoolVar(&opts.Force, "force", false, "replace train/, val/ and needle.json in a non-empty output folder")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

// digitRange is the --digit flag: "MIN,MAX", "MIN-MAX" or a single size.
type digitRange struct {
	min, max *int
	single   bool // the value was one number (MAX may follow as an argument)
}

func (d *digitRange) String() string {
	if d.min == nil {
		return ""
	}
	return fmt.Sprintf("%d,%d", *d.min, *d.max)
}

func (d *digitRange) Type() string { return "MIN,MAX" }

func (d *digitRange) Set(v string) error {
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '-' || r == ':' })
	if len(parts) == 0 || len(parts) > 2 {
		return fmt.Errorf("want MIN,MAX or one size, got %q", v)
	}
	var n [2]int
	for k, p := range parts {
		x, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("want MIN,MAX or one size, got %q", v)
		}
		n[k] = x
	}
	d.single = len(parts) == 1
	if d.single {
		n[1] = n[0]
	}
	*d.min, *d.max = n[0], n[1]
	return nil
}

// runDataNeedle writes the needle set with a progress bar on stderr for big jobs, then
// a summary on stdout.
func runDataNeedle(ctx context.Context, opts dataNeedleOptions, s streams) error {
	out := filepath.Clean(opts.Out)
	total := opts.Needle.Train + opts.Needle.Val
	step := func() {}
	start := time.Now()
	if total >= opts.ProgressMin {
		if isTerminal(s.Err) {
			bar := progressbar.NewOptions(total,
				progressbar.OptionSetWriter(s.Err), progressbar.OptionSetDescription("needle"),
				progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(s.Err) }))
			step = func() { bar.Add(1) }
		} else {
			// Not a terminal (a log file, a pipe): a line per quarter, no bar frames.
			fmt.Fprintf(s.Err, "needle: writing %d canvases to %s\n", total, out)
			var done atomic.Int64
			step = func() {
				n := done.Add(1)
				if q := 4 * n / int64(total); q > 4*(n-1)/int64(total) {
					fmt.Fprintf(s.Err, "needle: %d/%d canvases (%.0fs)\n", n, total, time.Since(start).Seconds())
				}
			}
		}
	}
	err := data.WriteFolder(ctx, out, opts.Needle, data.WriteOptions{Force: opts.Force, Progress: step})
	if err != nil {
		return err
	}
	summary := struct {
		Out    string `json:"out"`
		Train  int    `json:"train"`
		Val    int    `json:"val"`
		Canvas int    `json:"canvas"`
		Seed   int64  `json:"seed"`
	}{out, opts.Needle.Train, opts.Needle.Val, opts.Needle.Canvas, opts.Needle.Seed}
	if opts.JSON {
		enc := json.NewEncoder(s.Out)
		return enc.Encode(summary)
	}
	_, err = fmt.Fprintf(s.Out, "wrote %d training and %d validation canvases of %dx%d to %s\n",
		summary.Train, summary.Val, summary.Canvas, summary.Canvas, out)
	return err
}
