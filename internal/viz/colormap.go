package viz

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// colormap is a 256-entry perceptual colour map in the spirit of matplotlib's inferno:
// near-black through purple, red and orange to pale yellow. It is computed here, not
// tabulated: lightness rises linearly in OKLab (so equal steps in value look like equal
// steps in brightness, and the map survives greyscale printing), the hue turns from
// purple to yellow, and the chroma is the wanted one cut back to what sRGB can show.
type colormap [256]color.NRGBA

func newColormap() *colormap {
	var cm colormap
	for i := range cm {
		t := float64(i) / 255
		l := 0.08 + 0.89*t
		hue := (290 + 170*t) * math.Pi / 180
		want := 0.20*math.Pow(math.Sin(math.Pi*t), 0.7) + 0.07*t
		// Largest chroma up to want that stays inside the sRGB gamut.
		lo, hi := 0.0, want
		for range 30 {
			mid := (lo + hi) / 2
			if _, ok := oklabToSRGB(l, mid*math.Cos(hue), mid*math.Sin(hue)); ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		rgb, _ := oklabToSRGB(l, lo*math.Cos(hue), lo*math.Sin(hue))
		cm[i] = color.NRGBA{to8(rgb[0]), to8(rgb[1]), to8(rgb[2]), 255}
	}
	return &cm
}

// at maps t in [0, 1] (clamped; NaN to 0) to a colour.
func (cm *colormap) at(t float64) color.NRGBA {
	if !(t > 0) {
		return cm[0]
	}
	if t >= 1 {
		return cm[255]
	}
	return cm[int(t*255+0.5)]
}

// oklabToSRGB converts OKLab (Ottosson 2020) to gamma-encoded sRGB in [0, 1]; ok is false
// when the colour lies outside the sRGB gamut.
func oklabToSRGB(l, a, b float64) ([3]float64, bool) {
	l1 := l + 0.3963377774*a + 0.2158037573*b
	m1 := l - 0.1055613458*a - 0.0638541728*b
	s1 := l - 0.0894841775*a - 1.2914855480*b
	l3, m3, s3 := l1*l1*l1, m1*m1*m1, s1*s1*s1
	lin := [3]float64{
		+4.0767416621*l3 - 3.3077115913*m3 + 0.2309699292*s3,
		-1.2684380046*l3 + 2.6097574011*m3 - 0.3413193965*s3,
		-0.0041960863*l3 - 0.7034186147*m3 + 1.7076147010*s3,
	}
	ok := true
	var out [3]float64
	for i, v := range lin {
		const eps = 1e-9
		if v < -eps || v > 1+eps {
			ok = false
		}
		v = math.Min(math.Max(v, 0), 1)
		if v <= 0.0031308 {
			out[i] = 12.92 * v
		} else {
			out[i] = 1.055*math.Pow(v, 1/2.4) - 0.055
		}
	}
	return out, ok
}

func to8(v float64) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(255 * v))
}

// checkFinite reports the first non-finite value in values.
func checkFinite(what string, values []float32) error {
	for i, v := range values {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s value %d is %v", what, i, v)
		}
	}
	return nil
}

// checkShape reports whether values holds exactly h x w x depth numbers, without
// overflowing on absurd h and w.
func checkShape(what string, n, h, w, depth int) error {
	if h <= 0 || w <= 0 {
		return fmt.Errorf("%s size %dx%d is not positive", what, h, w)
	}
	if n%depth != 0 || n/depth%w != 0 || n/depth/w != h {
		return fmt.Errorf("%s has %d values, want %dx%dx%d", what, n, h, w, depth)
	}
	return nil
}

// normalise maps values linearly so that their minimum is 0 and maximum 1; a constant
// map becomes all 0.
func normalise(values []float32) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		lo = math.Min(lo, float64(v))
		hi = math.Max(hi, float64(v))
	}
	out := make([]float64, len(values))
	if hi > lo {
		for i, v := range values {
			out[i] = (float64(v) - lo) / (hi - lo)
		}
	}
	return out
}

// Heatmap renders an h x w map (row-major, row = y) with one pixel per cell, scaled so the
// smallest value is the darkest colour and the largest the brightest.
func Heatmap(values []float32, h, w int) (image.Image, error) {
	if err := checkShape("heatmap", len(values), h, w, 1); err != nil {
		return nil, err
	}
	if err := checkFinite("heatmap", values); err != nil {
		return nil, err
	}
	cm := newColormap()
	norm := normalise(values)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, cm.at(norm[y*w+x]))
		}
	}
	return img, nil
}
