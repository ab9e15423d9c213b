package viz

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"zoomtrain/internal/imageio"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata")

// compareGolden checks img against testdata/name, allowing each channel to differ by a
// few levels (font rasterisation may round differently on other CPUs) and up to 0.2% of
// pixels to differ by more.
func compareGolden(t *testing.T, name string, img image.Image) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := WritePNG(path, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := goldenDiff(path, img); err != nil {
		t.Errorf("%s: %v (if the change is intended: go test ./internal/viz -update)", name, err)
	}
}

func goldenDiff(path string, img image.Image) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		return err
	}
	if got, ws := img.Bounds().Size(), want.Bounds().Size(); got != ws {
		return fmt.Errorf("size %v, want %v", got, ws)
	}
	const tol = 4
	bad, worst := 0, 0
	gb, wb := img.Bounds(), want.Bounds()
	for y := 0; y < gb.Dy(); y++ {
		for x := 0; x < gb.Dx(); x++ {
			g := color.NRGBAModel.Convert(img.At(gb.Min.X+x, gb.Min.Y+y)).(color.NRGBA)
			w := color.NRGBAModel.Convert(want.At(wb.Min.X+x, wb.Min.Y+y)).(color.NRGBA)
			d := max(absDiff(g.R, w.R), absDiff(g.G, w.G), absDiff(g.B, w.B), absDiff(g.A, w.A))
			worst = max(worst, d)
			if d > tol {
				bad++
			}
		}
	}
	if limit := gb.Dx() * gb.Dy() / 500; bad > limit {
		return fmt.Errorf("%d pixels differ by more than %d levels (worst %d), want at most %d", bad, tol, worst, limit)
	}
	return nil
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestPanelGolden(t *testing.T) {
	grey := zoomInput()
	grey.Source = imageio.New(1, 40, 30) // a 1-channel portrait source, enlarged x4
	for i := range grey.Source.Pix {
		grey.Source.Pix[i] = float32(i%30) / 29
	}
	grey.Grid, grey.GridH, grey.GridW = zoomGrid(20, 20, 0, 0, 0, 1), 20, 20
	grey.Title = ""
	uniform := zoomInput()
	uniform.Saliency, uniform.Grid, uniform.Warped = nil, nil, nil
	uniform.Title = "uniform baseline · predicted 3 (0.41)"
	tests := []struct {
		name string
		in   PanelInput
	}{
		{"panel_zoom.png", zoomInput()},
		{"panel_uniform.png", uniform},
		{"panel_grey_identity.png", grey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Panel(tt.in, PanelOptions{TileSize: 96})
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tt.name, img)
		})
	}
}

// The golden comparison must notice a real change, or it proves nothing.
func TestGoldenDetectsChange(t *testing.T) {
	in := zoomInput()
	in.Grid = zoomGrid(32, 32, 0, 0, 0, 1) // identity grid instead of the zoom
	img, err := Panel(in, PanelOptions{TileSize: 96})
	if err != nil {
		t.Fatal(err)
	}
	if err := goldenDiff(filepath.Join("testdata", "panel_zoom.png"), img); err == nil {
		t.Error("a panel with an identity grid matched the zoom golden image")
	}
}

func TestPanelLayout(t *testing.T) {
	uniform := zoomInput()
	uniform.Saliency, uniform.Grid, uniform.Warped = nil, nil, nil
	tests := []struct {
		name  string
		in    PanelInput
		tile  int
		tiles int
	}{
		{"full", zoomInput(), 192, 4},
		{"uniform model", uniform, 192, 2},
		{"small tiles", zoomInput(), 64, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Panel(tt.in, PanelOptions{TileSize: tt.tile})
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			pad := max(6, tt.tile/24)
			if got, want := b.Dx(), pad+tt.tiles*(tt.tile+pad); got != want {
				t.Errorf("width = %d, want %d", got, want)
			}
			if b.Dy() <= tt.tile || b.Dy() > tt.tile+100 {
				t.Errorf("height = %d, want a little over the tile size %d", b.Dy(), tt.tile)
			}
		})
	}
}

// lineDensity counts grid-line pixels (clearly greener than red, which the grey source,
// the white background and the grey labels never are) in a square window of side 2r
// around each of the given points in grid coordinates, mapped through the bounding box
// of all line pixels (the drawn extent of the grid, which spans the source).
func lineDensity(t *testing.T, img image.Image, r int, pts [][2]float64) []int {
	t.Helper()
	b := img.Bounds()
	isLine := func(x, y int) bool {
		c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
		return int(c.G)-int(c.R) > 40
	}
	box := image.Rectangle{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if isLine(x, y) {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if box.Dx() < 100 || box.Dy() < 100 {
		t.Fatalf("grid lines span %v, want most of a 192 px tile", box)
	}
	var out []int
	for _, p := range pts {
		cx := box.Min.X + int((p[0]+1)/2*float64(box.Dx()))
		cy := box.Min.Y + int((p[1]+1)/2*float64(box.Dy()))
		n := 0
		for y := cy - r; y < cy+r; y++ {
			for x := cx - r; x < cx+r; x++ {
				if isLine(x, y) {
					n++
				}
			}
		}
		out = append(out, n)
	}
	return out
}

func TestGridDenseWhereSalient(t *testing.T) {
	src := imageio.New(3, 200, 200)
	for i := range src.Pix {
		src.Pix[i] = 0.5
	}
	peak, far := [2]float64{0.4, -0.3}, [2]float64{-0.6, 0.6}
	tests := []struct {
		name     string
		amp      float64
		min, max float64 // bounds on density(peak) / density(far)
	}{
		{"peaked warp", 8, 2.5, math.Inf(1)},
		{"identity grid", 0, 0.5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := PanelInput{Source: src, Grid: zoomGrid(64, 64, peak[0], peak[1], tt.amp, 0.15), GridH: 64, GridW: 64}
			img, err := Panel(in, PanelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d := lineDensity(t, img, 24, [][2]float64{peak, far})
			if d[1] == 0 {
				t.Fatalf("no grid lines near %v", far)
			}
			ratio := float64(d[0]) / float64(d[1])
			if ratio < tt.min || ratio > tt.max {
				t.Errorf("line pixels at peak / far = %d / %d = %.2f, want in [%v, %v]", d[0], d[1], ratio, tt.min, tt.max)
			}
		})
	}
}

func TestGridIndices(t *testing.T) {
	tests := []struct {
		size, n int
		want    []int
	}{
		{5, 16, []int{0, 1, 2, 3, 4}},
		{31, 16, []int{0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}},
		{7, 3, []int{0, 3, 6}},
	}
	for _, tt := range tests {
		got := gridIndices(tt.size, tt.n)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("gridIndices(%d, %d) = %v, want %v", tt.size, tt.n, got, tt.want)
		}
	}
}

func TestPanelRejects(t *testing.T) {
	good := zoomInput()
	tests := []struct {
		name string
		mod  func(*PanelInput, *PanelOptions)
	}{
		{"no source", func(in *PanelInput, _ *PanelOptions) { in.Source = nil }},
		{"source pixels short", func(in *PanelInput, _ *PanelOptions) {
			in.Source = &imageio.Image{C: 3, H: 4, W: 4, Pix: make([]float32, 47)}
		}},
		{"source two channels", func(in *PanelInput, _ *PanelOptions) { in.Source = imageio.New(2, 4, 4) }},
		{"source empty", func(in *PanelInput, _ *PanelOptions) { in.Source = imageio.New(3, 0, 0) }},
		{"saliency size mismatch", func(in *PanelInput, _ *PanelOptions) { in.SalH = 30 }},
		{"saliency negative size", func(in *PanelInput, _ *PanelOptions) { in.SalH, in.SalW = -31, -31 }},
		{"saliency overflowing size", func(in *PanelInput, _ *PanelOptions) { in.SalH, in.SalW = 1<<62, 4 }},
		{"saliency empty", func(in *PanelInput, _ *PanelOptions) { in.Saliency = []float32{} }},
		{"saliency nan", func(in *PanelInput, _ *PanelOptions) { in.Saliency[5] = float32(math.NaN()) }},
		{"grid odd length", func(in *PanelInput, _ *PanelOptions) { in.Grid = in.Grid[:len(in.Grid)-1] }},
		{"grid shape swapped", func(in *PanelInput, _ *PanelOptions) { in.GridH, in.GridW = 16, 32 }},
		{"grid inf", func(in *PanelInput, _ *PanelOptions) { in.Grid[0] = float32(math.Inf(-1)) }},
		{"warped bad", func(in *PanelInput, _ *PanelOptions) { in.Warped = &imageio.Image{C: 3, H: 32, W: 32} }},
		{"uniform bad", func(in *PanelInput, _ *PanelOptions) { in.Uniform = &imageio.Image{C: 1, H: -1, W: -1} }},
		{"tile too small", func(_ *PanelInput, o *PanelOptions) { o.TileSize = 8 }},
		{"tile too big", func(_ *PanelInput, o *PanelOptions) { o.TileSize = 1 << 20 }},
		{"one grid line", func(_ *PanelInput, o *PanelOptions) { o.GridLines = 1 }},
		{"alpha above one", func(_ *PanelInput, o *PanelOptions) { o.HeatAlpha = 2 }},
		{"alpha nan", func(_ *PanelInput, o *PanelOptions) { o.HeatAlpha = math.NaN() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			in.Saliency = append([]float32(nil), good.Saliency...)
			in.Grid = append([]float32(nil), good.Grid...)
			var opts PanelOptions
			tt.mod(&in, &opts)
			img, err := Panel(in, opts)
			if err == nil {
				t.Fatalf("Panel = %v, nil error; want an error", img.Bounds())
			}
		})
	}
}

// Extreme but valid inputs draw without trouble.
func TestPanelExtremes(t *testing.T) {
	big := imageio.New(3, 1000, 20) // tall and thin, shrunk to fit
	one := imageio.New(3, 1, 1)
	tests := []struct {
		name string
		in   PanelInput
	}{
		{"one pixel everything", PanelInput{Source: one, Saliency: []float32{3}, SalH: 1, SalW: 1,
			Grid: []float32{0, 0}, GridH: 1, GridW: 1, Warped: one, Uniform: one, Title: "x"}},
		{"tall source", PanelInput{Source: big, Grid: zoomGrid(8, 3, 0, 0, 0, 1), GridH: 8, GridW: 3}},
		{"grid out of range", PanelInput{Source: one, Grid: []float32{-5, 7, 9, -9}, GridH: 1, GridW: 2}},
		{"constant saliency", PanelInput{Source: big, Saliency: make([]float32, 9), SalH: 3, SalW: 3}},
		{"long title", PanelInput{Source: one, Title: string(make([]rune, 500))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Panel(tt.in, PanelOptions{TileSize: 64}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzPanel(f *testing.F) {
	f.Add(3, 4, 5, 2, 2, 4, 3, 3, 8, 0, 0)
	f.Fuzz(func(t *testing.T, c, h, w, sh, sw, nSal, gh, gw, nGrid, wh, ww int) {
		mk := func(c, h, w int) *imageio.Image {
			if h < 0 || w < 0 || c < 0 || h > 300 || w > 300 || c > 4 {
				return &imageio.Image{C: c, H: h, W: w}
			}
			return imageio.New(c, h, w)
		}
		clip := func(n int) int { return min(max(n, 0), 5000) }
		in := PanelInput{Source: mk(c, h, w), Saliency: make([]float32, clip(nSal)), SalH: sh, SalW: sw,
			Grid: make([]float32, clip(nGrid)), GridH: gh, GridW: gw, Warped: mk(3, wh, ww)}
		_, _ = Panel(in, PanelOptions{TileSize: 32}) // must not panic
	})
}

func TestContactSheet(t *testing.T) {
	a := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	b := image.NewNRGBA(image.Rect(5, 5, 35, 55)) // offset bounds
	tests := []struct {
		name       string
		panels     []image.Image
		captions   []string
		cols       int
		wantErr    bool
		minW, minH int
	}{
		{"two by one", []image.Image{a, b}, []string{"a", "b"}, 2, false, 2 * 40, 50},
		{"wraps", []image.Image{a, b, a}, nil, 2, false, 2 * 40, 2 * 50},
		{"more columns than panels", []image.Image{a}, nil, 5, false, 40, 20},
		{"no panels", nil, nil, 2, true, 0, 0},
		{"zero columns", []image.Image{a}, nil, 0, true, 0, 0},
		{"caption count", []image.Image{a, b}, []string{"a"}, 2, true, 0, 0},
		{"nil panel", []image.Image{a, nil}, nil, 2, true, 0, 0},
		{"empty panel", []image.Image{image.NewNRGBA(image.Rect(0, 0, 0, 0))}, nil, 1, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := ContactSheet(tt.panels, tt.captions, tt.cols)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ContactSheet = %v, nil error; want an error", img.Bounds())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := img.Bounds().Size(); s.X < tt.minW || s.Y < tt.minH || s.X > tt.minW+60 || s.Y > tt.minH+80 {
				t.Errorf("size = %v, want a little over %dx%d", s, tt.minW, tt.minH)
			}
		})
	}
}

func TestWritePNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.SetNRGBA(2, 1, color.NRGBA{10, 20, 30, 255})
	if err := WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if c := color.NRGBAModel.Convert(got.At(2, 1)); c != (color.NRGBA{10, 20, 30, 255}) {
		t.Errorf("pixel = %v, want {10 20 30 255}", c)
	}
	if err := WritePNG(path, nil); err == nil {
		t.Error("WritePNG(nil) = nil, want an error")
	}
	if err := WritePNG(filepath.Join(t.TempDir(), "no", "dir.png"), img); err == nil {
		t.Error("WritePNG into a missing directory = nil, want an error")
	}
}
