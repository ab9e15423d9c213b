package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/termsafe"
)

// runEvalRegression is eval for a regressor's checkpoint: its errors in the targets'
// units, over all targets and per target.
func runEvalRegression(ctx context.Context, o *evalOptions, s streams, ld *infer.Loaded) error {
	ds, err := regressionEvalSet(ld, o.Data)
	if err != nil {
		return err
	}
	res, err := infer.EvaluateRegression(ctx, ld.Forward, *ld.Standardiser, ds, ld.Config.Data.Workers, int64(ld.Config.Data.CacheMB)<<20)
	if err != nil {
		return err
	}
	if o.JSON {
		out := struct {
			Checkpoint string `json:"checkpoint"`
			*infer.RegressionResult
			Skipped int `json:"skipped"`
		}{o.Checkpoint, res, data.Skipped(ds)}
		return json.NewEncoder(s.Out).Encode(out)
	}
	fmt.Fprintf(s.Out, "%s: %d images\n", termsafe.Quote(o.Checkpoint), res.N)
	fmt.Fprintf(s.Out, "MAE %.4f  RMSE %.4f  loss %.4f (%s, standardised)\n\n", res.MAE, res.RMSE, res.Loss, ld.Model.Spec.Loss)
	w := 6
	for _, n := range res.Names {
		w = max(w, len(termsafe.Quote(n)))
	}
	fmt.Fprintf(s.Out, "%-*s %8s %8s\n", w, "target", "MAE", "RMSE")
	for _, n := range res.Names {
		e := res.Targets[n]
		fmt.Fprintf(s.Out, "%-*s %8.4f %8.4f\n", w, termsafe.Quote(n), e.MAE, e.RMSE)
	}
	if n := data.Skipped(ds); n > 0 {
		fmt.Fprintf(s.Err, "skipped %d unreadable image(s)\n", n)
	}
	return nil
}

// regressionEvalSet opens the regression folder to evaluate (DIR/val or DIR, holding a
// targets.csv with the checkpoint's targets), or the run's own validation set.
func regressionEvalSet(ld *infer.Loaded, dir string) (data.Dataset, error) {
	names := ld.Standardiser.Names
	if dir == "" {
		_, val, err := infer.OpenData(ld.Config)
		if err != nil {
			return nil, err
		}
		if got := data.TargetNames(val); !slices.Equal(got, names) {
			return nil, fmt.Errorf("the run's validation targets %v differ from the checkpoint's %v", got, names)
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
	if _, err := os.Stat(filepath.Join(dir, "val", data.TargetsFile)); err == nil {
		dir = filepath.Join(dir, "val")
	}
	return data.OpenTargetSplit(dir, names, infer.FolderOptions(ld.Config))
}

// regressionPrediction is one image's predicted targets, in their units.
type regressionPrediction struct {
	Image  string             `json:"image"`
	Values map[string]float64 `json:"values"`
}

// regressionReport returns runPredict's report of a regressor's outputs for one image:
// its targets in their units, a JSON line or a few of text.
func regressionReport(o *predictOptions, w io.Writer, ld *infer.Loaded) func(p string, out []float32) error {
	std := *ld.Standardiser
	enc := json.NewEncoder(w)
	return func(p string, out []float32) error {
		v, err := infer.Predictions(std, out)
		if err != nil {
			return err
		}
		pr := regressionPrediction{Image: p, Values: make(map[string]float64, len(v))}
		for j, n := range std.Names {
			pr.Values[n] = float64(v[j])
		}
		if o.JSON {
			return enc.Encode(pr)
		}
		// Names from the file system are quoted when they could drive the terminal.
		fmt.Fprintf(w, "%s\n", termsafe.Quote(p))
		for j, n := range std.Names {
			fmt.Fprintf(w, "  %-12s %9.4f\n", termsafe.Quote(n), v[j])
		}
		return nil
	}
}
