package main

import (
	"encoding/json"
	"fmt"

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
	if ld.Standardiser != nil {
		return predictRegression(o, s.Out, ld)
	}
	enc := json.NewEncoder(s.Out)
	pix := make([][]float32, predictChunk)
	for start := 0; start < len(o.Images); start += predictChunk {
		chunk := o.Images[start:min(start+predictChunk, len(o.Images))]
		for i, p := range chunk {
			if pix[i], err = data.LoadImage(p, cfg.Data.Resolution, cfg.Data.Policy); err != nil {
				return err
			}
		}
		for i, p := range chunk {
			b, err := data.NewBatch(pix[i], nil, ld.Model.Spec.Inputs())
			if err != nil {
				return err
			}
			out, err := ld.Run(b)
			if err != nil {
				return err
			}
			probs := infer.Softmax(out.Logits)
			pr := prediction{Image: p}
			for _, c := range infer.TopK(probs, o.Top) {
				pr.Top = append(pr.Top, classProb{Class: ld.Classes[c], Prob: probs[c]})
			}
			if o.JSON {
				if err := enc.Encode(pr); err != nil {
					return err
				}
				continue
			}
			// Names from the file system are quoted when they could drive the terminal.
			fmt.Fprintf(s.Out, "%s\n", termsafe.Quote(p))
			for _, cp := range pr.Top {
				fmt.Fprintf(s.Out, "  %-12s %6.2f%%\n", termsafe.Quote(cp.Class), 100*cp.Prob)
			}
		}
		clear(pix)
	}
	return nil
}
