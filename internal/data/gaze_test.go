package data

import (
	"image"
	"math"
	"testing"
)

func TestGazeOptionsValidate(t *testing.T) {
	checkValidate(t, DefaultGazeOptions, []validateCase[GazeOptions]{
		{"defaults", func(o *GazeOptions) {}, ""},
		{"largest canvas", func(o *GazeOptions) { o.Canvas = 1024 }, ""},
		{"one eye size", func(o *GazeOptions) { o.EyeMin, o.EyeMax = 7, 7 }, ""},
		{"eye filling the canvas", func(o *GazeOptions) { o.Canvas, o.EyeMin, o.EyeMax = 16, 8, 8 }, ""},
		{"canvas too big", func(o *GazeOptions) { o.Canvas = 1025 }, "canvas"},
		{"canvas too small", func(o *GazeOptions) { o.Canvas = 8 }, "canvas"},
		{"eye larger than canvas", func(o *GazeOptions) { o.Canvas, o.EyeMax = 16, 8.5 }, "does not fit"},
		{"empty eye range", func(o *GazeOptions) { o.EyeMin, o.EyeMax = 8, 6 }, "empty"},
		{"tiny eye", func(o *GazeOptions) { o.EyeMin = 1.5 }, "below"},
		{"NaN eye", func(o *GazeOptions) { o.EyeMin = math.NaN() }, "below"},
		{"infinite eye", func(o *GazeOptions) { o.EyeMax = math.Inf(1) }, "empty"},
	})
	if _, _, err := NewGaze(GazeOptions{}); err == nil {
		t.Errorf("NewGaze with zero options: got nil error")
	}
}

// pixelSquare returns the nearest and farthest distance of pixel (x, y)'s square from
// the point (px, py): a geometric judgement that shares nothing with the supersampling.
func pixelSquare(x, y int, px, py float64) (near, far float64) {
	cx := math.Max(float64(x), math.Min(px, float64(x+1)))
	cy := math.Max(float64(y), math.Min(py, float64(y+1)))
	near = math.Hypot(cx-px, cy-py)
	fx := math.Max(math.Abs(float64(x)-px), math.Abs(float64(x+1)-px))
	fy := math.Max(math.Abs(float64(y)-py), math.Abs(float64(y+1)-py))
	return near, math.Hypot(fx, fy)
}

// TestGazeCanvasHoldsItsEye checks each canvas against its placement: the eye is inside
// the canvas and its box; pixels wholly in the sclera, iris or pupil have exactly their
// shade; clutter stays off the eye; everything else is noise.
func TestGazeCanvasHoldsItsEye(t *testing.T) {
	tests := []struct {
		name string
		o    GazeOptions
	}{
		{"defaults", DefaultGazeOptions()},
		{"large eyes, no clutter, no noise", GazeOptions{Canvas: 96, EyeMin: 12, EyeMax: 30, SynthOptions: SynthOptions{Train: 30, Val: 30}}},
		{"heavy clutter", GazeOptions{Canvas: 128, EyeMin: 4, EyeMax: 10, SynthOptions: SynthOptions{Clutter: 16, Noise: 0.3, Train: 30, Val: 30, Seed: 5}}},
	}
	canvases := 30
	if testing.Short() {
		canvases = 10
	}
	for _, tt := range tests {
		tr, va, err := NewGaze(tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		noiseTop := uint8(math.Round(255 * tt.o.Noise))
		for _, split := range []struct {
			name string
			set  *GazeSet
		}{{"train", tr}, {"val", va}} {
			clutterSeen, whole := 0, [3]int{}
			for i := 0; i < canvases; i++ {
				where := tt.name + " " + split.name
				g, p, err := split.set.Canvas(i, 2)
				if err != nil {
					t.Fatal(err)
				}
				cx, cy, r := p.Centre[0], p.Centre[1], p.Radius
				ix, iy := p.Iris()
				if r < tt.o.EyeMin || r > tt.o.EyeMax || cx-r < 0 || cy-r < 0 || cx+r > float64(tt.o.Canvas) || cy+r > float64(tt.o.Canvas) {
					t.Fatalf("%s canvas %d: eye at (%v, %v) radius %v", where, i, cx, cy, r)
				}
				if got := math.Hypot(ix-cx, iy-cy); math.Abs(got-math.Hypot(p.Gaze[0], p.Gaze[1])*r/2) > 1e-9 || got > r/2+1e-9 {
					t.Fatalf("%s canvas %d: iris %v from the centre, gaze %v, radius %v", where, i, got, p.Gaze, r)
				}
				var targets [2]float32
				if err := split.set.Targets(i, 2, targets[:]); err != nil || targets != [2]float32{float32(p.Gaze[0]), float32(p.Gaze[1])} {
					t.Fatalf("%s canvas %d: Targets %v (error %v), placement gaze %v", where, i, targets, err, p.Gaze)
				}
				for _, c := range p.Clutter {
					if c.Overlaps(p.Box.Inset(-2)) || !c.In(g.Bounds()) {
						t.Errorf("%s canvas %d: fragment %v near eye box %v or off the canvas", where, i, c, p.Box)
					}
				}
				clutterSeen += len(p.Clutter)
				for y := 0; y < tt.o.Canvas; y++ {
					for x := 0; x < tt.o.Canvas; x++ {
						v := g.GrayAt(x, y).Y
						near, far := pixelSquare(x, y, cx, cy)
						inear, ifar := pixelSquare(x, y, ix, iy)
						want, known := uint8(0), true
						switch {
						case far <= r && inear > r/2:
							want = scleraShade
							whole[0]++
						case ifar <= r/2 && inear > r/4:
							want = irisShade
							whole[1]++
						case ifar <= r/4:
							want = pupilShade
							whole[2]++
						default:
							known = false
						}
						if known && v != want {
							t.Fatalf("%s canvas %d: pixel (%d,%d) = %d, want %d", where, i, x, y, v, want)
						}
						covered := image.Pt(x, y).In(p.Box) && near <= r
						for _, c := range p.Clutter {
							covered = covered || image.Pt(x, y).In(c)
						}
						if !covered && v > noiseTop {
							t.Fatalf("%s canvas %d: pixel (%d,%d) = %d off the eye's disc and clutter, noise tops at %d", where, i, x, y, v, noiseTop)
						}
					}
				}
			}
			if tt.o.Clutter > 0 && clutterSeen < canvases*tt.o.Clutter/2 {
				t.Errorf("%s %s: only %d fragments placed on %d canvases of %d", tt.name, split.name, clutterSeen, canvases, tt.o.Clutter)
			}
			if whole[0] == 0 || whole[1] == 0 || (tt.o.EyeMin >= 8 && whole[2] == 0) {
				t.Errorf("%s %s: pixels wholly in sclera, iris and pupil: %v", tt.name, split.name, whole)
			}
		}
	}
}

// irisCentroid measures the iris from the pixels: the centroid of the darkness (sclera
// shade minus pixel) over the pixels whose centres are within radius-1 of the eye's
// centre, as an offset from that centre.
func irisCentroid(g *image.Gray, cx, cy, r float64) (dx, dy float64) {
	var sw, sx, sy float64
	for y := int(cy - r); y <= int(cy+r); y++ {
		for x := int(cx - r); x <= int(cx+r); x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			if math.Hypot(px-cx, py-cy) > r-1 || !image.Pt(x, y).In(g.Bounds()) {
				continue
			}
			w := math.Max(0, scleraShade-float64(g.GrayAt(x, y).Y))
			sw += w
			sx += w * (px - cx)
			sy += w * (py - cy)
		}
	}
	return sx / sw, sy / sw
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for k := range a {
		ma += a[k]
		mb += b[k]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for k := range a {
		sab += (a[k] - ma) * (b[k] - mb)
		saa += (a[k] - ma) * (a[k] - ma)
		sbb += (b[k] - mb) * (b[k] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// The iris measured from the pixels moves with the gaze.
func TestGazeIrisFollowsGaze(t *testing.T) {
	tests := []struct {
		name    string
		o       GazeOptions
		minCorr float64
	}{
		{"large eyes", GazeOptions{Canvas: 256, EyeMin: 20, EyeMax: 30, SynthOptions: SynthOptions{Clutter: 4, Noise: 0.1, Val: 200}}, 0.99},
		{"default sizes", func() GazeOptions { o := DefaultGazeOptions(); o.Val = 200; return o }(), 0.99},
	}
	for _, tt := range tests {
		_, va, err := NewGaze(tt.o)
		if err != nil {
			t.Fatal(err)
		}
		var gx, gy, mx, my []float64
		for i := 0; i < va.Len(); i++ {
			g, p, err := va.Canvas(i, 0)
			if err != nil {
				t.Fatal(err)
			}
			dx, dy := irisCentroid(g, p.Centre[0], p.Centre[1], p.Radius)
			gx, gy = append(gx, p.Gaze[0]), append(gy, p.Gaze[1])
			mx, my = append(mx, dx/(p.Radius/2)), append(my, dy/(p.Radius/2))
		}
		cx, cy := pearson(gx, mx), pearson(gy, my)
		t.Logf("%s: correlation of the measured iris offset with gx %.4f, gy %.4f", tt.name, cx, cy)
		if cx < tt.minCorr || cy < tt.minCorr {
			t.Errorf("%s: measured iris correlates %.4f with gx and %.4f with gy, want >= %v", tt.name, cx, cy, tt.minCorr)
		}
	}
}

// A gaze change of a fraction of a pixel changes the pixels, and the measured iris
// moves by about as much.
func TestGazeSubPixel(t *testing.T) {
	for _, r := range []float64{6, 7.3} {
		base := eye{cx: 20.3, cy: 19.8, r: r, gx: 0.1, gy: -0.2}
		var prevX float64
		for k, step := range []float64{0, 0.1, 0.2} { // iris moves by step * r/2 pixels
			e := base
			e.gx += step
			g := image.NewGray(image.Rect(0, 0, 40, 40))
			drawEye(g, e)
			dx, _ := irisCentroid(g, e.cx, e.cy, e.r)
			if k > 0 {
				moved, want := dx-prevX, 0.1*r/2
				if math.Abs(moved-want) > 0.35*want {
					t.Errorf("radius %v: iris moved %.3f px by %.3f: measured %.3f", r, want, step, moved)
				}
			}
			prevX = dx
		}
	}
}

func TestGazeTargetsUniformOverDisc(t *testing.T) {
	o := DefaultGazeOptions()
	o.Train, o.Val = 4000, 0
	tr, _, err := NewGaze(o)
	if err != nil {
		t.Fatal(err)
	}
	var mean [2]float64
	var inner, quadrant [4]int
	n := tr.Len()
	for i := 0; i < n; i++ {
		var g [2]float32
		if err := tr.Targets(i, 0, g[:]); err != nil {
			t.Fatal(err)
		}
		x, y := float64(g[0]), float64(g[1])
		r2 := x*x + y*y
		if r2 > 1+1e-6 {
			t.Fatalf("canvas %d: gaze (%v, %v) outside the unit disc", i, x, y)
		}
		mean[0] += x / float64(n)
		mean[1] += y / float64(n)
		inner[min(int(r2*4), 3)]++ // equal-area rings
		q := 0
		if x < 0 {
			q++
		}
		if y < 0 {
			q += 2
		}
		quadrant[q]++
	}
	// Each count's standard deviation is sqrt(n/4 * 3/4) ~ 27 and each mean's 0.5/sqrt(n) ~
	// 0.008: the bounds are about four of them.
	for k := 0; k < 4; k++ {
		if math.Abs(float64(inner[k])-float64(n)/4) > 110 || math.Abs(float64(quadrant[k])-float64(n)/4) > 110 {
			t.Errorf("equal-area rings hold %v and quadrants %v of %d, want about %d each", inner, quadrant, n, n/4)
			break
		}
	}
	if math.Abs(mean[0]) > 0.035 || math.Abs(mean[1]) > 0.035 {
		t.Errorf("mean gaze %v, want about 0", mean)
	}
}

// Targets checks its index and buffer; a regression set has no labels or classes.
func TestGazeTargetsChecked(t *testing.T) {
	tr, _, err := NewGaze(GazeOptions{Canvas: 48, EyeMin: 5, EyeMax: 7, SynthOptions: SynthOptions{Train: 3, Val: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Targets(3, 0, make([]float32, 2)); err == nil {
		t.Errorf("Targets(3) of a 3-canvas set: got nil error")
	}
	if err := tr.Targets(0, 0, make([]float32, 1)); err == nil {
		t.Errorf("Targets into a short buffer: got nil error")
	}
	if tr.Label(0) != -1 || tr.Classes() != nil {
		t.Errorf("a regression set has label %d and classes %v, want -1 and none", tr.Label(0), tr.Classes())
	}
}
