package data

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"
)

// synthKind is one built-in synthetic set, for the tests that hold for both.
type synthKind struct {
	name string
	// validate validates the set's default options with the shared part replaced by o.
	validate func(o SynthOptions) error
	// open returns the two splits of the set with its default object and the shared
	// options o, each with its Canvas method.
	open func(o SynthOptions) (train, val synthSplitUnderTest, err error)
}

type synthSplitUnderTest struct {
	Dataset
	canvas func(i, epoch int) (*image.Gray, any, error) // the pixels and the placement
}

func synthKinds() []synthKind {
	needle := func(s *NeedleSet) synthSplitUnderTest {
		return synthSplitUnderTest{s, func(i, epoch int) (*image.Gray, any, error) { return s.Canvas(i, epoch) }}
	}
	gaze := func(s *GazeSet) synthSplitUnderTest {
		return synthSplitUnderTest{s, func(i, epoch int) (*image.Gray, any, error) { return s.Canvas(i, epoch) }}
	}
	return []synthKind{
		{
			name: "needle",
			validate: func(o SynthOptions) error {
				n := DefaultNeedleOptions()
				n.SynthOptions = o
				return n.Validate()
			},
			open: func(o SynthOptions) (train, val synthSplitUnderTest, err error) {
				n := DefaultNeedleOptions()
				n.SynthOptions = o
				tr, va, err := NewNeedle(n)
				if err != nil {
					return train, val, err
				}
				return needle(tr), needle(va), nil
			},
		},
		{
			name: "gaze",
			validate: func(o SynthOptions) error {
				g := DefaultGazeOptions()
				g.SynthOptions = o
				return g.Validate()
			},
			open: func(o SynthOptions) (train, val synthSplitUnderTest, err error) {
				g := DefaultGazeOptions()
				g.SynthOptions = o
				tr, va, err := NewGaze(g)
				if err != nil {
					return train, val, err
				}
				return gaze(tr), gaze(va), nil
			},
		},
	}
}

// checkValidate runs a table of changes to a set's default options against Validate.
func checkValidate[O interface{ Validate() error }](t *testing.T, defaults func() O, tests []validateCase[O]) {
	t.Helper()
	for _, tt := range tests {
		o := defaults()
		tt.change(&o)
		err := o.Validate()
		if tt.wantErr == "" && err != nil {
			t.Errorf("%s: got error %v, want none", tt.name, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

type validateCase[O any] struct {
	name    string
	change  func(*O)
	wantErr string
}

// synthValidator validates a set's default options with the shared part o.
type synthValidator struct {
	o        SynthOptions
	validate func(SynthOptions) error
}

func (v synthValidator) Validate() error { return v.validate(v.o) }

// The shared options are checked alike in both sets, each error naming its set.
func TestSynthOptionsValidate(t *testing.T) {
	for _, k := range synthKinds() {
		checkValidate(t, func() synthValidator { return synthValidator{defaultSynthOptions(), k.validate} }, []validateCase[synthValidator]{
			{k.name + " defaults", func(v *synthValidator) {}, ""},
			{k.name + " empty splits", func(v *synthValidator) { v.o.Train, v.o.Val = 0, 0 }, ""},
			{k.name + " negative clutter", func(v *synthValidator) { v.o.Clutter = -1 }, k.name + " clutter"},
			{k.name + " too much clutter", func(v *synthValidator) { v.o.Clutter = 257 }, k.name + " clutter"},
			{k.name + " negative train", func(v *synthValidator) { v.o.Train = -1 }, "negative"},
			{k.name + " negative val", func(v *synthValidator) { v.o.Val = -1 }, "negative"},
			{k.name + " noise NaN", func(v *synthValidator) { v.o.Noise = math.NaN() }, k.name + " noise"},
			{k.name + " noise above 1", func(v *synthValidator) { v.o.Noise = 1.5 }, k.name + " noise"},
		})
	}
}

func TestSynthDeterminism(t *testing.T) {
	for _, k := range synthKinds() {
		sets := map[SynthOptions][2]synthSplitUnderTest{}
		// canvas returns the canvas's pixels and its placement printed, so that equal
		// means both are equal.
		canvas := func(o SynthOptions, val bool, i, epoch int) []byte {
			if _, ok := sets[o]; !ok {
				tr, va, err := k.open(o)
				if err != nil {
					t.Fatal(err)
				}
				sets[o] = [2]synthSplitUnderTest{tr, va}
			}
			s := sets[o][0]
			if val {
				s = sets[o][1]
			}
			g, p, err := s.canvas(i, epoch)
			if err != nil {
				t.Fatal(err)
			}
			return append(append([]byte(nil), g.Pix...), fmt.Sprint(p)...)
		}
		o := defaultSynthOptions()
		o.Train, o.Val = 20, 20
		other := o
		other.Seed = 1
		fixed := o
		fixed.FreshEachEpoch = false
		tests := []struct {
			name     string
			a, b     []byte
			wantSame bool
		}{
			{"same seed", canvas(o, false, 5, 0), canvas(o, false, 5, 0), true},
			{"different seed", canvas(o, false, 5, 0), canvas(other, false, 5, 0), false},
			{"different index", canvas(o, false, 5, 0), canvas(o, false, 15, 0), false},
			{"train vs val", canvas(o, false, 5, 0), canvas(o, true, 5, 0), false},
			{"fresh train epochs", canvas(o, false, 5, 0), canvas(o, false, 5, 1), false},
			{"fixed train epochs", canvas(fixed, false, 5, 0), canvas(fixed, false, 5, 1), true},
			{"val epochs", canvas(o, true, 5, 0), canvas(o, true, 5, 4), true},
		}
		for _, tt := range tests {
			if got := bytes.Equal(tt.a, tt.b); got != tt.wantSame {
				t.Errorf("%s %s: canvases equal = %v, want %v", k.name, tt.name, got, tt.wantSame)
			}
		}
	}
}

// Image and imageBytes are the gray canvas replicated to three channels; bad indices
// and buffers fail.
func TestSynthImageMatchesCanvas(t *testing.T) {
	for _, k := range synthKinds() {
		tr, _, err := k.open(SynthOptions{Clutter: 2, Noise: 0.1, Train: 3, Val: 1, FreshEachEpoch: true})
		if err != nil {
			t.Fatal(err)
		}
		side := tr.Resolution()
		dst := make([]float32, 3*side*side)
		if err := tr.Image(2, 5, dst); err != nil {
			t.Fatal(err)
		}
		g, _, _ := tr.canvas(2, 5)
		for c := 0; c < 3; c++ {
			for j, v := range g.Pix {
				if got, want := dst[c*len(g.Pix)+j], float32(v)/255; got != want {
					t.Fatalf("%s channel %d value %d: got %v, want %v", k.name, c, j, got, want)
				}
			}
		}
		b := make([]uint8, 3*side*side)
		bi := tr.Dataset.(byteImager)
		if err := bi.imageBytes(2, 5, b); err != nil || !bytes.Equal(b[2*side*side:], g.Pix) || !bytes.Equal(b[:side*side], g.Pix) {
			t.Errorf("%s imageBytes: error %v or a plane unlike the canvas", k.name, err)
		}
		if bi.epochInvariant() {
			t.Errorf("%s: a fresh training split says it is the same every epoch", k.name)
		}
		if err := tr.Image(3, 0, dst); err == nil {
			t.Errorf("%s Image(3) of a 3-canvas set: got nil error", k.name)
		}
		if err := tr.Image(0, 0, dst[:10]); err == nil {
			t.Errorf("%s Image into a short buffer: got nil error", k.name)
		}
		if err := bi.imageBytes(3, 0, b); err == nil {
			t.Errorf("%s imageBytes(3) of a 3-canvas set: got nil error", k.name)
		}
	}
}
