package viz

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"testing"

	"gonum.org/v1/plot"

	"zoomtrain/internal/metrics"
)

// history is n epochs of plausible training records; saliency runs learn further.
func history(n int, top1 float64) []metrics.Record {
	var rs []metrics.Record
	for e := 1; e <= n; e++ {
		f := float64(e) / float64(n)
		r := metrics.NewRecord(e, 100*e)
		r.TrainLoss, r.ValLoss = 2.3*math.Exp(-3*f)+0.1, 2.3*math.Exp(-2.5*f)+0.25
		r.TrainAcc = 1 - 0.9*math.Exp(-3*f)
		r.ValTop1 = top1 * (1 - 0.9*math.Exp(-3*f))
		r.ValTop5 = math.Min(1, r.ValTop1+0.15)
		r.BlurSigma = 8 * (1 - f)
		r.LR = map[string]float64{"task": 0.05*math.Cos(math.Pi/2*f) + 1e-4, "saliency": 0.005}
		rs = append(rs, r)
	}
	return rs
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return img
}

// countNear counts pixels within a few levels of c (anti-aliased edges blend away).
func countNear(img image.Image, c color.Color) int {
	want := color.NRGBAModel.Convert(c).(color.NRGBA)
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if max(absDiff(g.R, want.R), absDiff(g.G, want.G), absDiff(g.B, want.B)) <= 6 {
				n++
			}
		}
	}
	return n
}

func TestCurves(t *testing.T) {
	onlyTrain := []metrics.Record{metrics.NewRecord(1, 10), metrics.NewRecord(2, 20)}
	onlyTrain[0].TrainLoss, onlyTrain[1].TrainLoss = 2, 1
	withVal := history(3, 0.9)
	for i := range withVal {
		withVal[i].LR = nil // keep the second palette colour for val lines only
		withVal[i].ValTop1, withVal[i].ValTop5, withVal[i].TrainAcc = math.NaN(), math.NaN(), math.NaN()
	}
	nothing := []metrics.Record{metrics.NewRecord(0, 0), metrics.NewRecord(1, 0)}
	odd := history(5, 0.8)
	odd[1].TrainLoss = math.Inf(1)
	odd[2].LR = map[string]float64{"task": 0, "saliency": -1} // not plottable on a log axis
	odd[3].Epoch = odd[0].Epoch                               // a redone epoch
	odd[4].Epoch = -3
	second := palette(1) // the val line's colour in the loss plot
	tests := []struct {
		name       string
		records    []metrics.Record
		wantSecond bool
		wantH      int // the blur and lr panels go when both are constant
	}{
		{"one epoch", history(1, 0.9), true, curvesH/2 + 20},
		{"many epochs", history(200, 0.9), true, curvesH},
		{"train loss only", onlyTrain, false, curvesH},
		{"train and val loss", withVal, true, curvesH},
		{"no values at all", nothing, false, curvesH},
		{"odd values", odd, true, curvesH},
		{"constant blur and lr", constantSchedules(history(4, 0.9)), true, curvesH/2 + 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Curves(tt.records, "run · "+tt.name)
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, b)
			if got := img.Bounds().Size(); got != image.Pt(curvesW, tt.wantH) {
				t.Errorf("size = %v, want %dx%d", got, curvesW, tt.wantH)
			}
			if n := countNear(img, color.Black); n < 500 {
				t.Errorf("%d dark pixels, want axes and labels drawn", n)
			}
			n := countNear(img, second)
			if got := n > 20; got != tt.wantSecond {
				t.Errorf("pixels in the second series colour = %d, want present = %v", n, tt.wantSecond)
			}
		})
	}
}

func TestCurvesRejects(t *testing.T) {
	for _, rs := range [][]metrics.Record{nil, {}} {
		if _, err := Curves(rs, "x"); err == nil {
			t.Errorf("Curves(%v) = nil error, want one", rs)
		}
	}
}

func TestCompareRuns(t *testing.T) {
	noVal := []metrics.Record{metrics.NewRecord(1, 1)}
	tests := []struct {
		name    string
		runs    []Run
		wantErr bool
		colours int // palette colours that must appear
	}{
		{"two runs", []Run{{"saliency", history(30, 0.95)}, {"uniform", history(20, 0.6)}}, false, 2},
		{"single epoch", []Run{{"a", history(1, 0.5)}}, false, 1},
		{"one run without validation", []Run{{"a", history(5, 0.5)}, {"b", noVal}}, false, 1},
		{"many runs", []Run{{"r0", history(4, 0.1)}, {"r1", history(4, 0.2)}, {"r2", history(4, 0.3)},
			{"r3", history(4, 0.4)}, {"r4", history(4, 0.5)}, {"r5", history(4, 0.6)},
			{"r6", history(4, 0.7)}, {"r7", history(4, 0.8)}, {"r8", history(4, 0.9)}}, false, lineColours},
		{"no runs", nil, true, 0},
		{"no validation anywhere", []Run{{"a", noVal}, {"b", nil}}, true, 0},
		{"repeated name", []Run{{"a", history(2, 0.5)}, {"a", history(2, 0.5)}}, true, 0},
		{"empty name", []Run{{"", history(2, 0.5)}}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := CompareRuns(tt.runs)
			if tt.wantErr {
				if err == nil {
					t.Fatal("CompareRuns = nil error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, b)
			if got := img.Bounds().Size(); got != image.Pt(compareW, compareH) {
				t.Errorf("size = %v, want %dx%d", got, compareW, compareH)
			}
			for i := range tt.colours {
				if n := countNear(img, palette(i)); n < 20 {
					t.Errorf("run %d's colour covers %d pixels, want a drawn line", i, n)
				}
			}
		})
	}
}

// Every line of a plot differs from the others in colour or dashes for 14 lines, and in
// colour or marker for 28; the first lines' colours are all different, and the lines
// of the two blues and of vermillion and orange differ in dashes and marker too.
func TestLineStyleDistinct(t *testing.T) {
	type look struct{ colour, dashes, glyph string }
	seen2, seen3 := map[[2]string]int{}, map[look]int{}
	colours := map[string]int{}
	for i := range 28 {
		ls, g := lineStyle(i)
		l := look{fmt.Sprint(ls.Color), fmt.Sprint(ls.Dashes), fmt.Sprintf("%T", g)}
		if ls.Color != palette(i) || ls.Width <= 0 {
			t.Errorf("line %d: colour %v (palette %v), width %v", i, ls.Color, palette(i), ls.Width)
		}
		if j, ok := seen2[[2]string{l.colour, l.dashes}]; ok && i < 14 {
			t.Errorf("lines %d and %d share colour %s and dashes %s", j, i, l.colour, l.dashes)
		}
		if j, ok := seen3[look{l.colour, "", l.glyph}]; ok {
			t.Errorf("lines %d and %d share colour %s and marker %s", j, i, l.colour, l.glyph)
		}
		seen2[[2]string{l.colour, l.dashes}], seen3[look{l.colour, "", l.glyph}] = i, i
		if i < lineColours {
			if j, ok := colours[l.colour]; ok {
				t.Errorf("lines %d and %d share colour %s", j, i, l.colour)
			}
			colours[l.colour] = i
		}
	}
	for _, pair := range [][2]int{{0, 5}, {1, 4}} { // blue and sky blue, vermillion and orange
		a, ga := lineStyle(pair[0])
		b, gb := lineStyle(pair[1])
		if fmt.Sprint(a.Dashes) == fmt.Sprint(b.Dashes) || fmt.Sprintf("%T", ga) == fmt.Sprintf("%T", gb) {
			t.Errorf("lines %d and %d, of alike colours, share dashes or marker", pair[0], pair[1])
		}
	}
}

func TestByEpoch(t *testing.T) {
	mk := func(epoch, step int) metrics.Record { return metrics.Record{Epoch: epoch, Step: step} }
	in := []metrics.Record{mk(2, 20), mk(1, 10), mk(2, 21), mk(3, 30), mk(1, 11)}
	got := byEpoch(in)
	want := []metrics.Record{mk(1, 11), mk(2, 21), mk(3, 30)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("byEpoch = %v, want %v", got, want)
	}
	if in[0].Epoch != 2 {
		t.Errorf("byEpoch reordered its input: %v", in)
	}
}

func TestIntegerTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   string
	}{
		{0, 2, "[0 1 2]"},
		{1, 1, "[1]"},
		{0.5, 3.5, "[1 2 3]"},
		{1, 40, "[5 10 15 20 25 30 35 40]"},
		{-3, 12, "[-2 0 2 4 6 8 10 12]"},
		{0, 1000, "[0 200 400 600 800 1000]"},
		{5, 3, "[]"},
	}
	for _, tt := range tests {
		var vals []float64
		for _, tk := range (integerTicks{}).Ticks(tt.lo, tt.hi) {
			if tk.Label != "" {
				vals = append(vals, tk.Value)
			}
		}
		if got := fmt.Sprint(vals); got != tt.want {
			t.Errorf("labelled ticks on [%v, %v] = %s, want %s", tt.lo, tt.hi, got, tt.want)
		}
	}
	if got := (integerTicks{}).Ticks(math.NaN(), 3); got != nil {
		t.Errorf("ticks on [NaN, 3] = %v, want none", got)
	}
	for _, tk := range (integerTicks{}).Ticks(0, 500) {
		if tk.Value != math.Trunc(tk.Value) {
			t.Errorf("tick %v on [0, 500] is not a whole epoch", tk.Value)
		}
	}
}

func constantSchedules(rs []metrics.Record) []metrics.Record {
	for i := range rs {
		rs[i].BlurSigma = 0
		rs[i].LR = map[string]float64{"task": 1e-3, "saliency": 1e-3}
	}
	return rs
}

func TestDistinctTicks(t *testing.T) {
	for _, r := range [][2]float64{{2.28, 2.31}, {2.2995, 2.3005}, {0, 10}, {0.001, 0.0012}} {
		ts := distinctTicks{plot.DefaultTicks{}}.Ticks(r[0], r[1])
		seen := map[string]bool{}
		n := 0
		for _, tk := range ts {
			if tk.Label == "" {
				continue
			}
			n++
			if seen[tk.Label] {
				t.Errorf("range %v: label %q repeats in %v", r, tk.Label, ts)
			}
			seen[tk.Label] = true
		}
		if n < 2 {
			t.Errorf("range %v: %d labelled ticks", r, n)
		}
	}
}

func TestCappedTicks(t *testing.T) {
	for _, tk := range (cappedTicks{plot.DefaultTicks{}, 100}).Ticks(0, 128) {
		if tk.Value > 100 {
			t.Errorf("tick %v above the cap", tk.Value)
		}
	}
}
