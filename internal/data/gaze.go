package data

import (
	"fmt"
	"image"
	"math"
	"strconv"
)

// GazeOptions describe the built-in needle-gaze set, an analogue of the paper's gaze
// task: one small synthetic eye (a bright disc, a darker iris of half its radius and a
// dark pupil) on the needle set's noisy, cluttered canvas. The targets are the gaze
// components gx, gy: the iris centre's offset from the eye's centre over its largest
// possible offset (half the eye's radius), x to the right and y down, drawn uniformly
// over the unit disc. Downsampled uniformly to a task network's input the eye is a few
// pixels across and the iris moves by under a pixel; a sampler that zooms sees it move.
type GazeOptions struct {
	Canvas int `json:"canvas"` // side of the square canvas, 16..1024 pixels
	// EyeMin and EyeMax bound the eye's radius in pixels; each canvas draws it uniformly
	// in [EyeMin, EyeMax].
	EyeMin float64 `json:"eye_min"`
	EyeMax float64 `json:"eye_max"`
	// A fresh training canvas draws a new eye and gaze.
	SynthOptions
}

// DefaultGazeOptions are the set of the README's regression results. Eyes of radius 6-8
// were chosen by a pilot (3000 training canvases, 6 epochs, task input 32): at 6-8 and
// 5-7 the saliency sampler read the gaze far better than uniform downsampling, at 4-6
// neither model learned it (val MAE at the mean predictor's).
func DefaultGazeOptions() GazeOptions {
	return GazeOptions{Canvas: 128, EyeMin: 6, EyeMax: 8, SynthOptions: defaultSynthOptions()}
}

// MinGazeEye is the smallest eye radius the generator draws: below it the pupil is under
// a pixel across.
const MinGazeEye = 2

// Validate reports the first option out of range.
func (o GazeOptions) Validate() error {
	if err := o.SynthOptions.validate("gaze", o.Canvas); err != nil {
		return err
	}
	switch {
	case !(o.EyeMin >= MinGazeEye) || math.IsInf(o.EyeMin, 0):
		return fmt.Errorf("gaze eye radius %v is below %d pixels or not finite", o.EyeMin, MinGazeEye)
	case !(o.EyeMax >= o.EyeMin) || math.IsInf(o.EyeMax, 0):
		return fmt.Errorf("gaze eye radius range [%v, %v] is empty", o.EyeMin, o.EyeMax)
	case 2*o.EyeMax > float64(o.Canvas):
		return fmt.Errorf("gaze eye of radius %v does not fit the canvas of %d", o.EyeMax, o.Canvas)
	}
	return nil
}

// GazeTargetNames returns the needle-gaze set's targets, gx and gy.
func GazeTargetNames() []string { return []string{"gx", "gy"} }

// Gaze returns the needle-gaze training and validation sets (both *GazeSet).
func Gaze(o GazeOptions) (train, val Dataset, err error) { return datasets(NewGaze(o)) }

// NewGaze is Gaze with the concrete type.
func NewGaze(o GazeOptions) (train, val *GazeSet, err error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	trainDigits, testDigits, err := loadDigits()
	if err != nil {
		return nil, nil, err
	}
	train = &GazeSet{o: o, synthSplit: synthSplit{side: o.Canvas, n: o.Train, digits: trainDigits, salt: saltGazeTrain, fresh: o.FreshEachEpoch}}
	val = &GazeSet{o: o, synthSplit: synthSplit{side: o.Canvas, n: o.Val, digits: testDigits, salt: saltGazeVal}}
	return train, val, nil
}

// GazeSet is one split of the needle-gaze set, a Regression. Its canvases are generated
// on demand from the seed; it is safe for concurrent use.
type GazeSet struct {
	o GazeOptions
	synthSplit
}

// GazePlacement says what the generator put on a canvas. Coordinates are in canvas
// pixels, pixel (x, y) covering [x, x+1) x [y, y+1).
type GazePlacement struct {
	Centre [2]float64 // the eye's centre, x and y
	Radius float64    // the eye's radius; the iris has half of it, the pupil a quarter
	Gaze   [2]float64 // gx, gy: the iris centre is Centre + Gaze * Radius/2
	// Box is the smallest pixel rectangle that holds the eye; Clutter holds the
	// fragments' rectangles, none within 2 pixels of Box.
	Box     image.Rectangle
	Clutter []image.Rectangle
}

// Iris returns the iris centre.
func (p GazePlacement) Iris() (x, y float64) {
	e := p.eye()
	return e.irisX(), e.irisY()
}

func (p GazePlacement) eye() eye {
	return eye{cx: p.Centre[0], cy: p.Centre[1], r: p.Radius, gx: p.Gaze[0], gy: p.Gaze[1]}
}

func (s *GazeSet) Classes() []string     { return nil }
func (s *GazeSet) Label(int) int         { return -1 }
func (s *GazeSet) TargetNames() []string { return GazeTargetNames() }

// MirroredTargets says that a mirrored canvas looks the other way horizontally: gx
// changes sign, gy does not.
func (s *GazeSet) MirroredTargets() []bool { return []bool{true, false} }

// Options returns the options the set was made with.
func (s *GazeSet) Options() GazeOptions { return s.o }

// Targets writes canvas i's gaze, gx and gy, into dst without drawing the canvas.
func (s *GazeSet) Targets(i, epoch int, dst []float32) error {
	if i < 0 || i >= s.n {
		return fmt.Errorf("gaze canvas %d out of range [0, %d)", i, s.n)
	}
	if len(dst) != 2 {
		return fmt.Errorf("destination holds %d targets, want 2", len(dst))
	}
	e := s.geometry(i, epoch)
	dst[0], dst[1] = float32(e.gx), float32(e.gy)
	return nil
}

// Image writes canvas i of the given epoch as gray replicated to RGB.
func (s *GazeSet) Image(i, epoch int, dst []float32) error {
	return s.writeImage(s.gray, i, epoch, dst)
}

func (s *GazeSet) imageBytes(i, epoch int, dst []uint8) error {
	return s.writeBytes(s.gray, i, epoch, dst)
}

func (s *GazeSet) gray(i, epoch int) (*image.Gray, error) {
	g, _, err := s.Canvas(i, epoch)
	return g, err
}

// The clutter's fragments are cut from digits scaled as the needle set's default digits
// are, so they are strokes of 8-16 pixels, about an eye's size.
const gazeFragmentMin, gazeFragmentMax = 24, 32

// gazeGeometry keeps the eye's random stream apart from the canvas's, so the targets
// cost no drawing.
const gazeGeometry uint64 = 1

// geometry draws canvas i's eye: radius, centre (the disc inside the canvas) and gaze.
func (s *GazeSet) geometry(i, epoch int) eye {
	o := s.o
	r := newRand(uint64(o.Seed), s.salt, uint64(i), s.epoch(epoch), gazeGeometry)
	var e eye
	e.r = o.EyeMin + r.Float64()*(o.EyeMax-o.EyeMin)
	e.cx = e.r + r.Float64()*(float64(o.Canvas)-2*e.r)
	e.cy = e.r + r.Float64()*(float64(o.Canvas)-2*e.r)
	// Uniform over the unit disc: the radius's square is uniform.
	rho, theta := math.Sqrt(r.Float64()), 2*math.Pi*r.Float64()
	e.gx, e.gy = rho*math.Cos(theta), rho*math.Sin(theta)
	return e
}

// Canvas generates canvas i of the given epoch as 8-bit gray, with where its eye and
// clutter went. The result is a pure function of (seed, split, i) and, for a training
// set with FreshEachEpoch, of epoch.
func (s *GazeSet) Canvas(i, epoch int) (*image.Gray, GazePlacement, error) {
	if i < 0 || i >= s.n {
		return nil, GazePlacement{}, fmt.Errorf("gaze canvas %d out of range [0, %d)", i, s.n)
	}
	o := s.o
	e := s.geometry(i, epoch)
	r := newRand(uint64(o.Seed), s.salt, uint64(i), s.epoch(epoch))
	canvas := noiseCanvas(r, o.Canvas, o.Noise)
	drawEye(canvas, e)
	p := GazePlacement{Centre: [2]float64{e.cx, e.cy}, Radius: e.r, Gaze: [2]float64{e.gx, e.gy}, Box: e.box()}
	var err error
	p.Clutter, err = drawClutter(r, canvas, s.digits, clutterSpec{
		n: o.Clutter, sizeMin: gazeFragmentMin, sizeMax: gazeFragmentMax, keepOut: p.Box.Inset(-2), exclude: -1,
	})
	if err != nil {
		return nil, GazePlacement{}, err
	}
	return canvas, p, nil
}

// eye is the geometry of one eye in canvas pixels.
type eye struct {
	cx, cy, r float64 // centre and radius of the disc
	gx, gy    float64 // gaze: the iris is displaced by (gx, gy) * r/2
}

func (e eye) irisX() float64 { return e.cx + e.gx*e.r/2 }
func (e eye) irisY() float64 { return e.cy + e.gy*e.r/2 }

func (e eye) box() image.Rectangle {
	return image.Rect(int(math.Floor(e.cx-e.r)), int(math.Floor(e.cy-e.r)), int(math.Ceil(e.cx+e.r)), int(math.Ceil(e.cy+e.r)))
}

// The eye's shades on the 0-255 scale: bright against the noise, the iris half as bright,
// the pupil as dark as the noise.
const (
	scleraShade = 235
	irisShade   = 110
	pupilShade  = 25
)

// eyeSupersample is the side of the grid of samples averaged per pixel: at 4 x 4 an edge
// covers a pixel in 17 steps, so an iris moved by a fraction of a pixel changes the
// pixels along its rim and a sub-pixel gaze is in the image.
const eyeSupersample = 4

// drawEye draws e over canvas, antialiased: each pixel of the eye's box becomes the mean
// of the eye (or, outside the disc, the pixel's old value) at a grid of sample points.
func drawEye(canvas *image.Gray, e eye) {
	ix, iy := e.irisX(), e.irisY()
	r2, ri2, rp2 := e.r*e.r, e.r*e.r/4, e.r*e.r/16
	const n = eyeSupersample
	b := e.box().Intersect(canvas.Rect)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := canvas.Pix[(y-canvas.Rect.Min.Y)*canvas.Stride-canvas.Rect.Min.X:]
		for x := b.Min.X; x < b.Max.X; x++ {
			bg, sum := float64(row[x]), 0.0
			for sy := 0; sy < n; sy++ {
				py := float64(y) + (float64(sy)+0.5)/n
				for sx := 0; sx < n; sx++ {
					px := float64(x) + (float64(sx)+0.5)/n
					dx, dy := px-e.cx, py-e.cy
					if dx*dx+dy*dy > r2 {
						sum += bg
						continue
					}
					dx, dy = px-ix, py-iy
					switch d2 := dx*dx + dy*dy; {
					case d2 <= rp2:
						sum += pupilShade
					case d2 <= ri2:
						sum += irisShade
					default:
						sum += scleraShade
					}
				}
			}
			row[x] = uint8(math.Round(sum / (n * n)))
		}
	}
}

// TargetFile returns canvas i of epoch 0 as a file of a written regression folder:
// images/<i>.png, numbered with at least five digits, its gaze as the targets.
func (s *GazeSet) TargetFile(i int) (TargetFile, error) {
	g, p, err := s.Canvas(i, 0)
	if err != nil {
		return TargetFile{}, err
	}
	width := max(5, len(strconv.Itoa(s.n-1)))
	return TargetFile{
		TargetRow: TargetRow{File: fmt.Sprintf("images/%0*d.png", width, i), Targets: []float32{float32(p.Gaze[0]), float32(p.Gaze[1])}},
		Image:     g,
	}, nil
}
