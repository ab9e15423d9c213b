package data

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zoomtrain/internal/kernels"
	"zoomtrain/internal/lowres"
)

// rampSet is a plain dataset whose pixels encode their example index.
type rampSet struct {
	n, r    int
	failAt  int // example that fails to load; -1 for none
	panicAt int // example whose loading panics; 0 for none
}

func (s rampSet) Len() int          { return s.n }
func (s rampSet) Classes() []string { return []string{"a", "b", "c"} }
func (s rampSet) Resolution() int   { return s.r }
func (s rampSet) Label(i int) int   { return i % 3 }
func (s rampSet) Image(i, epoch int, dst []float32) error {
	if i == s.failAt {
		return errors.New("broken example")
	}
	if s.panicAt > 0 && i == s.panicAt {
		panic("decoder bug")
	}
	for k := range dst {
		dst[k] = float32((i*7+k)%251) / 251
	}
	return nil
}

// collect runs one epoch and returns its batches.
func collect(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var out []*Batch
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		out = append(out, b)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("epoch %d: %v", epoch, err)
	}
	return out
}

func TestLoaderServesEachExampleOnce(t *testing.T) {
	tests := []struct {
		name        string
		n, bs       int
		dropLast    bool
		shuffle     bool
		workers     int
		wantBatches int
		wantSeen    int
	}{
		{"even", 12, 4, false, false, 1, 3, 12},
		{"short last batch", 10, 4, false, true, 3, 3, 10},
		{"drop last", 10, 4, true, true, 2, 2, 8},
		{"batch larger than set", 3, 8, false, true, 4, 1, 3},
		{"empty set", 0, 4, false, true, 2, 0, 0},
	}
	for _, tt := range tests {
		ds := rampSet{n: tt.n, r: 4, failAt: -1}
		l, err := NewLoader(ds, LoaderOptions{BatchSize: tt.bs, DropLast: tt.dropLast, Shuffle: tt.shuffle, Workers: tt.workers, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		batches := collect(t, l, 1)
		if len(batches) != tt.wantBatches || l.BatchesPerEpoch() != tt.wantBatches {
			t.Errorf("%s: got %d batches (BatchesPerEpoch %d), want %d", tt.name, len(batches), l.BatchesPerEpoch(), tt.wantBatches)
		}
		var seen []int
		want := make([]float32, 3*4*4)
		for _, b := range batches {
			if b.N != len(b.Labels) || b.N != len(b.Indices) || len(b.X) != b.N*3*4*4 {
				t.Fatalf("%s: batch of N %d has %d labels, %d indices, %d values", tt.name, b.N, len(b.Labels), len(b.Indices), len(b.X))
			}
			for s, i := range b.Indices {
				ds.Image(i, 1, want)
				if !slices.Equal(b.X[s*len(want):(s+1)*len(want)], want) || b.Labels[s] != ds.Label(i) {
					t.Fatalf("%s: slot %d does not hold example %d", tt.name, s, i)
				}
			}
			seen = append(seen, b.Indices...)
		}
		sorted := slices.Sorted(slices.Values(seen))
		if len(seen) != tt.wantSeen || len(slices.Compact(sorted)) != len(seen) {
			t.Errorf("%s: saw %d examples (%d distinct), want %d distinct", tt.name, len(seen), len(slices.Compact(sorted)), tt.wantSeen)
		}
		if !tt.shuffle && !slices.IsSorted(seen) {
			t.Errorf("%s: unshuffled order %v", tt.name, seen)
		}
	}
}

func epochBytes(t *testing.T, ds Dataset, o LoaderOptions, epoch int) ([]float32, []int) {
	t.Helper()
	l, err := NewLoader(ds, o)
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	var idx []int
	for _, b := range collect(t, l, epoch) {
		x = append(x, b.X...)
		idx = append(idx, b.Indices...)
	}
	return x, idx
}

func TestLoaderDeterminism(t *testing.T) {
	ds := rampSet{n: 37, r: 8, failAt: -1}
	base := LoaderOptions{BatchSize: 5, Shuffle: true, Seed: 11, Workers: 1, Augment: Augment{HFlip: true, CropScaleMin: 0.4}}
	x1, i1 := epochBytes(t, ds, base, 2)
	tests := []struct {
		name     string
		change   func(o *LoaderOptions)
		epoch    int
		wantSame bool
	}{
		{"same seed", func(o *LoaderOptions) {}, 2, true},
		{"four workers, deep prefetch", func(o *LoaderOptions) { o.Workers, o.Prefetch = 4, 5 }, 2, true},
		{"other seed", func(o *LoaderOptions) { o.Seed = 12 }, 2, false},
		{"other epoch", func(o *LoaderOptions) {}, 3, false},
	}
	for _, tt := range tests {
		o := base
		tt.change(&o)
		x2, i2 := epochBytes(t, ds, o, tt.epoch)
		same := slices.Equal(i1, i2) && slices.Equal(x1, x2)
		if same != tt.wantSame {
			t.Errorf("%s: batches identical = %v, want %v", tt.name, same, tt.wantSame)
		}
	}
}

func TestHFlip(t *testing.T) {
	const r = 5
	x := make([]float32, 3*r*r)
	for k := range x {
		x[k] = float32(k)
	}
	got := slices.Clone(x)
	hflip(got, r)
	for c := 0; c < 3; c++ {
		for y := 0; y < r; y++ {
			for u := 0; u < r; u++ {
				if g, w := got[(c*r+y)*r+u], x[(c*r+y)*r+(r-1-u)]; g != w {
					t.Fatalf("(%d,%d,%d): got %v, want %v", c, y, u, g, w)
				}
			}
		}
	}
}

// TestRandomResizedCrop feeds coordinate ramps through the crop: channel 0 holds x,
// channel 1 holds y, so the output shows the sampling map, which must be an axis-aligned
// affine map onto a box of the allowed area and aspect inside the image.
func TestRandomResizedCrop(t *testing.T) {
	const r = 32
	for _, scaleMin := range []float64{0.08, 0.5, 0.9} {
		for seed := uint64(0); seed < 20; seed++ {
			x := make([]float32, 3*r*r)
			for y := 0; y < r; y++ {
				for u := 0; u < r; u++ {
					x[y*r+u], x[r*r+y*r+u], x[2*r*r+y*r+u] = float32(u), float32(y), 7
				}
			}
			randomResizedCrop(rand.New(rand.NewPCG(seed, 1)), x, make([]float32, len(x)), r, scaleMin)
			at := func(c, y, u int) float64 { return float64(x[c*r*r+y*r+u]) }
			// Interior samples (the edge ones may be clamped to the border).
			sx := (at(0, 5, r-2) - at(0, 5, 1)) / float64(r-3)
			sy := (at(1, r-2, 5) - at(1, 1, 5)) / float64(r-3)
			for v := 1; v < r-1; v++ {
				for u := 1; u < r-1; u++ {
					wantX := at(0, 5, 1) + sx*float64(u-1)
					wantY := at(1, 1, 5) + sy*float64(v-1)
					if math.Abs(at(0, v, u)-wantX) > 1e-4 || math.Abs(at(1, v, u)-wantY) > 1e-4 || at(2, v, u) != 7 {
						t.Fatalf("scale %v seed %d (%d,%d): got (%v,%v,%v), want (%v,%v,7)", scaleMin, seed, v, u, at(0, v, u), at(1, v, u), at(2, v, u), wantX, wantY)
					}
				}
			}
			area, aspect := sx*sy, sx/sy
			if area < scaleMin-1e-6 || area > 1+1e-6 || aspect < 0.75-1e-6 || aspect > 4.0/3+1e-6 {
				t.Errorf("scale %v seed %d: crop of area %.3f and aspect %.3f", scaleMin, seed, area, aspect)
			}
		}
	}
}

func TestLoaderFolderErrors(t *testing.T) {
	root := t.TempDir()
	for k := 0; k < 6; k++ {
		writePNG(t, filepath.Join(root, "a", string(rune('a'+k))+".png"), uniform("gray", 8, 8, color.NRGBA{uint8(k), 0, 0, 255}))
	}
	bad := filepath.Join(root, "a", "z.png")
	writeFile(t, bad, truncatedPNG(t))
	for _, onError := range []string{OnErrorFail, OnErrorSkip} {
		ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: onError})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 3, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		it := l.Epoch(context.Background(), 0)
		seen := 0
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			seen += b.N
		}
		it.Close()
		if onError == OnErrorFail {
			if err := it.Err(); err == nil || !strings.Contains(err.Error(), bad) {
				t.Errorf("fail: got error %v, want one naming %s", err, bad)
			}
			continue
		}
		if it.Err() != nil || seen != 6 || Skipped(ds) != 1 {
			t.Errorf("skip: got error %v, %d examples, %d skipped; want nil, 6, 1", it.Err(), seen, Skipped(ds))
		}
	}
	// A plain dataset's error also ends the epoch, with the example named.
	l, _ := NewLoader(rampSet{n: 9, r: 2, failAt: 7}, LoaderOptions{BatchSize: 4})
	it := l.Epoch(context.Background(), 0)
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	it.Close()
	if err := it.Err(); err == nil || !strings.Contains(err.Error(), "example 7: broken example") {
		t.Errorf("got error %v, want one naming example 7", err)
	}
	// So does a panic while loading.
	l, _ = NewLoader(rampSet{n: 9, r: 2, failAt: -1, panicAt: 5}, LoaderOptions{BatchSize: 4, Workers: 2})
	it = l.Epoch(context.Background(), 0)
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	it.Close()
	if err := it.Err(); err == nil || !strings.Contains(err.Error(), "example 5: panic while loading: decoder bug") {
		t.Errorf("got error %v, want one naming example 5 and the panic", err)
	}
}

func TestLoaderCache(t *testing.T) {
	root := t.TempDir()
	for k := 0; k < 6; k++ {
		writePNG(t, filepath.Join(root, "a", string(rune('a'+k))+".png"), uniform("gray", 12, 12, color.NRGBA{uint8(40 * k), 0, 0, 255}))
	}
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8})
	if err != nil {
		t.Fatal(err)
	}
	// The images are gray: the cache keeps one plane of each.
	const img = 8 * 8
	tests := []struct {
		budget     int64
		wantCached int64
	}{{0, 0}, {2*img + 5, 2 * img}, {1 << 20, 6 * img}}
	for _, tt := range tests {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, CacheBytes: tt.budget, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		var first []float32
		for _, b := range collect(t, l, 0) {
			first = append(first, b.X...)
		}
		if got := l.CachedBytes(); got != tt.wantCached {
			t.Errorf("budget %d: got %d bytes cached, want %d", tt.budget, got, tt.wantCached)
		}
		var second []float32
		for _, b := range collect(t, l, 1) {
			second = append(second, b.X...)
		}
		if !slices.Equal(first, second) {
			t.Errorf("budget %d: cached epoch differs from the decoded one", tt.budget)
		}
	}
	// With everything cached the files are no longer read.
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 6, CacheBytes: 1 << 20})
	collect(t, l, 0)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, l, 1); len(got) != 1 || got[0].N != 6 {
		t.Errorf("after deleting the files: got %d batches, want 1 of 6 from the cache", len(got))
	}
}

func TestLoaderNeedle(t *testing.T) {
	tr, _, err := Needle(NeedleOptions{Canvas: 32, DigitMin: 12, DigitMax: 16, SynthOptions: SynthOptions{Clutter: 2, Noise: 0.1, Train: 10, Val: 2, FreshEachEpoch: true}})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh-each-epoch set must not be cached even when there is room.
	l, err := NewLoader(tr, LoaderOptions{BatchSize: 4, Shuffle: true, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 3*32*32)
	for _, b := range collect(t, l, 4) {
		for s, i := range b.Indices {
			tr.Image(i, 4, want)
			if !slices.Equal(b.X[s*len(want):(s+1)*len(want)], want) {
				t.Fatalf("batch slot %d differs from canvas %d of epoch 4", s, i)
			}
		}
	}
	if got := l.CachedBytes(); got != 0 {
		t.Errorf("got %d bytes cached for a set that changes every epoch, want 0", got)
	}
}

func TestLoaderCancel(t *testing.T) {
	l, _ := NewLoader(rampSet{n: 1000, r: 16, failAt: -1}, LoaderOptions{BatchSize: 4, Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	if _, ok := it.Next(); !ok {
		t.Fatalf("first batch: %v", it.Err())
	}
	cancel()
	for _, ok := it.Next(); ok; _, ok = it.Next() {
	}
	it.Close()
	if !errors.Is(it.Err(), context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", it.Err())
	}
	// Closing early is not an error.
	it = l.Epoch(context.Background(), 1)
	it.Next()
	it.Close()
	it.Close()
	if _, ok := it.Next(); ok || it.Err() != nil {
		t.Errorf("after Close: got a batch or error %v", it.Err())
	}
}

func TestNewLoaderRejects(t *testing.T) {
	ds := rampSet{n: 4, r: 2, failAt: -1}
	tests := []struct {
		name string
		o    LoaderOptions
	}{
		{"zero batch", LoaderOptions{}},
		{"negative workers", LoaderOptions{BatchSize: 1, Workers: -1}},
		{"negative cache", LoaderOptions{BatchSize: 1, CacheBytes: -1}},
		{"crop scale above 1", LoaderOptions{BatchSize: 1, Augment: Augment{CropScaleMin: 1.5}}},
		{"crop scale NaN", LoaderOptions{BatchSize: 1, Augment: Augment{CropScaleMin: math.NaN()}}},
	}
	for _, tt := range tests {
		if _, err := NewLoader(ds, tt.o); err == nil {
			t.Errorf("%s: got nil error", tt.name)
		}
	}
	if _, err := NewLoader(nil, LoaderOptions{BatchSize: 1}); err == nil {
		t.Errorf("nil dataset: got nil error")
	}
}

// TestLoaderLowRes checks each batch's downsamples against kernels.ResizePlain32 of
// the batch's own (augmented) images, computed fresh, cached or mirrored.
func TestLoaderLowRes(t *testing.T) {
	root := t.TempDir()
	for k := 0; k < 5; k++ {
		im := image.NewNRGBA(image.Rect(0, 0, 12, 12))
		for p := range im.Pix {
			im.Pix[p] = uint8((p*37 + k*101) % 256)
		}
		writePNG(t, filepath.Join(root, "a", string(rune('a'+k))+".png"), im)
	}
	folder, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 12})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultNeedleOptions()
	o.Canvas, o.DigitMin, o.DigitMax, o.Clutter, o.Train, o.Val, o.FreshEachEpoch = 16, 6, 8, 1, 6, 1, false
	needle, _, err := Needle(o)
	if err != nil {
		t.Fatal(err)
	}
	sides := []int{5, 3}
	tests := []struct {
		name    string
		ds      Dataset
		augment Augment
		cache   int64
		planes  int64 // planes of each cached image (gray: one)
	}{
		{"plain", rampSet{n: 7, r: 12, failAt: -1}, Augment{}, 0, 3},
		{"flip and crop", rampSet{n: 7, r: 12, failAt: -1}, Augment{HFlip: true, CropScaleMin: 0.5}, 0, 3},
		{"folder, cached", folder, Augment{}, 1 << 20, 3},
		{"folder, cached and flipped", folder, Augment{HFlip: true}, 1 << 20, 3},
		{"needle (gray), cached and flipped", needle, Augment{HFlip: true}, 1 << 20, 1},
	}
	for _, tt := range tests {
		r := tt.ds.Resolution()
		l, err := NewLoader(tt.ds, LoaderOptions{BatchSize: 3, Workers: 2, Shuffle: true, Seed: 5, Augment: tt.augment, CacheBytes: tt.cache, Inputs: lowres.Inputs{Resolution: r, Sides: sides}})
		if err != nil {
			t.Fatal(err)
		}
		for epoch := range 2 {
			seen := 0
			for _, b := range collect(t, l, epoch) {
				if len(b.LowRes) != len(sides) {
					t.Fatalf("%s: got %d downsamples, want %d", tt.name, len(b.LowRes), len(sides))
				}
				for k, side := range sides {
					n := 3 * side * side
					if len(b.LowRes[k]) != b.N*n {
						t.Fatalf("%s: downsample %d has %d values, want %d", tt.name, k, len(b.LowRes[k]), b.N*n)
					}
					want := make([]float32, n)
					for i := range b.N {
						kernels.ResizePlain32(b.X[i*3*r*r:(i+1)*3*r*r], 3, r, r, side, side, want)
						for j, w := range want {
							if g := b.LowRes[k][i*n+j]; math.Abs(float64(g-w)) > 1e-6 {
								t.Fatalf("%s, epoch %d, image %d, side %d, value %d: got %v, want %v", tt.name, epoch, b.Indices[i], side, j, g, w)
							}
						}
					}
				}
				seen += b.N
			}
			if seen != tt.ds.Len() {
				t.Errorf("%s: epoch %d served %d images, want %d", tt.name, epoch, seen, tt.ds.Len())
			}
		}
		if tt.cache > 0 {
			// The downsamples count against the cache budget.
			if got, want := l.CachedBytes(), int64(tt.ds.Len())*tt.planes*int64(r*r+4*(25+9)); got != want {
				t.Errorf("%s: got %d bytes cached, want %d", tt.name, got, want)
			}
		}
	}
	for _, in := range []lowres.Inputs{{Resolution: 12, Sides: []int{13}}, {Resolution: 16, Sides: []int{8}}} {
		if _, err := NewLoader(folder, LoaderOptions{BatchSize: 2, Inputs: in}); err == nil {
			t.Errorf("NewLoader accepted inputs %+v of 12 px images", in)
		}
	}
}

func TestLoaderRelease(t *testing.T) {
	ds := rampSet{n: 20, r: 4, failAt: -1}
	in := lowres.Inputs{Resolution: 4, Sides: []int{2}}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, Shuffle: true, Workers: 2, Prefetch: 1, Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 3*4*4)
	wantSmall := [][]float32{make([]float32, 3*2*2)}
	reused, reusedSmall := 0, 0
	seen := map[*float32]bool{}
	for epoch := 0; epoch < 3; epoch++ {
		it := l.Epoch(context.Background(), epoch)
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			if seen[&b.X[0]] {
				reused++
			}
			if seen[&b.LowRes[0][0]] {
				reusedSmall++
			}
			seen[&b.X[0]], seen[&b.LowRes[0][0]] = true, true
			for s, i := range b.Indices {
				ds.Image(i, epoch, want)
				if !slices.Equal(b.X[s*len(want):(s+1)*len(want)], want) {
					t.Fatalf("epoch %d: slot %d does not hold example %d", epoch, s, i)
				}
				if err := in.Make(want, 1, wantSmall); err != nil {
					t.Fatal(err)
				}
				if n := len(wantSmall[0]); !slices.Equal(b.LowRes[0][s*n:(s+1)*n], wantSmall[0]) {
					t.Fatalf("epoch %d: slot %d does not hold the downsample of example %d", epoch, s, i)
				}
			}
			l.Release(b)
			if b.X != nil || b.N != 0 || b.LowRes != nil {
				t.Fatalf("a released batch still has data")
			}
		}
		it.Close()
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if reused == 0 || reusedSmall == 0 {
		t.Errorf("%d image and %d downsample buffers reused in 15 batches, want some of each", reused, reusedSmall)
	}
}

// TestCacheBudgetShared checks that two loaders drawing on one budget cache no more
// than it holds between them, and that each serves the same images cached or not.
func TestCacheBudgetShared(t *testing.T) {
	o := DefaultNeedleOptions()
	o.Canvas, o.DigitMin, o.DigitMax, o.Clutter, o.Train, o.Val, o.FreshEachEpoch = 16, 6, 8, 1, 6, 4, false
	train, val, err := Needle(o)
	if err != nil {
		t.Fatal(err)
	}
	const img = 16 * 16 // one plane of a gray canvas
	budget := NewCacheBudget(7*img + 3)
	var loaders []*Loader
	for _, ds := range []Dataset{train, val} {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 2, Workers: 2, Cache: budget})
		if err != nil {
			t.Fatal(err)
		}
		loaders = append(loaders, l)
	}
	var first [][]float32
	for _, l := range loaders {
		var x []float32
		for _, b := range collect(t, l, 0) {
			x = append(x, b.X...)
		}
		first = append(first, x)
	}
	if got, sum := budget.Used(), loaders[0].CachedBytes()+loaders[1].CachedBytes(); got != 7*img || sum != got {
		t.Errorf("got %d bytes used of the budget, %d held by the loaders, want %d for both", got, sum, 7*img)
	}
	for k, l := range loaders {
		var x []float32
		for _, b := range collect(t, l, 1) {
			x = append(x, b.X...)
		}
		if !slices.Equal(x, first[k]) {
			t.Errorf("loader %d: the second epoch differs from the first", k)
		}
	}
}

// TestLoaderBuffersInFlight checks that a consumer releasing each batch before the next
// sees at most Prefetch+1 distinct image buffers: the producer takes a batch's buffer
// only when the batch has its place among those prepared ahead.
func TestLoaderBuffersInFlight(t *testing.T) {
	for _, prefetch := range []int{1, 2, 3} {
		ds := rampSet{n: 40, r: 4, failAt: -1}
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 2, Workers: 2, Prefetch: prefetch})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[*float32]bool{}
		it := l.Epoch(context.Background(), 0)
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			seen[&b.X[0]] = true
			l.Release(b)
		}
		it.Close()
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if len(seen) > prefetch+1 {
			t.Errorf("prefetch %d: %d distinct batch buffers in 20 batches, want at most %d", prefetch, len(seen), prefetch+1)
		}
	}
}
