package viz

import (
	"math"

	"zoomtrain/internal/imageio"
)

// Test inputs built in closed form, independent of the sampler package.

// invCDF returns x in [-1, 1] with F(x) = q for the density p(x) ∝ 1 + a·N(x; c, s) on
// [-1, 1]. Sampling at invCDF((u+1)/2) for uniform u puts more samples (denser grid lines)
// where p is high, which is what the saliency sampler does around a saliency peak.
func invCDF(q, a, c, s float64) float64 {
	cdf := func(x float64) float64 {
		e := func(v float64) float64 { return math.Erf((v - c) / (s * math.Sqrt2)) }
		return (x + 1) + a*s*math.Sqrt(math.Pi/2)*(e(x)-e(-1))
	}
	total := cdf(1)
	lo, hi := -1.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if cdf(mid)/total < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// zoomGrid is an h x w x 2 separable grid that magnifies around (cx, cy) in grid
// coordinates; a = 0 gives the identity grid.
func zoomGrid(h, w int, cx, cy, a, s float64) []float32 {
	g := make([]float32, h*w*2)
	xs := make([]float64, w)
	for j := range xs {
		xs[j] = invCDF(float64(j)/float64(w-1), a, cx, s)
	}
	for i := range h {
		y := invCDF(float64(i)/float64(h-1), a, cy, s)
		for j := range w {
			g[2*(i*w+j)] = float32(xs[j])
			g[2*(i*w+j)+1] = float32(y)
		}
	}
	return g
}

// peakMap is an h x w softmax-like saliency map peaked at (cx, cy) in grid coordinates.
func peakMap(h, w int, cx, cy, s float64) []float32 {
	m := make([]float32, h*w)
	var sum float64
	for i := range h {
		y := -1 + 2*float64(i)/float64(h-1)
		for j := range w {
			x := -1 + 2*float64(j)/float64(w-1)
			v := 0.02 + math.Exp(-((x-cx)*(x-cx)+(y-cy)*(y-cy))/(2*s*s))
			m[i*w+j] = float32(v)
			sum += v
		}
	}
	for i := range m {
		m[i] /= float32(sum)
	}
	return m
}

// scene is a small synthetic photograph: a soft gradient, a checkerboard patch, a blue
// bar and a small red "needle" disk at (nx, ny) pixels.
func scene(h, w int, nx, ny float64) *imageio.Image {
	m := imageio.New(3, h, w)
	plane := h * w
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w-1), float64(y)/float64(h-1)
			r, g, b := 0.55+0.3*fx, 0.6+0.2*fy, 0.45+0.25*(1-fx)
			if x < w/4 && y > h/2 && (x/3+y/3)%2 == 0 {
				r, g, b = 0.15, 0.2, 0.15
			}
			if x > w/2 && x < w/2+w/10 && y > 2*h/3 {
				r, g, b = 0.1, 0.25, 0.8
			}
			if d := math.Hypot(float64(x)-nx, float64(y)-ny); d < 4 {
				r, g, b = 0.9, 0.1, 0.1
				if d < 1.5 {
					r, g, b = 1, 0.95, 0.3
				}
			}
			i := y*w + x
			m.Pix[i], m.Pix[plane+i], m.Pix[2*plane+i] = float32(r), float32(g), float32(b)
		}
	}
	return m
}

// gridSample samples src at grid (bilinear, border padding, align_corners = true): the
// reference semantics of SPEC.md, written plainly for building test inputs.
func gridSample(src *imageio.Image, grid []float32, h, w int) *imageio.Image {
	out := imageio.New(src.C, h, w)
	at := func(c, y, x int) float64 {
		y = min(max(y, 0), src.H-1)
		x = min(max(x, 0), src.W-1)
		return float64(src.At(c, y, x))
	}
	for i := range h {
		for j := range w {
			gx := math.Min(math.Max(float64(grid[2*(i*w+j)]), -1), 1)
			gy := math.Min(math.Max(float64(grid[2*(i*w+j)+1]), -1), 1)
			px, py := (gx+1)/2*float64(src.W-1), (gy+1)/2*float64(src.H-1)
			x0, y0 := int(math.Floor(px)), int(math.Floor(py))
			fx, fy := px-float64(x0), py-float64(y0)
			for c := range src.C {
				v := (at(c, y0, x0)*(1-fx)+at(c, y0, x0+1)*fx)*(1-fy) +
					(at(c, y0+1, x0)*(1-fx)+at(c, y0+1, x0+1)*fx)*fy
				out.Pix[(c*h+i)*w+j] = float32(v)
			}
		}
	}
	return out
}

// zoomInput is the full panel input used by the golden test and the examples.
func zoomInput() PanelInput {
	const h, w = 96, 128
	nx, ny := 88.0, 30.0
	cx, cy := 2*nx/(w-1)-1, 2*ny/(h-1)-1
	src := scene(h, w, nx, ny)
	grid := zoomGrid(32, 32, cx, cy, 12, 0.12)
	return PanelInput{
		Source:   src,
		Saliency: peakMap(31, 31, cx, cy, 0.15), SalH: 31, SalW: 31,
		Grid: grid, GridH: 32, GridW: 32,
		Warped:  gridSample(src, grid, 32, 32),
		Uniform: gridSample(src, zoomGrid(32, 32, 0, 0, 0, 1), 32, 32),
		Title:   "true 7 · predicted 7 (0.93)",
	}
}
