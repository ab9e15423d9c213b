package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/metrics"
	"zoomtrain/internal/train"
	"zoomtrain/internal/viz"
)

type plotOptions struct {
	Runs []string
	Out  string
}

func newPlotCmd(s streams) *cobra.Command {
	o := &plotOptions{}
	cmd := &cobra.Command{
		Use:   "plot --run DIR [--run DIR...] [--out FILE]",
		Short: "Draw training curves of a run, or compare the val accuracy of several runs",
		Long: `With one run, write DIR/curves.png: train and val loss and accuracy per epoch, and
the blur sigma and learning rates below. With several runs, write one plot of their
val top-1 curves with a legend (default compare.png in the current folder).
'zoomtrain train' draws curves.png by itself at the end of a run.`,
		Example: `  zoomtrain plot --run runs/needle-saliency-s0
  zoomtrain plot --run runs/needle-saliency-s0 --run runs/needle-uniform-s0 --out compare.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Runs) == 0 {
				return usageErrorf("--run is required")
			}
			return runPlot(o, s)
		},
	}
	cmd.Flags().StringArrayVar(&o.Runs, "run", nil, "run directory (repeat to compare runs)")
	cmd.Flags().StringVar(&o.Out, "out", "", "output PNG (default DIR/curves.png, or compare.png for several runs)")
	return cmd
}

func runPlot(o *plotOptions, s streams) error {
	if len(o.Runs) == 1 {
		out := o.Out
		if out == "" {
			out = filepath.Join(o.Runs[0], train.CurvesFile)
		}
		if err := plotRunTo(o.Runs[0], out); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "wrote %s\n", out)
		return nil
	}
	var runs []viz.Run
	for _, dir := range o.Runs {
		recs, err := readRunMetrics(dir)
		if err != nil {
			return err
		}
		runs = append(runs, viz.Run{Name: filepath.Base(filepath.Clean(dir)), Records: recs})
	}
	png, err := viz.CompareRuns(runs)
	if err != nil {
		return err
	}
	out := o.Out
	if out == "" {
		out = "compare.png"
	}
	if err := atomicfile.WriteBytes(out, png); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "wrote %s\n", out)
	return nil
}

func readRunMetrics(dir string) ([]metrics.Record, error) {
	p := filepath.Join(dir, train.MetricsFile)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("run %s: no %s (%w)", dir, train.MetricsFile, err)
	}
	recs, err := metrics.Read(p)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("run %s has no finished epoch yet", dir)
	}
	return recs, nil
}

// plotRun draws dir/curves.png (used at the end of training).
func plotRun(dir string) error {
	return plotRunTo(dir, filepath.Join(dir, train.CurvesFile))
}

func plotRunTo(dir, out string) error {
	recs, err := readRunMetrics(dir)
	if err != nil {
		return err
	}
	png, err := viz.Curves(recs, filepath.Base(filepath.Clean(dir)))
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(out, png)
}
