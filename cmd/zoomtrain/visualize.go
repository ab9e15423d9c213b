package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"zoomtrain/internal/data"
	"zoomtrain/internal/imageio"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/lowres"
	"zoomtrain/internal/npyfile"
	"zoomtrain/internal/viz"
)

type visualizeOptions struct {
	Checkpoint string
	Data       string
	Images     []string
	Out        string
	N          int
	Cols       int
	TileSize   int
}

func newVisualizeCmd(s streams) *cobra.Command {
	o := &visualizeOptions{}
	cmd := &cobra.Command{
		Use:   "visualize --checkpoint FILE (--data DIR | --image FILE...) --out DIR [-n 16]",
		Short: "Draw what the sampler does: source with grid, saliency, warped input, uniform downsample",
		Long: `For each image, write a PNG panel: the source with the sampling grid drawn over it
(dense lines where the sampler magnifies), the saliency map as a heatmap over the
source, the warped task input and the uniform downsample of the same size, enlarged
so pixels stay visible. Also index.png, a contact sheet of all panels with the true and
predicted classes, and per image saliency.npy and grid.npy for scripts.

With neither --data nor --image, the run's own validation images are drawn.`,
		Example: `  zoomtrain visualize --checkpoint runs/needle-saliency-s0/best.ckpt --out viz
  zoomtrain visualize --checkpoint best.ckpt --image photo1.jpg photo2.png --out viz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Checkpoint == "" || o.Out == "" {
				return usageErrorf("--checkpoint and --out are required")
			}
			if o.Data != "" && len(o.Images) > 0 {
				return usageErrorf("give --data or --image, not both")
			}
			if o.N < 1 {
				return usageErrorf("-n must be positive")
			}
			if o.Cols < 1 {
				return usageErrorf("--cols must be positive")
			}
			if o.TileSize < 1 {
				return usageErrorf("--tile must be positive")
			}
			if err := (viz.PanelOptions{TileSize: o.TileSize}).Check(); err != nil {
				return usageErrorf("--tile: %w", err)
			}
			return runVisualize(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file")
	f.StringVar(&o.Data, "data", "", "labelled image folder (its val/ split if it has one)")
	f.StringSliceVar(&o.Images, "image", nil, "image files (repeat or comma-separate)")
	f.StringVar(&o.Out, "out", "", "output folder (created; must not hold an earlier index.png)")
	f.IntVarP(&o.N, "n", "n", 16, "number of images from --data")
	f.IntVar(&o.Cols, "cols", 2, "panels per row of the contact sheet")
	f.IntVar(&o.TileSize, "tile", 192, "tile side in pixels")
	return cmd
}

// example is one image to draw.
type example struct {
	name  string
	pix   []float32 // 3 x R x R
	label int       // -1 when unknown
}

func runVisualize(ctx context.Context, o *visualizeOptions, s streams) error {
	ld, err := infer.LoadForward(o.Checkpoint, 1, true)
	if err != nil {
		return err
	}
	cfg := ld.Config
	r := cfg.Data.Resolution
	var exs []example
	if len(o.Images) > 0 {
		for _, p := range o.Images {
			pix, err := data.LoadImage(p, r, cfg.Data.Policy)
			if err != nil {
				return err
			}
			exs = append(exs, example{name: filepath.Base(p), pix: pix, label: -1})
		}
	} else {
		ds, err := evalSet(ld, o.Data)
		if err != nil {
			return err
		}
		for i := 0; i < min(o.N, ds.Len()); i++ {
			pix := make([]float32, 3*r*r)
			if err := ds.Image(i, 0, pix); err != nil {
				return err
			}
			name := fmt.Sprintf("%03d", i)
			if f, ok := ds.(interface{ Path(int) string }); ok {
				name = filepath.Base(f.Path(i))
			}
			exs = append(exs, example{name: name, pix: pix, label: ds.Label(i)})
		}
	}
	if len(exs) == 0 {
		return fmt.Errorf("no images to draw")
	}
	if err := prepareOutDir(o.Out); err != nil {
		return err
	}
	t := cfg.Model.TaskInput
	var panels []image.Image
	var captions []string
	for i, ex := range exs {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := data.NewBatch(ex.pix, nil, ld.Model.Spec.Inputs())
		if err != nil {
			return err
		}
		out, err := ld.Run(b)
		if err != nil {
			return err
		}
		p := infer.Softmax(out.Logits)
		pred := infer.TopK(p, 1)[0]
		title := fmt.Sprintf("%s: predicted %s (%.2f)", ex.name, ld.Classes[pred], p[pred])
		caption := fmt.Sprintf("pred %s %.2f", ld.Classes[pred], p[pred])
		if ex.label >= 0 {
			title = fmt.Sprintf("%s: true %s, predicted %s (%.2f)", ex.name, ld.Classes[ex.label], ld.Classes[pred], p[pred])
			caption = fmt.Sprintf("true %s, pred %s %.2f", ld.Classes[ex.label], ld.Classes[pred], p[pred])
		}
		uni := imageio.New(3, t, t)
		// The uniform baseline's view: its task input, the same stage 1 as its model's.
		if err := (lowres.Inputs{Resolution: r, Sides: []int{t}}).Make(ex.pix, 1, [][]float32{uni.Pix}); err != nil {
			return err
		}
		in := viz.PanelInput{
			Source:  &imageio.Image{C: 3, H: r, W: r, Pix: ex.pix},
			Uniform: uni,
			Title:   title,
		}
		stem := fmt.Sprintf("%03d", i)
		if out.Saliency != nil {
			g := cfg.Model.Grid
			in.Saliency, in.SalH, in.SalW = out.Saliency, g, g
			in.Grid, in.GridH, in.GridW = out.Grid, t, t
			in.Warped = &imageio.Image{C: 3, H: t, W: t, Pix: out.TaskIn}
			if err := writeMap(filepath.Join(o.Out, stem+"-saliency.npy"), out.Saliency, g, g); err != nil {
				return err
			}
			if err := writeGrid(filepath.Join(o.Out, stem+"-grid.npy"), out.Grid, t, t); err != nil {
				return err
			}
		}
		panel, err := viz.Panel(in, viz.PanelOptions{TileSize: o.TileSize})
		if err != nil {
			return err
		}
		if err := viz.WritePNG(filepath.Join(o.Out, stem+".png"), panel); err != nil {
			return err
		}
		panels = append(panels, panel)
		captions = append(captions, caption)
	}
	sheet, err := viz.ContactSheet(panels, captions, o.Cols)
	if err != nil {
		return err
	}
	if err := viz.WritePNG(filepath.Join(o.Out, "index.png"), sheet); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "wrote %d panels and %s\n", len(panels), filepath.Join(o.Out, "index.png"))
	return nil
}

// prepareOutDir creates the output folder, checks it is writable, and refuses to mix a
// new visualisation into an old one.
func prepareOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.png")); err == nil {
		return fmt.Errorf("output folder %s already holds a visualisation (index.png); choose another --out", dir)
	}
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// writeMap writes an h x w float32 map as .npy, atomically.
func writeMap(path string, v []float32, h, w int) error {
	return npyfile.WriteFile(path, v, h, w)
}
