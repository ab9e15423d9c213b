package data

import (
	"fmt"
	"image"
)

// SynthOptions are the options the built-in synthetic sets, needle and needle-gaze, share:
// what surrounds the object on a canvas, the sizes of the splits and the seed. Each set's
// options embed them after the canvas side and the object's size range, so the sets'
// JSON keeps one flat object in that order.
type SynthOptions struct {
	Clutter int `json:"clutter"` // fragments of MNIST digits per canvas, kept off the object
	Train   int `json:"train"`   // number of training canvases (built from MNIST training digits)
	Val     int `json:"val"`     // number of validation canvases (built from MNIST test digits)
	// Noise is the brightest background noise value in [0, 1]; noise is uniform below it.
	Noise float64 `json:"noise"`
	Seed  int64   `json:"seed"`
	// FreshEachEpoch redraws every training canvas each epoch (a new object, place and
	// clutter); validation canvases never change.
	FreshEachEpoch bool `json:"fresh_each_epoch"`
}

// defaultSynthOptions are the shared part of both sets' defaults.
func defaultSynthOptions() SynthOptions {
	return SynthOptions{Clutter: 4, Train: 9000, Val: 1000, Noise: 0.1, Seed: 0, FreshEachEpoch: true}
}

// validate reports the first of the canvas side and the shared options out of range,
// naming the set in the error.
func (o SynthOptions) validate(set string, canvas int) error {
	switch {
	case canvas < 16 || canvas > MaxNeedleCanvas:
		return fmt.Errorf("%s canvas %d outside [16, %d]", set, canvas, MaxNeedleCanvas)
	case o.Clutter < 0 || o.Clutter > 256:
		return fmt.Errorf("%s clutter %d outside [0, 256]", set, o.Clutter)
	case o.Train < 0 || o.Val < 0:
		return fmt.Errorf("%s set sizes must not be negative (train %d, val %d)", set, o.Train, o.Val)
	case !(o.Noise >= 0 && o.Noise <= 1):
		return fmt.Errorf("%s noise %v outside [0, 1]", set, o.Noise)
	}
	return nil
}

// synthSplit is what one split of a synthetic set holds besides its options: its size,
// the MNIST split its digits come from, the salt of its random streams and whether its
// canvases change each epoch.
type synthSplit struct {
	side, n int
	digits  *digitSet
	salt    uint64
	fresh   bool
}

func (s *synthSplit) Len() int             { return s.n }
func (s *synthSplit) Resolution() int      { return s.side }
func (s *synthSplit) epochInvariant() bool { return !s.fresh }

// epoch is the epoch coordinate of the split's random streams: 0 unless it is fresh.
func (s *synthSplit) epoch(epoch int) uint64 {
	if !s.fresh {
		return 0
	}
	return uint64(int64(epoch))
}

// writeImage writes canvas i of the given epoch, drawn by gray, as gray replicated to RGB.
func (s *synthSplit) writeImage(gray func(i, epoch int) (*image.Gray, error), i, epoch int, dst []float32) error {
	if err := checkDst(s, i, dst); err != nil {
		return err
	}
	g, err := gray(i, epoch)
	if err != nil {
		return err
	}
	plane := len(g.Pix)
	bytesToFloat(dst[:plane], g.Pix)
	copy(dst[plane:], dst[:plane])
	copy(dst[2*plane:], dst[:plane])
	return nil
}

// writeBytes is writeImage for 8-bit planes.
func (s *synthSplit) writeBytes(gray func(i, epoch int) (*image.Gray, error), i, epoch int, dst []uint8) error {
	r := s.side
	if i < 0 || i >= s.n || len(dst) != 3*r*r {
		return fmt.Errorf("example %d or destination of %d bytes out of range", i, len(dst))
	}
	g, err := gray(i, epoch)
	if err != nil {
		return err
	}
	for c := 0; c < 3; c++ {
		copy(dst[c*len(g.Pix):], g.Pix)
	}
	return nil
}

// datasets returns a synthetic set's two splits as Datasets.
func datasets[S Dataset](train, val S, err error) (Dataset, Dataset, error) {
	if err != nil {
		return nil, nil, err
	}
	return train, val, nil
}
