package data

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// batchesOf reads every batch of epoch e.
func batchesOf(t *testing.T, l *Loader, e int) []*Batch {
	t.Helper()
	it := l.Epoch(context.Background(), e)
	defer it.Close()
	var out []*Batch
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		out = append(out, b)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoaderCarriesTargets: each batch of a regression set carries its examples'
// targets of that epoch, row by row, and a classification batch carries none.
func TestLoaderCarriesTargets(t *testing.T) {
	tr, _, err := NewGaze(GazeOptions{Canvas: 32, EyeMin: 3, EyeMax: 4, SynthOptions: SynthOptions{Train: 10, Val: 2, FreshEachEpoch: true}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(tr, LoaderOptions{BatchSize: 4, Shuffle: true, Seed: 3, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, epoch := range []int{0, 1} {
		n := 0
		for _, b := range batchesOf(t, l, epoch) {
			if len(b.Targets) != 2*b.N {
				t.Fatalf("batch of %d carries %d targets", b.N, len(b.Targets))
			}
			for s, i := range b.Indices {
				want := make([]float32, 2)
				if err := tr.Targets(i, epoch, want); err != nil {
					t.Fatal(err)
				}
				if got := b.Targets[2*s : 2*s+2]; !slices.Equal(got, want) {
					t.Errorf("epoch %d example %d: targets %v, want %v", epoch, i, got, want)
				}
			}
			n += b.N
		}
		if n != 10 {
			t.Errorf("epoch %d served %d examples, want 10", epoch, n)
		}
	}
	needle, _, err := Needle(NeedleOptions{Canvas: 32, DigitMin: 14, DigitMax: 16, SynthOptions: SynthOptions{Train: 4, Val: 1}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewLoader(needle, LoaderOptions{BatchSize: 4, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if b := batchesOf(t, cl, 0); b[0].Targets != nil {
		t.Errorf("classification batch carries targets %v", b[0].Targets)
	}
}

// TestLoaderFlipNegatesGaze: a horizontally flipped gaze canvas has gx negated and gy
// kept; an unflipped one keeps both.
func TestLoaderFlipNegatesGaze(t *testing.T) {
	tr, _, err := NewGaze(GazeOptions{Canvas: 32, EyeMin: 3, EyeMax: 4, SynthOptions: SynthOptions{Train: 16, Val: 1, Noise: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(tr, LoaderOptions{BatchSize: 16, Seed: 5, Workers: 2, Augment: Augment{HFlip: true}})
	if err != nil {
		t.Fatal(err)
	}
	b := batchesOf(t, l, 0)[0]
	r := 32
	plain, mirrored := make([]float32, 3*r*r), make([]float32, 3*r*r)
	var flips int
	for s, i := range b.Indices {
		if err := tr.Image(i, 0, plain); err != nil {
			t.Fatal(err)
		}
		copy(mirrored, plain)
		hflip(mirrored, r)
		got := b.X[s*3*r*r : (s+1)*3*r*r]
		want := make([]float32, 2)
		if err := tr.Targets(i, 0, want); err != nil {
			t.Fatal(err)
		}
		switch {
		case slices.Equal(got, plain):
		case slices.Equal(got, mirrored):
			flips++
			want[0] = -want[0]
		default:
			t.Fatalf("example %d is neither the canvas nor its mirror image", i)
		}
		if gt := b.Targets[2*s : 2*s+2]; !slices.Equal(gt, want) {
			t.Errorf("example %d: targets %v, want %v", i, gt, want)
		}
	}
	if flips == 0 || flips == 16 {
		t.Errorf("%d of 16 canvases flipped: the check needs both kinds", flips)
	}
}

// TestLoaderRegressionRefusals: a regression folder says nothing of how its targets
// change under a mirror, and a crop would change any geometric target: both are refused.
func TestLoaderRegressionRefusals(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, TargetsFile), "file,v\n1.png,1\n2.png,2\n")
	writeTestPNG(t, filepath.Join(dir, "1.png"), 10)
	writeTestPNG(t, filepath.Join(dir, "2.png"), 20)
	tr, _, err := OpenTargetFolders(FolderOptions{Root: dir, Resolution: 4, ValFraction: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	gaze, _, err := NewGaze(GazeOptions{Canvas: 32, EyeMin: 3, EyeMax: 4, SynthOptions: SynthOptions{Train: 2, Val: 1}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ds   Dataset
		aug  Augment
		want string
	}{
		{"flip of a folder", tr, Augment{HFlip: true}, "mirrored"},
		{"crop of a folder", tr, Augment{CropScaleMin: 0.5}, "crop"},
		{"crop of gaze", gaze, Augment{CropScaleMin: 0.5}, "crop"},
	}
	for _, tt := range tests {
		_, err := NewLoader(tt.ds, LoaderOptions{BatchSize: 1, Augment: tt.aug})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one about %q", tt.name, err, tt.want)
		}
	}
}

// TestLoaderSkipKeepsTargetsPaired: a file found unreadable while loading is left out of
// its batch, and the targets of the examples after it move up with their images.
func TestLoaderSkipKeepsTargetsPaired(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, TargetsFile), "file,v\n1.png,1\n2.png,2\n3.png,3\n")
	for k := 1; k <= 3; k++ {
		writeTestPNG(t, filepath.Join(dir, string(rune('0'+k))+".png"), uint8(10*k))
	}
	tr, err := OpenTargetSplit(dir, []string{"v"}, FolderOptions{Resolution: 4, OnError: OnErrorSkip})
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "2.png"), "no longer a png")
	l, err := NewLoader(tr, LoaderOptions{BatchSize: 3, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b := batchesOf(t, l, 0)[0]
	if b.N != 2 || !slices.Equal(b.Targets, []float32{1, 3}) || len(b.X) != 2*3*16 {
		t.Fatalf("batch of %d, targets %v, %d values; want 2, [1 3], %d", b.N, b.Targets, len(b.X), 2*3*16)
	}
	for s, v := range b.Targets {
		if got := b.X[s*48] * 255; got < 10*v-0.5 || got > 10*v+0.5 {
			t.Errorf("row %d: pixel %v with target %v", s, got, v)
		}
	}
}
