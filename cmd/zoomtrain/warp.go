package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"zoomtrain/internal/imageio"
	"zoomtrain/internal/npyfile"
	"zoomtrain/internal/sampler"
)

// warpOptions are the flags of 'zoomtrain warp'.
type warpOptions struct {
	Image       string
	Saliency    string
	Size        string
	Out         string
	GridOut     string
	FWHM        float64
	Padding     int
	PaddingMode string
}

func newWarpCmd(s streams) *cobra.Command {
	def := sampler.DefaultParams()
	opts := warpOptions{FWHM: def.FWHM, Padding: def.Padding, PaddingMode: string(def.Mode)}
	cmd := &cobra.Command{
		Use:   "warp --image IN.png --saliency S.npy --size WxH --out OUT.png",
		Short: "Resample an image through the grid a saliency map makes",
		Long: `warp runs the saliency sampler on one image with a given saliency map: the map
(.npy float32/float64 h x w, or an 8-bit grayscale PNG; it need not be normalised) becomes
an h x w sampling grid, the grid is upsampled to the output size, and the image is sampled
bilinearly through it. Salient regions get more output pixels. The output is a PNG
(each channel round(255 x value)).`,
		Example: `  zoomtrain warp --image testdata/warp/square/image.png --saliency testdata/warp/square/saliency.npy --size 64x64 --out warped.png
  zoomtrain warp --image testdata/warp/wide/image.png --saliency testdata/warp/wide/saliency.npy --size 56x40 --out warped.png --grid-out grid.npy --padding-mode reflect`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWarp(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Image, "image", "", "input image (PNG or JPEG)")
	f.StringVar(&opts.Saliency, "saliency", "", "saliency map (.npy h x w, or grayscale PNG)")
	f.StringVar(&opts.Size, "size", "", "output size WxH, e.g. 64x64")
	f.StringVar(&opts.Out, "out", "", "output PNG")
	f.StringVar(&opts.GridOut, "grid-out", "", "also write the upsampled grid (.npy float32, H x W x 2, last axis (x, y))")
	f.Float64Var(&opts.FWHM, "fwhm", opts.FWHM, "full width at half maximum of the Gaussian kernel, in grid cells")
	f.IntVar(&opts.Padding, "padding", opts.Padding, "padding of the saliency map on each side, in grid cells")
	f.StringVar(&opts.PaddingMode, "padding-mode", opts.PaddingMode, "padding mode: replicate or reflect")
	_ = cmd.RegisterFlagCompletionFunc("padding-mode", cobra.FixedCompletions([]string{string(sampler.Replicate), string(sampler.Reflect)}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runWarp(opts warpOptions, s streams) error {
	for _, req := range []struct{ flag, val string }{
		{"--image", opts.Image}, {"--saliency", opts.Saliency}, {"--size", opts.Size}, {"--out", opts.Out},
	} {
		if req.val == "" {
			return usageErrorf("warp: %s is required", req.flag)
		}
	}
	wo, ho, err := parseSize(opts.Size)
	if err != nil {
		return usageErrorf("warp: --size: %w", err)
	}
	mode := sampler.PaddingMode(opts.PaddingMode)
	if mode != sampler.Replicate && mode != sampler.Reflect {
		return usageErrorf("warp: --padding-mode %q is not replicate or reflect", opts.PaddingMode)
	}
	if ext := filepath.Ext(opts.Out); !strings.EqualFold(ext, ".png") {
		return usageErrorf("warp: --out %s: warp writes a PNG (exact 8-bit values), so the name must end in .png", opts.Out)
	}
	if opts.GridOut != "" && filepath.Clean(opts.GridOut) == filepath.Clean(opts.Out) {
		return usageErrorf("warp: --grid-out and --out name the same file")
	}

	res, err := computeWarp(opts, mode, wo, ho)
	if err != nil {
		return err
	}
	if opts.GridOut != "" {
		if err := writeGrid(opts.GridOut, res.grid, ho, wo); err != nil {
			return fmt.Errorf("warp: write grid: %w", err)
		}
	}
	if err := imageio.WritePNG(opts.Out, res.out); err != nil {
		if opts.GridOut != "" {
			// Leave no half of the result behind.
			os.Remove(opts.GridOut)
		}
		return fmt.Errorf("warp: write image: %w", err)
	}
	fmt.Fprintf(s.Out, "wrote %s (%dx%d) from a %dx%d saliency grid\n", opts.Out, wo, ho, res.w, res.h)
	return nil
}

// warpResult is what warp computes before writing anything.
type warpResult struct {
	out  *imageio.Image
	grid []float32 // ho x wo x 2, upsampled and clamped
	h, w int       // the saliency grid's shape
}

// computeWarp reads the inputs and runs the sampler; it writes nothing.
func computeWarp(opts warpOptions, mode sampler.PaddingMode, wo, ho int) (*warpResult, error) {
	img, err := imageio.Read(opts.Image)
	if err != nil {
		return nil, fmt.Errorf("warp: read image: %w", err)
	}
	sal, h, w, err := readSaliency(opts.Saliency)
	if err != nil {
		return nil, fmt.Errorf("warp: read saliency map: %w", err)
	}
	p := sampler.Params{H: h, W: w, Padding: opts.Padding, FWHM: opts.FWHM, Mode: mode}
	out, grid, err := sampler.Warp(p, sal, img.Pix, sampler.SampleShape{N: 1, C: img.C, H: img.H, W: img.W, Ho: ho, Wo: wo})
	if err != nil {
		return nil, fmt.Errorf("warp: %s: %w", opts.Saliency, err)
	}
	return &warpResult{out: &imageio.Image{C: img.C, H: ho, W: wo, Pix: out}, grid: grid, h: h, w: w}, nil
}

// parseSize reads "WxH" with both positive.
func parseSize(v string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(v), "x")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not WxH", v)
	}
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if errW != nil || errH != nil {
		return 0, 0, fmt.Errorf("%q is not WxH with whole numbers", v)
	}
	const maxSide = 1 << 14
	if w < 1 || h < 1 || w > maxSide || h > maxSide {
		return 0, 0, fmt.Errorf("%q: width and height must be between 1 and %d", v, maxSide)
	}
	return w, h, nil
}

// readSaliency reads a saliency map from .npy (2-D float32 or float64) or from an 8-bit
// grayscale image, row = y.
func readSaliency(path string) (s []float32, h, w int, err error) {
	if !strings.EqualFold(filepath.Ext(path), ".npy") {
		img, err := imageio.Read(path)
		if err != nil {
			return nil, 0, 0, err
		}
		plane := img.H * img.W
		for i, v := range img.Pix[:plane] {
			if img.Pix[plane+i] != v || img.Pix[2*plane+i] != v {
				return nil, 0, 0, fmt.Errorf("%s: image is not grayscale", path)
			}
		}
		if img.H < 2 || img.W < 2 {
			return nil, 0, 0, fmt.Errorf("%s: map of %dx%d (w x h), want at least 2x2", path, img.W, img.H)
		}
		return img.Pix[:plane], img.H, img.W, nil
	}
	if s, h, w, err = npyfile.ReadFile2D(path); err != nil {
		return nil, 0, 0, err
	}
	if h < 2 || w < 2 {
		return nil, 0, 0, fmt.Errorf("%s: map of %dx%d (w x h), want at least 2x2", path, w, h)
	}
	return s, h, w, nil
}

// writeGrid writes grid (h x w x 2) as a float32 .npy of that shape, atomically.
func writeGrid(path string, grid []float32, h, w int) error {
	return npyfile.WriteFile(path, grid, h, w, 2)
}
