package viz

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"zoomtrain/internal/imageio"
)

// checkImage rejects a planar image whose fields disagree, so drawing cannot index out
// of range.
func checkImage(what string, m *imageio.Image) error {
	if m == nil {
		return fmt.Errorf("%s image is missing", what)
	}
	if m.C != 1 && m.C != 3 {
		return fmt.Errorf("%s image has %d channels, want 1 or 3", what, m.C)
	}
	if err := checkShape(what+" image", len(m.Pix), m.H, m.W, m.C); err != nil {
		return err
	}
	return nil
}

// fitSize is the display size of an h x w image in a tile of side t, and whether it is an
// integer enlargement. Images at most half the tile are enlarged by a whole factor with
// nearest neighbour so each pixel stays a visible square; others are resampled to fit.
func fitSize(h, w, t int) (dh, dw int, nearest bool) {
	side := max(h, w)
	if f := t / side; f >= 2 {
		return h * f, w * f, true
	}
	s := float64(t) / float64(side)
	return max(1, int(math.Round(float64(h)*s))), max(1, int(math.Round(float64(w)*s))), false
}

// sample reads channel c of m as a value in [0, 1]; a 1-channel image is grey.
func sample(m *imageio.Image, c, y, x int) float64 {
	if m.C == 1 {
		c = 0
	}
	v := float64(m.Pix[(c*m.H+y)*m.W+x])
	if !(v > 0) {
		return 0
	}
	return math.Min(v, 1)
}

// display resamples m to dh x dw as RGB values in [0, 1], by nearest neighbour or
// by exact area averaging (box filter with fractional weights).
func display(m *imageio.Image, dh, dw int, nearest bool) [][3]float64 {
	out := make([][3]float64, dh*dw)
	if nearest {
		for y := range dh {
			sy := y * m.H / dh
			for x := range dw {
				sx := x * m.W / dw
				for c := range 3 {
					out[y*dw+x][c] = sample(m, c, sy, sx)
				}
			}
		}
		return out
	}
	ys, xs := spans(m.H, dh), spans(m.W, dw)
	for y := range dh {
		for x := range dw {
			var acc [3]float64
			var tot float64
			for _, wy := range ys[y] {
				for _, wx := range xs[x] {
					wgt := wy.w * wx.w
					tot += wgt
					for c := range 3 {
						acc[c] += wgt * sample(m, c, wy.i, wx.i)
					}
				}
			}
			for c := range 3 {
				out[y*dw+x][c] = acc[c] / tot
			}
		}
	}
	return out
}

type weight struct {
	i int
	w float64
}

// spans gives, for each of n output cells, the input cells it covers and by how much.
func spans(in, n int) [][]weight {
	out := make([][]weight, n)
	step := float64(in) / float64(n)
	for o := range n {
		a, b := float64(o)*step, float64(o+1)*step
		for i := int(a); i < in && float64(i) < b; i++ {
			lo, hi := math.Max(a, float64(i)), math.Min(b, float64(i+1))
			if hi > lo {
				out[o] = append(out[o], weight{i, hi - lo})
			}
		}
	}
	return out
}

// put writes display values (in [0, 1], gamma-encoded like the images they come from)
// into dst with the top-left corner at p.
func put(dst *image.RGBA, p image.Point, px [][3]float64, w int) {
	for i, v := range px {
		dst.SetRGBA(p.X+i%w, p.Y+i/w, color.RGBA{to8(v[0]), to8(v[1]), to8(v[2]), 255})
	}
}

// upsampleAligned resizes an h x w map to dh x dw bilinearly with corners aligned (cell 0
// at the first pixel centre, cell w-1 at the last), the convention of the sampling grid.
func upsampleAligned(v []float64, h, w, dh, dw int) []float64 {
	out := make([]float64, dh*dw)
	coord := func(o, n, in int) (int, float64) {
		if n == 1 || in == 1 {
			return 0, 0
		}
		f := float64(o) * float64(in-1) / float64(n-1)
		i := min(int(f), in-2)
		return i, f - float64(i)
	}
	for y := range dh {
		iy, fy := coord(y, dh, h)
		iy1 := min(iy+1, h-1)
		for x := range dw {
			ix, fx := coord(x, dw, w)
			ix1 := min(ix+1, w-1)
			top := v[iy*w+ix]*(1-fx) + v[iy*w+ix1]*fx
			bot := v[iy1*w+ix]*(1-fx) + v[iy1*w+ix1]*fx
			out[y*dw+x] = top*(1-fy) + bot*fy
		}
	}
	return out
}

// strokes accumulates antialiased line segments and paints them in one colour.
type strokes struct {
	r     *vector.Rasterizer
	width float32
}

func newStrokes(w, h int, width float32) *strokes {
	return &strokes{r: vector.NewRasterizer(w, h), width: width}
}

// segment adds a line from a to b as a thin quad. Every quad winds the same way, so
// where they overlap the rasteriser's coverage saturates instead of cancelling.
func (s *strokes) segment(ax, ay, bx, by float32) {
	dx, dy := bx-ax, by-ay
	l := float32(math.Hypot(float64(dx), float64(dy)))
	if l == 0 {
		return
	}
	hw := s.width / 2
	ux, uy := dx/l*hw, dy/l*hw // extend the ends by half the width to close the joints
	nx, ny := -uy, ux
	ax, ay, bx, by = ax-ux, ay-uy, bx+ux, by+uy
	s.r.MoveTo(ax+nx, ay+ny)
	s.r.LineTo(bx+nx, by+ny)
	s.r.LineTo(bx-nx, by-ny)
	s.r.LineTo(ax-nx, ay-ny)
	s.r.ClosePath()
}

func (s *strokes) paint(dst draw.Image, at image.Point, c color.Color) {
	b := s.r.Bounds().Add(at)
	s.r.Draw(dst, b, image.NewUniform(c), image.Point{})
}

// faces holds the fonts for one drawing; font.Face is not safe for concurrent use, so
// each call makes its own.
type faces struct {
	label, title font.Face
}

func newFaces(labelPx, titlePx float64) (*faces, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse font: %w", err)
	}
	label, err := opentype.NewFace(reg, &opentype.FaceOptions{Size: labelPx, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	title, err := opentype.NewFace(bold, &opentype.FaceOptions{Size: titlePx, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("font face: %w", err)
	}
	return &faces{label: label, title: title}, nil
}

// lineHeight is the ascent plus descent of face in pixels.
func lineHeight(face font.Face) int {
	m := face.Metrics()
	return (m.Ascent + m.Descent).Ceil()
}

// text draws s with its top-left at (x, top), cut to maxW pixels with an ellipsis if it
// is wider.
func text(dst draw.Image, face font.Face, x, top, maxW int, s string, c color.Color) {
	s = fitText(face, s, maxW)
	d := &font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face,
		Dot: fixed.P(x, top+face.Metrics().Ascent.Ceil())}
	d.DrawString(s)
}

// centredText draws s centred in the span [x, x+w).
func centredText(dst draw.Image, face font.Face, x, top, w int, s string, c color.Color) {
	s = fitText(face, s, w)
	tw := font.MeasureString(face, s).Ceil()
	text(dst, face, x+(w-tw)/2, top, w, s, c)
}

func fitText(face font.Face, s string, maxW int) string {
	if font.MeasureString(face, s).Ceil() <= maxW {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		if t := string(r) + "…"; font.MeasureString(face, t).Ceil() <= maxW {
			return t
		}
	}
	return ""
}
