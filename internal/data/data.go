// Package data provides the labelled image sets that zoomtrain trains on: folders of
// user images (ROOT/train/<class>/*, ROOT/val/<class>/* or ROOT/<class>/*), the built-in
// "needle" set of MNIST digits on large cluttered canvases, and a Loader that decodes,
// caches, augments and batches them as float32 NCHW ahead of the training step.
//
// Regression sets (see Regression) carry real-valued targets instead of classes: folders
// with a targets.csv (targets.go) and the built-in "needle-gaze" set of synthetic eyes
// (gaze.go); a Standardiser maps their targets to unit scale.
//
// Everything random is a pure function of a seed and the example's coordinates (split,
// index, epoch), never of goroutine scheduling, so a resumed run replays its batches
// exactly and a batch's bytes do not depend on the number of workers.
package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// A Dataset is an indexable labelled set of source images at one square resolution.
type Dataset interface {
	Len() int
	Classes() []string
	// Resolution is the side of the square source images; they have 3 channels.
	Resolution() int
	Label(i int) int
	// Image writes example i as planar CHW float32 RGB in [0,1] into dst (len 3*R*R);
	// epoch lets generated sets vary per epoch (folders ignore it).
	Image(i, epoch int, dst []float32) error
}

// ErrSkipped is wrapped into the error for an example whose file could not be decoded
// when the folder was opened with OnError "skip": the Loader fills its slot with another
// example (DropLast) or leaves it out of its batch, and the folder counts it.
var ErrSkipped = errors.New("skipped unreadable image")

// A SkippedFile is a file left out in skip mode, and why.
type SkippedFile struct {
	Index int    // the example's dataset index; -1 for a file left out when opening
	Path  string // "" for a dataset without files
	Err   error  // wraps ErrSkipped and the cause; its text names the file
}

// knownUnreadable is implemented by datasets that remember which examples failed, so
// that the Loader does not try them again when it looks for a stand-in.
type knownUnreadable interface {
	unreadable(i int) bool
}

// Skipped returns how many files ds has skipped so far (files left out when it was opened
// and files found undecodable since), or 0 for a dataset that never skips.
func Skipped(ds Dataset) int {
	if s, ok := ds.(interface{ Skipped() int }); ok {
		return s.Skipped()
	}
	return 0
}

// byteImager is implemented by datasets whose images are exactly 8-bit: the Loader caches
// those as bytes, a quarter of the float32 size.
type byteImager interface {
	// imageBytes writes example i as planar CHW RGB bytes (len 3*R*R) into dst.
	imageBytes(i, epoch int, dst []uint8) error
	// epochInvariant reports whether example i is the same in every epoch (cacheable).
	epochInvariant() bool
}

// bytesToFloat converts 8-bit samples to [0, 1] exactly as imageio does (v / 255).
func bytesToFloat(dst []float32, src []uint8) {
	// A table lookup is several times faster than a division per sample, and building
	// it costs nothing next to an image.
	var table [256]float32
	for v := range table {
		table[v] = float32(v) / 255
	}
	src = src[:len(dst)]
	for k, v := range src {
		dst[k] = table[v]
	}
}

func checkDst(ds interface {
	Len() int
	Resolution() int
}, i int, dst []float32) error {
	if i < 0 || i >= ds.Len() {
		return fmt.Errorf("example %d out of range [0, %d)", i, ds.Len())
	}
	r := ds.Resolution()
	if len(dst) != 3*r*r {
		return fmt.Errorf("destination holds %d values, want 3*%d*%d = %d", len(dst), r, r, 3*r*r)
	}
	return nil
}

// mix is the splitmix64 finaliser: it spreads a seed and coordinates into independent
// 64-bit streams, so example k's randomness does not depend on which other examples ran.
func mix(vals ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vals {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h ^= h >> 30
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 27
		h *= 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// newRand returns a generator that is a pure function of its coordinates.
func newRand(vals ...uint64) *rand.Rand {
	a := mix(vals...)
	return rand.New(rand.NewPCG(a, mix(a, 0x5851f42d4c957f2d)))
}

// permutation returns a seeded Fisher-Yates shuffle of 0..n-1.
func permutation(r *rand.Rand, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(r.Uint64N(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Salts that keep the random streams of different purposes apart.
const (
	saltNeedleTrain uint64 = iota + 1
	saltNeedleVal
	saltShuffle
	saltAugment
	saltSplit
	saltStandIn
	saltGazeTrain
	saltGazeVal
)
