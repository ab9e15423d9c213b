package data

import (
	"image"
	"math"
	"testing"
)

func TestNeedleOptionsValidate(t *testing.T) {
	checkValidate(t, DefaultNeedleOptions, []validateCase[NeedleOptions]{
		{"defaults", func(o *NeedleOptions) {}, ""},
		{"largest canvas", func(o *NeedleOptions) { o.Canvas = 1024 }, ""},
		{"canvas too big", func(o *NeedleOptions) { o.Canvas = 1025 }, "canvas"},
		{"canvas too small", func(o *NeedleOptions) { o.Canvas = 8 }, "canvas"},
		{"digit larger than canvas", func(o *NeedleOptions) { o.Canvas = 30 }, "exceeds"},
		{"empty digit range", func(o *NeedleOptions) { o.DigitMin, o.DigitMax = 30, 20 }, "empty"},
		{"tiny digit", func(o *NeedleOptions) { o.DigitMin = 2 }, "below"},
	})
}

// resample28 reads the canvas box back at 28 x 28 by nearest neighbour, a path that
// shares nothing with the generator's resampling.
func resample28(g *image.Gray, box image.Rectangle) []float64 {
	out := make([]float64, digitPixels)
	for y := 0; y < digitSide; y++ {
		for x := 0; x < digitSide; x++ {
			sx := box.Min.X + (2*x+1)*box.Dx()/(2*digitSide)
			sy := box.Min.Y + (2*y+1)*box.Dy()/(2*digitSide)
			out[y*digitSide+x] = float64(g.GrayAt(sx, sy).Y)
		}
	}
	return out
}

func correlation(a []float64, b []uint8) float64 {
	var ma, mb float64
	for k := range a {
		ma += a[k]
		mb += float64(b[k])
	}
	ma /= float64(len(a))
	mb /= float64(len(a))
	var sab, saa, sbb float64
	for k := range a {
		da, db := a[k]-ma, float64(b[k])-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestNeedleCanvasHoldsItsDigit checks each canvas against its placement: the digit is
// where the generator says (it correlates with the MNIST source digit read back from the
// box), fragments avoid it, and outside the digit and fragments there is only noise.
func TestNeedleCanvasHoldsItsDigit(t *testing.T) {
	tests := []struct {
		name string
		o    NeedleOptions
	}{
		{"defaults", DefaultNeedleOptions()},
		{"no clutter no noise", NeedleOptions{Canvas: 64, DigitMin: 20, DigitMax: 28, SynthOptions: SynthOptions{Train: 40, Val: 40}}},
		{"heavy clutter", NeedleOptions{Canvas: 96, DigitMin: 24, DigitMax: 40, SynthOptions: SynthOptions{Clutter: 12, Noise: 0.3, Train: 40, Val: 40, Seed: 7}}},
	}
	trainDigits, testDigits, err := loadDigits()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		tr, va, err := NewNeedle(tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		noiseTop := uint8(math.Round(255 * tt.o.Noise))
		for _, split := range []struct {
			name   string
			set    *NeedleSet
			digits *digitSet
		}{{"train", tr, trainDigits}, {"val", va, testDigits}} {
			clutterSeen := 0
			for i := 0; i < 40; i++ {
				g, p, err := split.set.Canvas(i, 3)
				if err != nil {
					t.Fatal(err)
				}
				where := tt.name + " " + split.name
				if p.Label != i%10 || int(split.digits.labels[p.Source]) != p.Label {
					t.Fatalf("%s canvas %d: label %d, source digit of class %d", where, i, p.Label, split.digits.labels[p.Source])
				}
				size := p.Digit.Dx()
				if p.Digit.Dy() != size || size < tt.o.DigitMin || size > tt.o.DigitMax || !p.Digit.In(g.Bounds()) {
					t.Fatalf("%s canvas %d: digit box %v", where, i, p.Digit)
				}
				if r := correlation(resample28(g, p.Digit), split.digits.digit(p.Source)); r < 0.7 {
					t.Errorf("%s canvas %d: box %v correlates %.2f with its source digit, want >= 0.7", where, i, p.Digit, r)
				}
				ink := 0
				for y := p.Digit.Min.Y; y < p.Digit.Max.Y; y++ {
					for x := p.Digit.Min.X; x < p.Digit.Max.X; x++ {
						if g.GrayAt(x, y).Y >= 128 {
							ink++
						}
					}
				}
				if ink < size*size/50 {
					t.Errorf("%s canvas %d: only %d bright pixels in the digit box", where, i, ink)
				}
				for _, c := range p.Clutter {
					if c.Overlaps(p.Digit) || !c.In(g.Bounds()) {
						t.Errorf("%s canvas %d: fragment %v overlaps digit %v or leaves the canvas", where, i, c, p.Digit)
					}
				}
				clutterSeen += len(p.Clutter)
				for y := 0; y < tt.o.Canvas; y++ {
					for x := 0; x < tt.o.Canvas; x++ {
						pt := image.Pt(x, y)
						covered := pt.In(p.Digit)
						for _, c := range p.Clutter {
							covered = covered || pt.In(c)
						}
						if v := g.GrayAt(x, y).Y; !covered && v > noiseTop {
							t.Fatalf("%s canvas %d: pixel (%d,%d) = %d outside digit and clutter, noise tops at %d", where, i, x, y, v, noiseTop)
						}
					}
				}
			}
			if tt.o.Clutter > 0 && clutterSeen < 40*tt.o.Clutter/2 {
				t.Errorf("%s %s: only %d fragments placed on 40 canvases of %d", tt.name, split.name, clutterSeen, tt.o.Clutter)
			}
		}
	}
}
