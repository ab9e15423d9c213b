package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"zoomtrain/internal/data"
)

// dataGazeOptions are the flags of `zoomtrain data needle-gaze`.
type dataGazeOptions struct {
	Out         string
	Gaze        data.GazeOptions
	Force       bool
	JSON        bool
	ProgressMin int // the job size from which progress is shown on stderr
}

func newDataGazeCmd(s streams) *cobra.Command {
	opts := dataGazeOptions{Gaze: data.DefaultGazeOptions(), ProgressMin: 2000}
	eye := eyeRange{min: &opts.Gaze.EyeMin, max: &opts.Gaze.EyeMax}
	cmd := &cobra.Command{
		Use:   "needle-gaze --out DIR",
		Short: "Write the built-in needle-gaze regression set as a folder",
		Long: `Write the built-in needle-gaze regression set as a folder.

Each canvas is dim noise, a few clutter fragments cut from MNIST digits and one small
synthetic eye (a bright disc, a darker iris of half its radius, a dark pupil) whose
gaze, the iris centre's offset from the eye's centre over its largest possible offset,
gives the targets gx and gy in [-1, 1]. The images are 8-bit grayscale PNGs in
DIR/train/images/ and DIR/val/images/, with DIR/train/targets.csv and
DIR/val/targets.csv; DIR/gaze.json records the options and where each eye was put.
The same options and seed give the same files.

DIR must not exist or be empty; --force replaces DIR's train/, val/ and gaze.json and
leaves anything else in it alone. The folder appears complete or not at all.`,
		Example: `  zoomtrain data needle-gaze --out gaze128
  zoomtrain data needle-gaze --out gaze128 --eye 5,7 --train 3000 --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Out == "" {
				return usageErrorf("--out is required")
			}
			if err := opts.Gaze.Validate(); err != nil {
				return usageError{err}
			}
			ctx, signalled, stop := interruptContext(cmd.Context(), nil, nil)
			defer stop()
			err := runDataGaze(ctx, opts, s)
			if sig := signalled(); sig != nil && err != nil {
				return exitCodeError{fmt.Errorf("interrupted by %v; nothing was written", sig), exitStatus(sig)}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output folder (must not exist or be empty, unless --force)")
	f.IntVar(&opts.Gaze.Canvas, "canvas", opts.Gaze.Canvas, fmt.Sprintf("canvas side in pixels, up to %d", data.MaxNeedleCanvas))
	f.Var(&eye, "eye", "eye radius range MIN,MAX in pixels (or one radius)")
	f.IntVar(&opts.Gaze.Clutter, "clutter", opts.Gaze.Clutter, "clutter fragments per canvas")
	f.IntVar(&opts.Gaze.Train, "train", opts.Gaze.Train, "number of training canvases")
	f.IntVar(&opts.Gaze.Val, "val", opts.Gaze.Val, "number of validation canvases")
	f.Float64Var(&opts.Gaze.Noise, "noise", opts.Gaze.Noise, "brightest background noise value, in [0, 1]")
	f.Int64Var(&opts.Gaze.Seed, "seed", opts.Gaze.Seed, "random seed")
	f.BoolVar(&opts.Force, "force", false, "replace train/, val/ and gaze.json in a non-empty output folder")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

// eyeRange is the --eye flag: "MIN,MAX" or a single radius, in pixels.
type eyeRange struct{ min, max *float64 }

func (e *eyeRange) String() string {
	if e.min == nil {
		return ""
	}
	return strconv.FormatFloat(*e.min, 'g', -1, 64) + "," + strconv.FormatFloat(*e.max, 'g', -1, 64)
}

func (e *eyeRange) Type() string { return "MIN,MAX" }

func (e *eyeRange) Set(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) > 2 {
		return fmt.Errorf("want MIN,MAX or one radius, got %q", v)
	}
	var n [2]float64
	for k, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return fmt.Errorf("want MIN,MAX or one radius, got %q", v)
		}
		n[k] = x
	}
	if len(parts) == 1 {
		n[1] = n[0]
	}
	*e.min, *e.max = n[0], n[1]
	return nil
}

// runDataGaze writes the needle-gaze set with a progress bar on stderr for big jobs,
// then a summary on stdout.
func runDataGaze(ctx context.Context, opts dataGazeOptions, s streams) error {
	out := filepath.Clean(opts.Out)
	total := opts.Gaze.Train + opts.Gaze.Val
	var progress io.Writer = io.Discard
	if total >= opts.ProgressMin {
		progress = s.Err
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(progress), progressbar.OptionSetDescription("needle-gaze"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }))
	err := data.WriteGazeFolder(ctx, out, opts.Gaze, data.WriteOptions{Force: opts.Force, Progress: func() { bar.Add(1) }})
	if err != nil {
		return err
	}
	summary := struct {
		Out    string  `json:"out"`
		Train  int     `json:"train"`
		Val    int     `json:"val"`
		Canvas int     `json:"canvas"`
		EyeMin float64 `json:"eye_min"`
		EyeMax float64 `json:"eye_max"`
		Seed   int64   `json:"seed"`
	}{out, opts.Gaze.Train, opts.Gaze.Val, opts.Gaze.Canvas, opts.Gaze.EyeMin, opts.Gaze.EyeMax, opts.Gaze.Seed}
	if opts.JSON {
		return json.NewEncoder(s.Out).Encode(summary)
	}
	_, err = fmt.Fprintf(s.Out, "wrote %d training and %d validation canvases of %dx%d (eye radius %g-%g) to %s\n",
		summary.Train, summary.Val, summary.Canvas, summary.Canvas, summary.EyeMin, summary.EyeMax, out)
	return err
}
