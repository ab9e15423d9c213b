package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"zoomtrain/internal/data"
)

// dataGazeOptions are the flags of `zoomtrain data needle-gaze`.
type dataGazeOptions struct {
	dataSynthOptions
	Gaze data.GazeOptions
}

func newDataGazeCmd(s streams) *cobra.Command {
	opts := dataGazeOptions{dataSynthOptions: dataSynthOptions{ProgressMin: 2000}, Gaze: data.DefaultGazeOptions()}
	eye := rangeFlag[float64]{min: &opts.Gaze.EyeMin, max: &opts.Gaze.EyeMax, what: "radius", parse: parseFloat}
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
	}
	wireSynthCommand(cmd, synthCommand{
		common: &opts.dataSynthOptions, canvas: &opts.Gaze.Canvas, shared: &opts.Gaze.SynthOptions,
		manifest: data.GazeManifestFile, validate: func() error { return opts.Gaze.Validate() },
		run: func(ctx context.Context) error { return runDataGaze(ctx, opts, s) },
	})
	cmd.Flags().Var(&eye, "eye", "eye radius range MIN,MAX in pixels (or one radius)")
	return cmd
}

// runDataGaze writes the needle-gaze set and prints a summary.
func runDataGaze(ctx context.Context, opts dataGazeOptions, s streams) error {
	o := opts.Gaze
	sum := synthSummary{Train: o.Train, Val: o.Val, Canvas: o.Canvas, EyeMin: &o.EyeMin, EyeMax: &o.EyeMax, Seed: o.Seed}
	return opts.writeSynth(ctx, s, "needle-gaze", sum, func(ctx context.Context, out string, w data.WriteOptions) error {
		return data.WriteGazeFolder(ctx, out, o, w)
	})
}

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
