package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/termsafe"
)

type predictOptions struct {
	Checkpoint string
	Images     []string
	JSON       bool
	Top        int
}

func newPredictCmd(s streams) *cobra.Command {
	o := &predictOptions{}
	cmd := &cobra.Command{
		Use:   "predict --checkpoint FILE IMAGE...",
		Short: "Classify images with a trained model: the top-5 classes with probabilities",
		Example: `  zoomtrain predict --checkpoint runs/needle-saliency-s0/best.ckpt canvas.png
  zoomtrain predict --checkpoint best.ckpt --json a.jpg b.png`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Checkpoint == "" {
				return usageErrorf("--checkpoint is required")
			}
			if o.Top < 1 {
				return usageErrorf("--top must be positive")
			}
			o.Images = args
			return runPredict(o, s)
		},
	}
	cmd.Flags().StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per image (JSON Lines)")
	cmd.Flags().IntVar(&o.Top, "top", 5, "classes to list per image")
	return cmd
}

type prediction struct {
	Image string      `json:"image"`
	Top   []classProb `json:"top"`
}

type classProb struct {
	Class string  `json:"class"`
	Prob  float64 `json:"prob"`
}

// predictChunk is how many images predict decodes at a time: the rest are not held
// (48 sources at resolution 1024 would be 0.6 GB of float32).
const predictChunk = 8

func runPredict(o *predictOptions, s streams) error {
	ld, err := infer.LoadForward(o.Checkpoint, 1, false)
	if err != nil {
		return err
	}
	cfg := ld.Config
	// Check every file's header first, so that a missing, unreadable or oversized file
	// fails before any output; the images are then decoded a few at a time.
	for _, p := range o.Images {
		if err := data.CheckImage(p); err != nil {
			return err
		}
	}
	report := classReport(o, s.Out, ld)
	if ld.Standardiser != nil {
		report = regressionReport(o, s.Out, ld)
	}
	// A file whose body turns out damaged is named on stderr and the rest still
	// answered; the exit status says that one failed.
	failed := 0
	pix := make([][]float32, predictChunk)
	for start := 0; start < len(o.Images); start += predictChunk {
		chunk := o.Images[start:min(start+predictChunk, len(o.Images))]
		for i, p := range chunk {
			if pix[i], err = data.LoadImage(p, cfg.Data.Resolution, cfg.Data.Policy); err != nil {
				fmt.Fprintf(s.Err, "zoomtrain: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				failed++
			}
		}
		for i, p := range chunk {
			if pix[i] == nil {
				continue
			}
			b, err := data.NewBatch(pix[i], nil, ld.Model.Spec.Inputs())
			if err != nil {
				return err
			}
			out, err := ld.Run(b)
			if err != nil {
				return err
			}
			if err := report(p, out.Logits); err != nil {
				return err
			}
		}
		clear(pix)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be read", failed, len(o.Images))
	}
	return nil
}

// classReport returns runPredict's report of a classifier's outputs for one image: its
// top classes with probabilities, a JSON line or a few of text.
func classReport(o *predictOptions, w io.Writer, ld *infer.Loaded) func(p string, out []float32) error {
	enc := json.NewEncoder(w)
	return func(p string, out []float32) error {
		probs := infer.Softmax(out)
		pr := prediction{Image: p}
		for _, c := range infer.TopK(probs, o.Top) {
			pr.Top = append(pr.Top, classProb{Class: ld.Classes[c], Prob: probs[c]})
		}
		if o.JSON {
			return enc.Encode(pr)
		}
		// Names from the file system are quoted when they could drive the terminal.
		fmt.Fprintf(w, "%s\n", termsafe.Quote(p))
		for _, cp := range pr.Top {
			fmt.Fprintf(w, "  %-12s %6.2f%%\n", termsafe.Quote(cp.Class), 100*cp.Prob)
		}
		return nil
	}
}
