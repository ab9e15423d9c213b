package data

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// BenchmarkSynthCanvas measures generating one default canvas of each synthetic set,
// as a fresh training set does for every example of every epoch.
func BenchmarkSynthCanvas(b *testing.B) {
	for _, k := range synthKinds() {
		b.Run(k.name, func(b *testing.B) {
			o := defaultSynthOptions()
			tr, _, err := k.open(o)
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if _, _, err := tr.canvas(i%tr.Len(), 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// photoLike returns an r x r RGBA image with smooth gradients and mild noise, which
// compresses and decodes roughly like a photograph saved as PNG.
func photoLike(r int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := image.NewRGBA(image.Rect(0, 0, r, r))
	for y := 0; y < r; y++ {
		for x := 0; x < r; x++ {
			n := uint8(rng.IntN(16))
			m.SetRGBA(x, y, color.RGBA{uint8(x*255/r) + n, uint8(y*255/r) + n, uint8((x+y)*127/r) + n, 255})
		}
	}
	return m
}

// BenchmarkFolderLoad measures decoding and batching 512 x 512 PNGs, at their own
// resolution and resized to 256, with no cache (every image decoded) and with all
// images cached. Each iteration is one epoch of 64 images in batches of 32.
func BenchmarkFolderLoad(b *testing.B) {
	const n, side = 64, 512
	root := b.TempDir()
	for k := 0; k < n; k++ {
		class := fmt.Sprintf("c%d", k%4)
		path := filepath.Join(root, class, fmt.Sprintf("%03d.png", k))
		if err := writePNGFile(path, photoLike(side, uint64(k))); err != nil {
			b.Fatal(err)
		}
	}
	for _, res := range []int{512, 256} {
		for _, cached := range []bool{false, true} {
			name := fmt.Sprintf("res%d/cold", res)
			var cache int64
			if cached {
				name, cache = fmt.Sprintf("res%d/cached", res), 1<<30
			}
			b.Run(name, func(b *testing.B) {
				ds, _, err := OpenFolder(FolderOptions{Root: root, Resolution: res})
				if err != nil {
					b.Fatal(err)
				}
				l, err := NewLoader(ds, LoaderOptions{BatchSize: 32, Shuffle: true, CacheBytes: cache, Augment: Augment{HFlip: true}})
				if err != nil {
					b.Fatal(err)
				}
				epoch := 0
				runEpoch := func() {
					it := l.Epoch(context.Background(), epoch)
					for b, ok := it.Next(); ok; b, ok = it.Next() {
						l.Release(b)
					}
					it.Close()
					if err := it.Err(); err != nil {
						b.Fatal(err)
					}
					epoch++
				}
				if cached {
					runEpoch() // fill the cache
				}
				for b.Loop() {
					runEpoch()
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
