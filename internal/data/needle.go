package data

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strconv"

	"golang.org/x/image/draw"
)

// NeedleOptions describe the built-in needle set: one whole MNIST digit, a few clutter
// fragments cut from other digits and dim noise on a large canvas. The digit is small
// against the canvas, so a uniform downsample to the task network's input leaves it a
// few pixels wide, while a sampler that zooms on it sees it whole.
type NeedleOptions struct {
	Canvas   int `json:"canvas"`    // side of the square canvas, 16..1024 pixels
	DigitMin int `json:"digit_min"` // smallest side of the scaled 28 x 28 MNIST digit box, in pixels
	DigitMax int `json:"digit_max"` // largest side; each canvas draws its size uniformly in [DigitMin, DigitMax]
	// A fresh training canvas keeps its label and draws a new digit of that class.
	SynthOptions
}

// DefaultNeedleOptions is the set that `zoomtrain train` uses out of the box.
func DefaultNeedleOptions() NeedleOptions {
	return NeedleOptions{Canvas: 128, DigitMin: 24, DigitMax: 32, SynthOptions: defaultSynthOptions()}
}

// MaxNeedleCanvas is the largest canvas side the generator accepts.
const MaxNeedleCanvas = 1024

// Validate reports the first option out of range.
func (o NeedleOptions) Validate() error {
	if err := o.SynthOptions.validate("needle", o.Canvas); err != nil {
		return err
	}
	switch {
	case o.DigitMin < 4:
		return fmt.Errorf("needle digit size %d is below 4 pixels", o.DigitMin)
	case o.DigitMax < o.DigitMin:
		return fmt.Errorf("needle digit size range [%d, %d] is empty", o.DigitMin, o.DigitMax)
	case o.DigitMax > o.Canvas:
		return fmt.Errorf("needle digit size %d exceeds the canvas of %d", o.DigitMax, o.Canvas)
	}
	return nil
}

// NeedleClasses returns the needle set's class names, "0" to "9".
func NeedleClasses() []string {
	c := make([]string, 10)
	for k := range c {
		c[k] = strconv.Itoa(k)
	}
	return c
}

// Needle returns the needle training and validation sets (both *NeedleSet).
func Needle(o NeedleOptions) (train, val Dataset, err error) { return datasets(NewNeedle(o)) }

// NewNeedle is Needle with the concrete type, for callers that need Canvas.
func NewNeedle(o NeedleOptions) (train, val *NeedleSet, err error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	trainDigits, testDigits, err := loadDigits()
	if err != nil {
		return nil, nil, err
	}
	classes := NeedleClasses()
	train = &NeedleSet{o: o, classes: classes, synthSplit: synthSplit{side: o.Canvas, n: o.Train, digits: trainDigits, salt: saltNeedleTrain, fresh: o.FreshEachEpoch}}
	val = &NeedleSet{o: o, classes: classes, synthSplit: synthSplit{side: o.Canvas, n: o.Val, digits: testDigits, salt: saltNeedleVal}}
	return train, val, nil
}

// NeedleSet is one split of the needle set. Its canvases are generated on demand from
// the seed; it is safe for concurrent use.
type NeedleSet struct {
	o       NeedleOptions
	classes []string
	synthSplit
}

// NeedlePlacement says what the generator put on a canvas.
type NeedlePlacement struct {
	Label int
	// Digit is the canvas rectangle of the scaled 28 x 28 MNIST box (MNIST's own margin
	// included), Source the digit's index within the embedded MNIST split.
	Digit  image.Rectangle
	Source int
	// Clutter holds the rectangles of the fragments; none overlaps Digit.
	Clutter []image.Rectangle
}

func (s *NeedleSet) Classes() []string { return append([]string(nil), s.classes...) }

// Label is balanced by construction: canvas i shows digit class i mod 10.
func (s *NeedleSet) Label(i int) int { return i % 10 }

// Image writes canvas i of the given epoch as gray replicated to RGB.
func (s *NeedleSet) Image(i, epoch int, dst []float32) error {
	return s.writeImage(s.gray, i, epoch, dst)
}

func (s *NeedleSet) imageBytes(i, epoch int, dst []uint8) error {
	return s.writeBytes(s.gray, i, epoch, dst)
}

func (s *NeedleSet) gray(i, epoch int) (*image.Gray, error) {
	g, _, err := s.Canvas(i, epoch)
	return g, err
}

// Canvas generates canvas i of the given epoch as 8-bit gray, with where its digit and
// clutter went. The result is a pure function of (seed, split, i) and, for a training
// set with FreshEachEpoch, of epoch.
func (s *NeedleSet) Canvas(i, epoch int) (*image.Gray, NeedlePlacement, error) {
	if i < 0 || i >= s.n {
		return nil, NeedlePlacement{}, fmt.Errorf("needle canvas %d out of range [0, %d)", i, s.n)
	}
	o := s.o
	r := newRand(uint64(o.Seed), s.salt, uint64(i), s.epoch(epoch))
	canvas := noiseCanvas(r, o.Canvas, o.Noise)

	p := NeedlePlacement{Label: s.Label(i)}
	pool := s.digits.byClass[p.Label]
	p.Source = pool[r.IntN(len(pool))]
	size := o.DigitMin + r.IntN(o.DigitMax-o.DigitMin+1)
	x0, y0 := r.IntN(o.Canvas-size+1), r.IntN(o.Canvas-size+1)
	p.Digit = image.Rect(x0, y0, x0+size, y0+size)
	digit, err := scaleDigit(s.digits.digit(p.Source), size)
	if err != nil {
		return nil, NeedlePlacement{}, err
	}
	drawMax(canvas, digit, digit.Bounds(), p.Digit.Min)

	// Fragments stay a margin away from the digit so they never change what it reads as.
	p.Clutter, err = drawClutter(r, canvas, s.digits, clutterSpec{n: o.Clutter, sizeMin: o.DigitMin, sizeMax: o.DigitMax, keepOut: p.Digit.Inset(-2), exclude: p.Source})
	if err != nil {
		return nil, NeedlePlacement{}, err
	}
	return canvas, p, nil
}

// noiseCanvas returns a side x side canvas of uniform noise up to level (see fillNoise).
func noiseCanvas(r *rand.Rand, side int, level float64) *image.Gray {
	canvas := image.NewGray(image.Rect(0, 0, side, side))
	fillNoise(r, canvas.Pix, level)
	return canvas
}

// clutterSpec says what drawClutter puts on a canvas: up to n fragments, each cut from a
// digit scaled to a side uniform in [sizeMin, sizeMax], none meeting keepOut and none
// cut from the digit with index exclude (-1 for none).
type clutterSpec struct {
	n, sizeMin, sizeMax int
	keepOut             image.Rectangle
	exclude             int
}

// drawClutter draws the fragments of c from digits onto canvas and returns where they
// went; a fragment that finds no inked window or no free place is left out.
func drawClutter(r *rand.Rand, canvas *image.Gray, digits *digitSet, c clutterSpec) ([]image.Rectangle, error) {
	side := canvas.Rect.Dx()
	var placed []image.Rectangle
	for k := 0; k < c.n; k++ {
		src := r.IntN(digits.len())
		fsize := c.sizeMin + r.IntN(c.sizeMax-c.sizeMin+1)
		win, ok := pickFragment(r, digits.digit(src), fsize)
		at, free := placeAvoiding(r, win.Size(), side, c.keepOut)
		if src == c.exclude || !ok || !free {
			continue
		}
		frag, err := scaleDigit(digits.digit(src), fsize)
		if err != nil {
			return nil, err
		}
		drawMax(canvas, frag, win, at)
		placed = append(placed, image.Rectangle{Min: at, Max: at.Add(win.Size())})
	}
	return placed, nil
}

// fillNoise draws uniform noise in [0, round(255*level)].
func fillNoise(r *rand.Rand, pix []uint8, level float64) {
	top := uint32(math.Round(255 * level))
	if top == 0 {
		clear(pix)
		return
	}
	for k := 0; k < len(pix); k += 8 {
		u := r.Uint64()
		for j := k; j < k+8 && j < len(pix); j++ {
			pix[j] = uint8(uint32(uint8(u)) * top / 255)
			u >>= 8
		}
	}
}

// scaleDigit resizes a 28 x 28 digit to size x size with an antialiasing kernel.
func scaleDigit(pix []uint8, size int) (*image.Gray, error) {
	if len(pix) != digitPixels {
		return nil, errors.New("digit of the wrong size")
	}
	src := &image.Gray{Pix: pix, Stride: digitSide, Rect: image.Rect(0, 0, digitSide, digitSide)}
	dst := image.NewGray(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return dst, nil
}

// pickFragment chooses a window of a digit scaled to fsize that holds some ink, in the
// scaled digit's coordinates: a third to a half of the digit on each side, so it is a
// stroke or a loop but not a whole readable digit.
func pickFragment(r *rand.Rand, pix []uint8, fsize int) (image.Rectangle, bool) {
	lo, hi := max(fsize/3, 3), max(fsize/2, 3)
	for try := 0; try < 8; try++ {
		w, h := lo+r.IntN(hi-lo+1), lo+r.IntN(hi-lo+1)
		x, y := r.IntN(fsize-w+1), r.IntN(fsize-h+1)
		// Judge the ink on the unscaled digit: the same region, no resampling needed.
		sx0, sy0 := x*digitSide/fsize, y*digitSide/fsize
		sx1, sy1 := (x+w)*digitSide/fsize, (y+h)*digitSide/fsize
		ink, area := 0, (sx1-sx0)*(sy1-sy0)
		for yy := sy0; yy < sy1; yy++ {
			for xx := sx0; xx < sx1; xx++ {
				if pix[yy*digitSide+xx] >= 128 {
					ink++
				}
			}
		}
		if area > 0 && ink*8 >= area {
			return image.Rect(x, y, x+w, y+h), true
		}
	}
	return image.Rectangle{}, false
}

// placeAvoiding finds a top-left corner for a box of the given size inside the canvas
// that does not meet keepOut.
func placeAvoiding(r *rand.Rand, size image.Point, canvas int, keepOut image.Rectangle) (image.Point, bool) {
	if size.X > canvas || size.Y > canvas {
		return image.Point{}, false
	}
	for try := 0; try < 16; try++ {
		at := image.Pt(r.IntN(canvas-size.X+1), r.IntN(canvas-size.Y+1))
		if !(image.Rectangle{Min: at, Max: at.Add(size)}).Overlaps(keepOut) {
			return at, true
		}
	}
	return image.Point{}, false
}

// drawMax composites src's window win at dst point at, keeping the brighter pixel: ink
// over noise, never darkening what is already there.
func drawMax(dst *image.Gray, src *image.Gray, win image.Rectangle, at image.Point) {
	for y := win.Min.Y; y < win.Max.Y; y++ {
		drow := dst.Pix[(at.Y+y-win.Min.Y)*dst.Stride+at.X:]
		srow := src.Pix[(y-src.Rect.Min.Y)*src.Stride+(win.Min.X-src.Rect.Min.X):]
		for x := 0; x < win.Dx(); x++ {
			if v := srow[x]; v > drow[x] {
				drow[x] = v
			}
		}
	}
}
