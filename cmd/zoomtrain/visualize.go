package main

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

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
	Force      bool
}

func newVisualizeCmd(s streams) *cobra.Command {
	o := &visualizeOptions{}
	cmd := &cobra.Command{
		Use:   "visualize --checkpoint FILE (--data DIR | [--image] FILE...) --out DIR [-n 16]",
		Short: "Draw what the sampler does: source with grid, saliency, warped input, uniform downsample",
		Long: `For each image, write a PNG panel: the source with the sampling grid drawn over it
(dense lines where the sampler magnifies), the saliency map as a heatmap over the
source, the warped task input and the uniform downsample of the same size, enlarged
so pixels stay visible. Also index.png, a contact sheet of all panels with the true and
predicted classes, and per image saliency.npy and grid.npy for scripts.

Images to draw are given with --image or as arguments (--image a.png b.png names
both). With neither --data nor images, the run's own validation images are drawn.`,
		Example: `  zoomtrain visualize --checkpoint runs/needle-saliency-s0/best.ckpt --out viz
  zoomtrain visualize --checkpoint best.ckpt --image photo1.jpg photo2.png --out viz`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Images = append(o.Images, args...)
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
	f.StringSliceVar(&o.Images, "image", nil, "image files (repeat, comma-separate, or list them as arguments)")
	f.StringVar(&o.Out, "out", "", "output folder (created; must not hold an earlier index.png unless --force)")
	f.IntVarP(&o.N, "n", "n", 16, "number of images from --data")
	f.IntVar(&o.Cols, "cols", 2, "panels per row of the contact sheet")
	f.IntVar(&o.TileSize, "tile", 192, "tile side in pixels")
	f.BoolVar(&o.Force, "force", false, "redraw into a folder that holds an earlier visualisation (its panels are replaced)")
	return cmd
}

// example is one image to draw.
type example struct {
	name  string
	pix   []float32 // 3 x R x R
	label int       // -1 when unknown
	// targets are a regression example's true targets, nil when unknown.
	targets []float32
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
		var ds data.Dataset
		if ld.Standardiser != nil {
			ds, err = regressionEvalSet(ld, o.Data)
		} else {
			ds, err = evalSet(ld, o.Data)
		}
		if err != nil {
			return err
		}
		for _, i := range spreadClasses(ds, o.N) {
			pix := make([]float32, 3*r*r)
			if err := ds.Image(i, 0, pix); err != nil {
				return err
			}
			name := fmt.Sprintf("%03d", i)
			if f, ok := ds.(interface{ Path(int) string }); ok {
				name = filepath.Base(f.Path(i))
			}
			ex := example{name: name, pix: pix, label: ds.Label(i)}
			if reg, ok := ds.(data.Regression); ok {
				ex.targets = make([]float32, len(reg.TargetNames()))
				if err := reg.Targets(i, 0, ex.targets); err != nil {
					return err
				}
			}
			exs = append(exs, ex)
		}
	}
	if len(exs) == 0 {
		return fmt.Errorf("no images to draw")
	}
	if err := prepareOutDir(o.Out, o.Force); err != nil {
		return err
	}
	t := cfg.Model.TaskInput
	var panels []image.Image
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
		title, wrong, err := describe(ld, ex, out.Logits)
		if err != nil {
			return err
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
			Wrong:   wrong,
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
	}
	// Each panel's title already names the truth and the prediction.
	sheet, err := viz.ContactSheet(panels, nil, o.Cols)
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
// new visualisation into an old one; with force it removes the old one's files first
// (index.png and the NNN panels and maps), leaving anything else alone.
func prepareOutDir(dir string, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.png")); err == nil {
		if !force {
			return fmt.Errorf("output folder %s already holds a visualisation (index.png); choose another --out, or --force to redraw it", dir)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("output folder: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && (e.Name() == "index.png" || vizFile.MatchString(e.Name())) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("output folder: %w", err)
				}
			}
		}
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

// describe is the title of an example's panel: the predicted class and its probability,
// or the predicted targets, with the truth when known; wrong marks a misclassified
// example (a regression prediction is never wrong, only off by its error).
func describe(ld *infer.Loaded, ex example, logits []float32) (title string, wrong bool, err error) {
	if ld.Standardiser != nil {
		v, err := infer.Predictions(*ld.Standardiser, logits)
		if err != nil {
			return "", false, err
		}
		pred := "pred " + targetList(ld.Standardiser.Names, v)
		if ex.targets == nil {
			return ex.name + ": " + pred, false, nil
		}
		return ex.name + ": true " + targetList(ld.Standardiser.Names, ex.targets) + ", " + pred, false, nil
	}
	p := infer.Softmax(logits)
	pred := infer.TopK(p, 1)[0]
	if ex.label < 0 {
		return fmt.Sprintf("%s: predicted %s (%.2f)", ex.name, ld.Classes[pred], p[pred]), false, nil
	}
	title = fmt.Sprintf("%s: true %s, predicted %s (%.2f)", ex.name, ld.Classes[ex.label], ld.Classes[pred], p[pred])
	if ex.label != pred {
		return title + ": wrong", true, nil
	}
	return title, false, nil
}

// targetList writes targets as "gx 0.31 gy -0.12".
func targetList(names []string, v []float32) string {
	var b strings.Builder
	for j, n := range names {
		if j > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s %.2f", n, v[j])
	}
	return b.String()
}

// vizFile matches the per-image files visualize writes: NNN.png, NNN-saliency.npy,
// NNN-grid.npy.
var vizFile = regexp.MustCompile(`^[0-9]{3,}(\.png|-saliency\.npy|-grid\.npy)$`)

// spreadClasses picks up to n indices of ds taking the classes in turn (the first
// image of each class, then the second, ...), so that a few panels show several
// classes rather than whichever class comes first in the folder.
func spreadClasses(ds data.Dataset, n int) []int {
	byClass := map[int][]int{}
	var order []int
	for i := 0; i < ds.Len(); i++ {
		l := ds.Label(i)
		if _, ok := byClass[l]; !ok {
			order = append(order, l)
		}
		byClass[l] = append(byClass[l], i)
	}
	sort.Ints(order)
	var out []int
	for k := 0; len(out) < n; k++ {
		took := false
		for _, l := range order {
			if k < len(byClass[l]) && len(out) < n {
				out, took = append(out, byClass[l][k]), true
			}
		}
		if !took {
			break
		}
	}
	return out
}
