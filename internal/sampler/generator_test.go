package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// directRaw is the paper's direct form, kept as the reference for the separable one: pad
// the map, multiply by the coordinates, correlate with the (2P+1)^2 kernel. zeroPad pads
// with zeros instead of the mode, to show what the padding is for.
func directRaw(p Params, s []float64, zeroPad bool) (den, nx, ny []float64) {
	h, w, P := p.H, p.W, p.Padding
	hp, wp := h+2*P, w+2*P
	pad := func(i, n int) int { // index into the map, or -1 for a zero
		q := i - P
		switch {
		case zeroPad:
			if q < 0 || q >= n {
				return -1
			}
		case p.Mode == Reflect:
			for q < 0 || q >= n {
				if q < 0 {
					q = -q
				} else {
					q = 2*(n-1) - q
				}
			}
		default:
			q = min(max(q, 0), n-1)
		}
		return q
	}
	sp := make([]float64, hp*wp)
	for i := range hp {
		for j := range wp {
			if qi, qj := pad(i, h), pad(j, w); qi >= 0 && qj >= 0 {
				sp[i*wp+j] = s[qi*w+qj]
			}
		}
	}
	k := make([]float64, (2*P+1)*(2*P+1))
	for a := 0; a <= 2*P; a++ {
		for b := 0; b <= 2*P; b++ {
			d2 := float64((a-P)*(a-P) + (b-P)*(b-P))
			k[a*(2*P+1)+b] = math.Exp(-4 * math.Ln2 * d2 / (p.FWHM * p.FWHM))
		}
	}
	den, nx, ny = make([]float64, h*w), make([]float64, h*w), make([]float64, h*w)
	for i := range h {
		for j := range w {
			var d, x, y float64
			for a := 0; a <= 2*P; a++ {
				for b := 0; b <= 2*P; b++ {
					v := sp[(i+a)*wp+j+b] * k[a*(2*P+1)+b]
					d += v
					x += v * float64(j+b-P) / float64(w-1)
					y += v * float64(i+a-P) / float64(h-1)
				}
			}
			den[i*w+j], nx[i*w+j], ny[i*w+j] = d, x, y
		}
	}
	return den, nx, ny
}

func randomMap(rng *rand.Rand, h, w int) []float64 {
	s := make([]float64, h*w)
	for i := range s {
		s[i] = rng.Float64() + 0.01
	}
	return s
}

// peakedMap is a floor plus a few Gaussian bumps, like a trained saliency map.
func peakedMap(rng *rand.Rand, h, w int) []float64 {
	s := make([]float64, h*w)
	for i := range s {
		s[i] = 1e-3
	}
	for range 1 + rng.IntN(3) {
		cy, cx := rng.Float64()*float64(h), rng.Float64()*float64(w)
		r := 0.5 + rng.Float64()*float64(min(h, w))/4
		a := 1 + 20*rng.Float64()
		for i := range h {
			for j := range w {
				d := (float64(i)-cy)*(float64(i)-cy) + (float64(j)-cx)*(float64(j)-cx)
				s[i*w+j] += a * math.Exp(-d/(2*r*r))
			}
		}
	}
	return s
}

var formCases = []Params{
	DefaultParams(),
	{H: 7, W: 12, Padding: 5, FWHM: 3.5, Mode: Replicate},
	{H: 16, W: 9, Padding: 8, FWHM: 6, Mode: Replicate},
	{H: 5, W: 6, Padding: 0, FWHM: 2, Mode: Replicate},
	{H: 31, W: 31, Padding: 30, FWHM: 13, Mode: Reflect},
	{H: 12, W: 9, Padding: 8, FWHM: 5, Mode: Reflect},
	{H: 6, W: 14, Padding: 5, FWHM: 2.5, Mode: Reflect},
}

func TestSeparableMatchesDirectForm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range formCases {
		t.Run(fmt.Sprintf("%dx%d_P%d_%s", p.W, p.H, p.Padding, p.Mode), func(t *testing.T) {
			g, err := NewGenerator(p)
			if err != nil {
				t.Fatal(err)
			}
			h, w := p.H, p.W
			for trial := range 2 {
				s := randomMap(rng, h, w)
				if trial == 1 {
					s = peakedMap(rng, h, w)
				}
				den, nx, ny := directRaw(p, s, false)
				ws := newWork[float64](h, g.m64.wp)
				raw(&g.m64, h, w, s, ws)
				var worst float64
				for i := range h {
					for j := range w {
						wp := g.m64.wp
						got := [3]float64{ws.pr[i*2*wp+j], ws.pr[i*2*wp+wp+j], ws.ny[i*wp+j]}
						want := [3]float64{den[i*w+j], nx[i*w+j], ny[i*w+j]}
						for k := range got {
							// Relative to den: num_x and num_y may be near zero.
							worst = max(worst, math.Abs(got[k]-want[k])/math.Abs(den[i*w+j]))
						}
					}
				}
				if worst > 1e-12 {
					t.Errorf("trial %d: separable form differs from the direct form by %g relative, want under 1e-12", trial, worst)
				}
				grid := make([]float64, 2*h*w)
				Grid(g, s, 1, grid)
				for c := range h * w {
					wx := clamp1(2*nx[c]/den[c] - 1)
					wy := clamp1(2*ny[c]/den[c] - 1)
					if d := max(math.Abs(grid[2*c]-wx), math.Abs(grid[2*c+1]-wy)); d > 1e-12 {
						t.Fatalf("trial %d cell %d: grid (%g, %g), want (%g, %g)", trial, c, grid[2*c], grid[2*c+1], wx, wy)
					}
				}
			}
		})
	}
}

func identityDeviation(grid []float32, h, w int) float64 {
	var worst float64
	for i := range h {
		for j := range w {
			x := -1 + 2*float64(j)/float64(w-1)
			y := -1 + 2*float64(i)/float64(h-1)
			c := i*w + j
			worst = max(worst, math.Abs(float64(grid[2*c])-x), math.Abs(float64(grid[2*c+1])-y))
		}
	}
	return worst
}

func TestUniformMapGivesIdentityGrid(t *testing.T) {
	for _, p := range []Params{
		DefaultParams(),
		{H: 12, W: 20, Padding: 11, FWHM: 5, Mode: Replicate},
		{H: 9, W: 4, Padding: 6, FWHM: 3, Mode: Replicate},
		{H: 31, W: 17, Padding: 16, FWHM: 13, Mode: Reflect},
	} {
		t.Run(fmt.Sprintf("%dx%d_%s", p.W, p.H, p.Mode), func(t *testing.T) {
			g, err := NewGenerator(p)
			if err != nil {
				t.Fatal(err)
			}
			s := make([]float32, p.H*p.W)
			for i := range s {
				s[i] = 1 / float32(len(s))
			}
			grid := make([]float32, 2*len(s))
			Grid(g, s, 1, grid)
			if d := identityDeviation(grid, p.H, p.W); d > 1e-5 {
				t.Errorf("uniform map: grid deviates from the identity by %g, want under 1e-5", d)
			}
		})
	}
}

// TestZeroPaddingPullsBorderIn shows that the padding mode matters: with zeros beyond the
// border the same uniform map would pull the border cells towards the centre.
func TestZeroPaddingPullsBorderIn(t *testing.T) {
	p := DefaultParams()
	s := make([]float64, p.H*p.W)
	for i := range s {
		s[i] = 1
	}
	den, nx, _ := directRaw(p, s, true)
	border := 2*nx[0]/den[0] - 1 // cell (0, 0): x should be -1
	if pull := border + 1; pull < 0.1 {
		t.Errorf("zero padding: border x = %g, pulled in by %g; want a pull of at least 0.1 (about 0.27)", border, pull)
	}
}

func TestNoFolding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range []Params{DefaultParams(), {H: 11, W: 23, Padding: 10, FWHM: 6, Mode: Reflect}} {
		g, err := NewGenerator(p)
		if err != nil {
			t.Fatal(err)
		}
		h, w := p.H, p.W
		for trial := range 20 {
			s := peakedMap(rng, h, w)
			grid := make([]float64, 2*h*w)
			Grid(g, s, 1, grid)
			s32 := make([]float32, len(s))
			for i, v := range s {
				s32[i] = float32(v)
			}
			grid32 := make([]float32, 2*h*w)
			Grid(g, s32, 1, grid32)
			for i := range h {
				for j := range w {
					c := i*w + j
					if d := math.Abs(float64(grid32[2*c]) - grid[2*c]); d > 1e-5 {
						t.Fatalf("%+v trial %d: float32 x at (%d,%d) is %g off float64", p, trial, i, j, d)
					}
					if j > 0 && grid[2*c] < grid[2*(c-1)]-1e-12 {
						t.Errorf("%+v trial %d: x folds at row %d col %d: %g after %g", p, trial, i, j, grid[2*c], grid[2*(c-1)])
					}
					if i > 0 && grid[2*c+1] < grid[2*(c-w)+1]-1e-12 {
						t.Errorf("%+v trial %d: y folds at col %d row %d: %g after %g", p, trial, j, i, grid[2*c+1], grid[2*(c-w)+1])
					}
				}
			}
		}
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"default", DefaultParams(), true},
		{"reflect fits", Params{H: 31, W: 31, Padding: 30, FWHM: 13, Mode: Reflect}, true},
		{"reflect too wide", Params{H: 31, W: 31, Padding: 31, FWHM: 13, Mode: Reflect}, false},
		{"reflect too wide for width", Params{H: 40, W: 10, Padding: 12, FWHM: 13, Mode: Reflect}, false},
		{"replicate wide padding", Params{H: 4, W: 4, Padding: 30, FWHM: 13, Mode: Replicate}, true},
		{"one row", Params{H: 1, W: 31, Padding: 3, FWHM: 13, Mode: Replicate}, false},
		{"negative padding", Params{H: 8, W: 8, Padding: -1, FWHM: 13, Mode: Replicate}, false},
		{"zero fwhm", Params{H: 8, W: 8, Padding: 3, FWHM: 0, Mode: Replicate}, false},
		{"nan fwhm", Params{H: 8, W: 8, Padding: 3, FWHM: math.NaN(), Mode: Replicate}, false},
		{"unknown mode", Params{H: 8, W: 8, Padding: 3, FWHM: 3, Mode: "zeros"}, false},
		{"side past the limit", Params{H: 2, W: MaxGridSide + 1, Padding: 3, FWHM: 3, Mode: Replicate}, false},
		{"2 x 200000", Params{H: 2, W: 200000, Padding: 3, FWHM: 3, Mode: Replicate}, false},
		{"too many cells", Params{H: 1100, W: 1100, Padding: 3, FWHM: 3, Mode: Replicate}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(tt.p)
			if got := err == nil; got != tt.ok {
				t.Fatalf("NewGenerator(%+v) error = %v, want ok = %t", tt.p, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrParams) {
				t.Errorf("error %v does not wrap ErrParams", err)
			}
		})
	}
	// The longest side itself is allowed (Validate alone: building it takes 200 MB).
	if err := (Params{H: 2, W: MaxGridSide, Padding: 3, FWHM: 3, Mode: Replicate}).Validate(); err != nil {
		t.Errorf("a grid of side MaxGridSide: %v", err)
	}
}
