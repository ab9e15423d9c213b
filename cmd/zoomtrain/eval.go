package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/termsafe"
)

type evalOptions struct {
	Checkpoint string
	Data       string
	JSON       bool
	Batch      int
}

func newEvalCmd(s streams) *cobra.Command {
	o := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval --checkpoint FILE [--data DIR] [--json]",
		Short: "Evaluate a trained model: top-1, top-5, loss, per-class accuracy, confusion matrix",
		Long: `Evaluate a checkpoint on a labelled image folder. DIR is either a folder with a
val/ subfolder (that is evaluated) or a folder of class subfolders. Class folders must
be among the checkpoint's classes. With no --data, the run's own validation set is
used (for the needle data, the same generated canvases).`,
		Example: `  zoomtrain eval --checkpoint runs/needle-saliency-s0/best.ckpt
  zoomtrain eval --checkpoint best.ckpt --data ~/images --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Checkpoint == "" {
				return usageErrorf("--checkpoint is required")
			}
			return runEval(cmd.Context(), o, s)
		},
	}
	cmd.Flags().StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file (best.ckpt or last.ckpt of a run)")
	cmd.Flags().StringVar(&o.Data, "data", "", "labelled image folder (default: the run's validation set)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object on stdout")
	cmd.Flags().IntVar(&o.Batch, "batch-size", 100, "evaluation batch size")
	return cmd
}

func runEval(ctx context.Context, o *evalOptions, s streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Batch < 1 {
		return usageErrorf("--batch-size must be positive")
	}
	if err := checkForwardMemory(o.Checkpoint, o.Batch); err != nil {
		return err
	}
	ld, err := infer.LoadForward(o.Checkpoint, o.Batch, false)
	if err != nil {
		return err
	}
	if ld.Standardiser != nil {
		return runEvalRegression(ctx, o, s, ld)
	}
	ds, err := evalSet(ld, o.Data)
	if err != nil {
		return err
	}
	res, err := infer.Evaluate(ctx, ld.Forward, ds, ld.Config.Data.Workers, int64(ld.Config.Data.CacheMB)<<20)
	if err != nil {
		return err
	}
	if o.JSON {
		out := struct {
			Checkpoint string `json:"checkpoint"`
			*infer.Result
			Skipped int `json:"skipped"`
		}{o.Checkpoint, res, data.Skipped(ds)}
		enc := json.NewEncoder(s.Out)
		return enc.Encode(out)
	}
	fmt.Fprintf(s.Out, "%s: %d images\n", termsafe.Quote(o.Checkpoint), res.N)
	// Class names come from folder names: quoted when they could drive the terminal.
	names := make([]string, len(res.Classes))
	for i, c := range res.Classes {
		names[i] = termsafe.Quote(c)
	}
	fmt.Fprintf(s.Out, "top-1 %.2f%%  top-5 %.2f%%  loss %.4f\n\n", 100*res.Top1, 100*res.Top5, res.Loss)
	w := 6
	for _, c := range names {
		w = max(w, len(c))
	}
	fmt.Fprintf(s.Out, "%-*s %6s %8s\n", w, "class", "n", "accuracy")
	for i, c := range names {
		fmt.Fprintf(s.Out, "%-*s %6d %7.1f%%\n", w, c, res.ClassN[i], 100*res.PerClass[i])
	}
	fmt.Fprintf(s.Out, "\nconfusion matrix (rows: true class, columns: predicted)\n%-*s", w, "")
	for _, c := range names {
		fmt.Fprintf(s.Out, " %5.5s", c)
	}
	fmt.Fprintln(s.Out)
	for i, c := range names {
		fmt.Fprintf(s.Out, "%-*s", w, c)
		for _, v := range res.Confusion[i] {
			fmt.Fprintf(s.Out, " %5d", v)
		}
		fmt.Fprintln(s.Out)
	}
	if n := data.Skipped(ds); n > 0 {
		fmt.Fprintf(s.Err, "skipped %d unreadable image(s)\n", n)
	}
	return nil
}

// evalSet opens the folder to evaluate, or the run's own validation set.
func evalSet(ld *infer.Loaded, dir string) (data.Dataset, error) {
	if dir == "" {
		_, val, err := infer.OpenData(ld.Config)
		if errors.Is(err, fs.ErrNotExist) && ld.Config.Data.Source == config.SourceFolder {
			return nil, fmt.Errorf("the run's data folder is gone (moved? give its new place with --data): %w", err)
		}
		if err != nil {
			return nil, err
		}
		if !sameClasses(val.Classes(), ld.Classes) {
			return nil, fmt.Errorf("the run's validation classes %q differ from the checkpoint's %q", val.Classes(), ld.Classes)
		}
		return val, nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data folder %s is not a directory", dir)
	}
	if vs, err := os.Stat(filepath.Join(dir, "val")); err == nil && vs.IsDir() {
		dir = filepath.Join(dir, "val")
	}
	return data.OpenFolderSplit(dir, ld.Classes, infer.FolderOptions(ld.Config))
}

func sameClasses(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}
