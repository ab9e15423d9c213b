// Package viz draws what a saliency sampler does, as the paper's figures show it: the
// source with the sampling grid over it, the saliency map, the warped ("zoomed") task
// input and the uniform downsample side by side; and it plots training curves from
// metrics records. Arrays go in, image.Image or PNG bytes come out; nothing is printed.
package viz

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"zoomtrain/internal/imageio"
)

// PanelInput is one example to draw. Only Source is required; a tile is drawn for each
// other part that is present.
type PanelInput struct {
	Source *imageio.Image // the high-resolution input, planar RGB (or grey) in [0, 1]

	Saliency   []float32 // SalH x SalW, row-major; nil for a uniform-baseline model
	SalH, SalW int

	// Grid is the upsampled sampling grid, GridH x GridW x 2 with (x, y) in [-1, 1] under
	// align_corners = true: x = -1 is the centre of column 0, +1 that of the last column.
	Grid         []float32
	GridH, GridW int

	Warped  *imageio.Image // the task input sampled at Grid; nil for a uniform model
	Uniform *imageio.Image // the uniform downsample of the same size
	Title   string         // e.g. "true 7 · predicted 7 (0.93)"
	Wrong   bool           // a wrong prediction: the title is drawn in red with a red frame
}

// PanelOptions tunes a panel; the zero value gives the defaults.
type PanelOptions struct {
	TileSize  int     // side of each square tile in pixels; default 192
	GridLines int     // grid lines drawn per axis; default 16 (fewer on tiles under 192 px)
	HeatAlpha float64 // opacity of the saliency heatmap over the source; default 0.65
}

const (
	defaultTileSize  = 192
	defaultGridLines = 16
	defaultHeatAlpha = 0.65
	minTileSize      = 32
	maxTileSize      = 2048
)

// Check reports what is wrong with o, before any panel is drawn: the error Panel
// would return for it.
func (o PanelOptions) Check() error {
	_, err := o.withDefaults()
	return err
}

func (o PanelOptions) withDefaults() (PanelOptions, error) {
	if o.TileSize == 0 {
		o.TileSize = defaultTileSize
	}
	if o.GridLines == 0 {
		// Fewer lines on small tiles, where 16 would merge into a solid patch.
		o.GridLines = min(max(o.TileSize/12, 4), defaultGridLines)
	}
	if o.HeatAlpha == 0 {
		o.HeatAlpha = defaultHeatAlpha
	}
	if o.TileSize < minTileSize || o.TileSize > maxTileSize {
		return o, fmt.Errorf("tile size %d is outside [%d, %d]", o.TileSize, minTileSize, maxTileSize)
	}
	if o.GridLines < 2 {
		return o, fmt.Errorf("grid lines %d is below 2", o.GridLines)
	}
	if !(o.HeatAlpha > 0 && o.HeatAlpha <= 1) {
		return o, fmt.Errorf("heat alpha %v is outside (0, 1]", o.HeatAlpha)
	}
	return o, nil
}

// Colours of the panels; functions rather than variables so nothing can change them.
func background() color.NRGBA { return color.NRGBA{255, 255, 255, 255} }
func tileBack() color.NRGBA   { return color.NRGBA{232, 232, 232, 255} }
func ink() color.NRGBA        { return color.NRGBA{28, 28, 28, 255} }
func labelInk() color.NRGBA   { return color.NRGBA{70, 70, 70, 255} }
func wrongInk() color.NRGBA   { return color.NRGBA{200, 30, 30, 255} }

// gridInk is translucent: where the sampler magnifies, the lines crowd together over
// the very detail it zooms on, which must stay visible through them.
func gridInk() color.NRGBA { return color.NRGBA{0, 255, 200, 150} }

func (in PanelInput) validate() error {
	if err := checkImage("source", in.Source); err != nil {
		return err
	}
	if in.Saliency != nil {
		if err := checkShape("saliency", len(in.Saliency), in.SalH, in.SalW, 1); err != nil {
			return err
		}
		if err := checkFinite("saliency", in.Saliency); err != nil {
			return err
		}
	}
	if in.Grid != nil {
		if err := checkShape("grid", len(in.Grid), in.GridH, in.GridW, 2); err != nil {
			return err
		}
		if err := checkFinite("grid", in.Grid); err != nil {
			return err
		}
	}
	if in.Warped != nil {
		if err := checkImage("warped", in.Warped); err != nil {
			return err
		}
	}
	if in.Uniform != nil {
		if err := checkImage("uniform", in.Uniform); err != nil {
			return err
		}
	}
	return nil
}

// tile is one square of the panel: its picture drawn into dst at a given corner.
type tile struct {
	label string
	draw  func(dst *image.RGBA, at image.Point)
}

// Panel draws one example as a row of labelled tiles: "source + grid" (every few lines
// of the sampling grid over the source, so a magnified region shows as dense lines),
// "saliency" (the map as a heatmap over the greyed source), "warped (zoom)" and
// "uniform" (enlarged with nearest neighbour so pixels stay visible), under the title.
func Panel(in PanelInput, opts PanelOptions) (image.Image, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("panel: %w", err)
	}
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("panel: %w", err)
	}
	t := opts.TileSize
	src := in.Source
	dh, dw, nearest := fitSize(src.H, src.W, t)
	srcPx := display(src, dh, dw, nearest)
	centre := func(h, w int) image.Point { return image.Pt((t-w)/2, (t-h)/2) }

	var tiles []tile
	srcLabel := "source"
	if in.Grid != nil {
		srcLabel = "source + grid"
	}
	tiles = append(tiles, tile{srcLabel, func(dst *image.RGBA, at image.Point) {
		o := at.Add(centre(dh, dw))
		put(dst, o, srcPx, dw)
		if in.Grid != nil {
			drawGrid(dst, o, in, dh, dw, opts.GridLines, float32(t)/192)
		}
	}})
	if in.Saliency != nil {
		tiles = append(tiles, tile{"saliency", func(dst *image.RGBA, at image.Point) {
			put(dst, at.Add(centre(dh, dw)), saliencyOver(srcPx, in, dh, dw, opts.HeatAlpha), dw)
		}})
	}
	for _, part := range []struct {
		label string
		m     *imageio.Image
	}{{"warped (zoom)", in.Warped}, {"uniform", in.Uniform}} {
		if part.m == nil {
			continue
		}
		m := part.m
		tiles = append(tiles, tile{part.label, func(dst *image.RGBA, at image.Point) {
			h, w, nn := fitSize(m.H, m.W, t)
			put(dst, at.Add(centre(h, w)), display(m, h, w, nn), w)
		}})
	}

	labelPx := math.Min(math.Max(float64(t)/14, 10), 16)
	f, err := newFaces(labelPx, labelPx+2)
	if err != nil {
		return nil, fmt.Errorf("panel: %w", err)
	}
	pad := max(6, t/24)
	titleH := 0
	if in.Title != "" {
		titleH = lineHeight(f.title) + pad
	}
	labelH := lineHeight(f.label)
	width := pad + len(tiles)*(t+pad)
	height := pad + titleH + t + pad/2 + labelH + pad
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(background()), image.Point{}, draw.Src)
	if in.Title != "" {
		titleInk := ink()
		if in.Wrong {
			titleInk = wrongInk()
		}
		text(img, f.title, pad, pad, width-2*pad, in.Title, titleInk)
	}
	if in.Wrong {
		frame(img, max(2, pad/3), wrongInk())
	}
	for i, tl := range tiles {
		at := image.Pt(pad+i*(t+pad), pad+titleH)
		draw.Draw(img, image.Rectangle{at, at.Add(image.Pt(t, t))}, image.NewUniform(tileBack()), image.Point{}, draw.Src)
		tl.draw(img, at)
		centredText(img, f.label, at.X, at.Y+t+pad/2, t, tl.label, labelInk())
	}
	return img, nil
}

// frame draws a border of width w around img.
func frame(img *image.RGBA, w int, c color.Color) {
	b := img.Bounds()
	u := image.NewUniform(c)
	for _, r := range []image.Rectangle{
		image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+w), image.Rect(b.Min.X, b.Max.Y-w, b.Max.X, b.Max.Y),
		image.Rect(b.Min.X, b.Min.Y, b.Min.X+w, b.Max.Y), image.Rect(b.Max.X-w, b.Min.Y, b.Max.X, b.Max.Y),
	} {
		draw.Draw(img, r, u, image.Point{}, draw.Src)
	}
}

// gridIndices picks up to n evenly spaced indices in [0, size), both ends included.
func gridIndices(size, n int) []int {
	if size <= n {
		out := make([]int, size)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, n)
	for i := range out {
		out[i] = int(math.Round(float64(i) * float64(size-1) / float64(n-1)))
	}
	return out
}

// drawGrid strokes selected rows and columns of the sampling grid over a source shown
// at o with size dh x dw. Grid coordinates follow align_corners = true, so x = -1 lands
// on the centre of the first source column.
func drawGrid(dst *image.RGBA, o image.Point, in PanelInput, dh, dw, lines int, scale float32) {
	sx := float64(dw) / float64(in.Source.W)
	sy := float64(dh) / float64(in.Source.H)
	pt := func(i, j int) (float32, float32) {
		k := 2 * (i*in.GridW + j)
		gx := math.Min(math.Max(float64(in.Grid[k]), -1), 1)
		gy := math.Min(math.Max(float64(in.Grid[k+1]), -1), 1)
		px := ((gx+1)/2*float64(in.Source.W-1) + 0.5) * sx
		py := ((gy+1)/2*float64(in.Source.H-1) + 0.5) * sy
		return float32(px), float32(py)
	}
	s := newStrokes(dw, dh, max(0.8, 0.8*scale))
	for _, i := range gridIndices(in.GridH, lines) {
		for j := 1; j < in.GridW; j++ {
			ax, ay := pt(i, j-1)
			bx, by := pt(i, j)
			s.segment(ax, ay, bx, by)
		}
	}
	for _, j := range gridIndices(in.GridW, lines) {
		for i := 1; i < in.GridH; i++ {
			ax, ay := pt(i-1, j)
			bx, by := pt(i, j)
			s.segment(ax, ay, bx, by)
		}
	}
	s.paint(dst, o, gridInk())
}

// saliencyOver colours the saliency map, stretched over the whole source with corners
// aligned like the grid, and blends it over a grey copy of the source so the map reads
// against the picture's structure rather than its colours.
func saliencyOver(srcPx [][3]float64, in PanelInput, dh, dw int, alpha float64) [][3]float64 {
	cm := newColormap()
	heat := upsampleAligned(normalise(in.Saliency), in.SalH, in.SalW, dh, dw)
	out := make([][3]float64, len(srcPx))
	for i, p := range srcPx {
		grey := 0.299*p[0] + 0.587*p[1] + 0.114*p[2]
		c := cm.at(heat[i])
		for k, v := range [3]uint8{c.R, c.G, c.B} {
			out[i][k] = alpha*float64(v)/255 + (1-alpha)*grey
		}
	}
	return out
}

// ContactSheet lays panels out in rows of cols, each with its caption (if any) under
// it. captions may be nil, or hold one string per panel.
func ContactSheet(panels []image.Image, captions []string, cols int) (image.Image, error) {
	if len(panels) == 0 {
		return nil, errors.New("contact sheet: no panels")
	}
	if cols <= 0 {
		return nil, fmt.Errorf("contact sheet: %d columns, want at least 1", cols)
	}
	if captions != nil && len(captions) != len(panels) {
		return nil, fmt.Errorf("contact sheet: %d captions for %d panels", len(captions), len(panels))
	}
	cw, ch := 0, 0
	for i, p := range panels {
		if p == nil {
			return nil, fmt.Errorf("contact sheet: panel %d is nil", i)
		}
		b := p.Bounds()
		if b.Empty() {
			return nil, fmt.Errorf("contact sheet: panel %d is empty", i)
		}
		cw, ch = max(cw, b.Dx()), max(ch, b.Dy())
	}
	cols = min(cols, len(panels))
	rows := (len(panels) + cols - 1) / cols
	f, err := newFaces(14, 16)
	if err != nil {
		return nil, fmt.Errorf("contact sheet: %w", err)
	}
	const pad = 8
	capH := 0
	if captions != nil {
		capH = lineHeight(f.label) + pad/2
	}
	width := pad + cols*(cw+pad)
	height := pad + rows*(ch+capH+pad)
	if int64(width)*int64(height) > imageio.MaxPixels {
		return nil, fmt.Errorf("contact sheet of %dx%d pixels is over the limit of %d", width, height, imageio.MaxPixels)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(background()), image.Point{}, draw.Src)
	for i, p := range panels {
		at := image.Pt(pad+(i%cols)*(cw+pad), pad+(i/cols)*(ch+capH+pad))
		b := p.Bounds()
		draw.Draw(img, image.Rectangle{at, at.Add(b.Size())}, p, b.Min, draw.Over)
		if captions != nil {
			centredText(img, f.label, at.X, at.Y+ch+pad/4, cw, captions[i], ink())
		}
	}
	return img, nil
}

// WritePNG encodes img as a PNG at path, atomically: a reader never sees half a file.
func WritePNG(path string, img image.Image) error {
	if img == nil {
		return errors.New("write png: no image")
	}
	return imageio.SavePNG(path, img)
}
