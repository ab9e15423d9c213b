package data

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test if f has not returned in 10 s, so that a regression that
// blocks (on a FIFO, say) fails instead of hanging the suite.
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("did not return within 10 s")
	}
}

// skipTree writes ROOT/<class>/<k>.png for two classes of six images each, and the
// given unreadable files.
func skipTree(t *testing.T, bad ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, c := range []string{"a", "b"} {
		for k := range 6 {
			writePNG(t, filepath.Join(root, c, fmt.Sprintf("%d.png", k)), uniform("gray", 8, 8, color.NRGBA{uint8(40 * k), 0, 0, 255}))
		}
	}
	for _, p := range bad {
		writeFile(t, filepath.Join(root, p), truncatedPNG(t))
	}
	return root
}

// epochOf runs one epoch and returns its batches' indices and the files it skipped.
func epochOf(t *testing.T, l *Loader, epoch int) (indices [][]int, skipped []SkippedFile, err error) {
	t.Helper()
	within(t, func() {
		it := l.Epoch(context.Background(), epoch)
		defer it.Close()
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			if b.N != len(b.Labels) || len(b.X) != b.N*3*8*8 {
				t.Errorf("batch of N %d has %d labels and %d values", b.N, len(b.Labels), len(b.X))
			}
			indices = append(indices, slices.Clone(b.Indices))
		}
		skipped, err = it.Skipped(), it.Err()
	})
	return indices, skipped, err
}

func skippedPaths(s []SkippedFile) []string {
	var out []string
	for _, f := range s {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

// TestLoaderFillsSkippedSlots: with DropLast, a file that passes the header check but
// fails to decode is replaced in its batch by a readable example, every batch is full,
// the choice does not depend on the number of workers, and the epoch names the file.
func TestLoaderFillsSkippedSlots(t *testing.T) {
	root := skipTree(t, "a/x.png", "b/y.png")
	bad := []string{filepath.Join(root, "a/x.png"), filepath.Join(root, "b/y.png")}
	var first [][]int
	for _, workers := range []int{1, 3} {
		ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: OnErrorSkip})
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, Shuffle: true, Seed: 9, Workers: workers, DropLast: true})
		if err != nil {
			t.Fatal(err)
		}
		for epoch := range 2 {
			indices, skipped, err := epochOf(t, l, epoch)
			if err != nil {
				t.Fatalf("workers %d epoch %d: %v", workers, epoch, err)
			}
			if len(indices) != l.BatchesPerEpoch() || len(indices) != 14/4 {
				t.Errorf("workers %d epoch %d: %d batches, want %d", workers, epoch, len(indices), 14/4)
			}
			for _, b := range indices {
				if len(b) != 4 {
					t.Errorf("workers %d epoch %d: batch of %d, want 4", workers, epoch, len(b))
				}
				for _, i := range b {
					if slices.Contains(bad, ds.Path(i)) {
						t.Errorf("workers %d epoch %d: batch holds unreadable %s", workers, epoch, ds.Path(i))
					}
				}
			}
			// Only the files this epoch's batches met are named; over both epochs
			// (14 files, 12 served an epoch) each bad file is met at least once.
			for _, f := range skipped {
				if !slices.Contains(bad, f.Path) || f.Err == nil || !errors.Is(f.Err, ErrSkipped) {
					t.Errorf("workers %d epoch %d: skipped %+v, want one of %v with its error", workers, epoch, f, bad)
				}
			}
			if epoch == 0 && workers == 1 {
				first = indices
			}
			if epoch == 0 && workers == 3 && !slices.EqualFunc(first, indices, slices.Equal) {
				t.Errorf("epoch 0 with 3 workers served %v, with 1 worker %v", indices, first)
			}
		}
		if got := skippedPaths(ds.SkippedFiles()); len(got) > 2 || ds.Skipped() != len(got) {
			t.Errorf("workers %d: folder lists %v as skipped and counts %d", workers, got, ds.Skipped())
		}
	}
}

// TestLoaderNamesEverySkippedFile serves every example (no shuffle, batch size dividing
// the count), so each unreadable file must be named exactly once an epoch.
func TestLoaderNamesEverySkippedFile(t *testing.T) {
	root := skipTree(t, "a/x.png", "b/y.png")
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: OnErrorSkip})
	if err != nil {
		t.Fatal(err)
	}
	for _, dropLast := range []bool{true, false} {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 7, Workers: 2, DropLast: dropLast})
		if err != nil {
			t.Fatal(err)
		}
		indices, skipped, err := epochOf(t, l, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{filepath.Join(root, "a/x.png"), filepath.Join(root, "b/y.png")}
		if got := skippedPaths(skipped); !slices.Equal(got, want) {
			t.Errorf("DropLast %v: skipped %v, want %v", dropLast, got, want)
		}
		n := 0
		for _, b := range indices {
			n += len(b)
		}
		if wantN := map[bool]int{true: 14, false: 12}[dropLast]; n != wantN {
			t.Errorf("DropLast %v: served %d examples, want %d", dropLast, n, wantN)
		}
		// The folder keeps the same list, with each file's example index.
		files := ds.SkippedFiles()
		if got := skippedPaths(files); !slices.Equal(got, want) || ds.Skipped() != 2 {
			t.Errorf("DropLast %v: folder lists %v (counts %d), want %v", dropLast, got, ds.Skipped(), want)
		}
		for _, f := range files {
			if f.Index < 0 || ds.Path(f.Index) != f.Path || !errors.Is(f.Err, ErrSkipped) || !strings.Contains(f.Err.Error(), f.Path) {
				t.Errorf("DropLast %v: skipped file %+v, want its index and an error naming it", dropLast, f)
			}
		}
	}
}

// TestLoaderClassRemovedMidRun removes a class folder after the set is opened: its
// files are skipped and named, the batches stay full with the other class's images.
func TestLoaderClassRemovedMidRun(t *testing.T) {
	root := skipTree(t)
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: OnErrorSkip})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, Shuffle: true, Seed: 2, Workers: 2, DropLast: true})
	if err != nil {
		t.Fatal(err)
	}
	indices, skipped, err := epochOf(t, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(indices) != 3 {
		t.Errorf("%d batches, want 3", len(indices))
	}
	for _, b := range indices {
		for _, i := range b {
			if len(b) != 4 || ds.Label(i) != 0 {
				t.Errorf("batch %v: want 4 examples of class a", b)
			}
		}
	}
	if len(skipped) == 0 {
		t.Error("no skipped files named")
	}
	for _, f := range skipped {
		if !strings.HasPrefix(f.Path, filepath.Join(root, "b")) || !strings.Contains(f.Err.Error(), "no such file") {
			t.Errorf("skipped %s (%v), want a file of the removed class", f.Path, f.Err)
		}
	}
}

func TestLoaderNothingReadableLeft(t *testing.T) {
	root := skipTree(t)
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: OnErrorSkip})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 4, Workers: 2, DropLast: true})
	if _, _, err := epochOf(t, l, 0); err == nil || !strings.Contains(err.Error(), "no readable image is left") {
		t.Errorf("got error %v, want one saying no readable image is left", err)
	}
}

// TestFolderNonRegularFiles puts a FIFO and a directory symlink among the images: they
// are named in the error (fail mode) or skipped and named (skip mode), never opened
// for a blocking read, in training, evaluation (OpenFolderSplit) and LoadImage.
func TestFolderNonRegularFiles(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"x.png", "is a FIFO"},
		{"up.png", "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := skipTree(t)
			p := filepath.Join(root, "a", tt.name)
			if tt.name == "x.png" {
				if err := syscall.Mkfifo(p, 0o644); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
			} else if err := os.Symlink(root, p); err != nil {
				t.Fatal(err)
			}
			var err error
			within(t, func() { _, _, err = OpenFolders(FolderOptions{Root: root, Resolution: 8}) })
			if err == nil || !strings.Contains(err.Error(), p+" "+tt.want) {
				t.Errorf("fail mode: got error %v, want one saying %s %s", err, p, tt.want)
			}
			within(t, func() { _, err = OpenFolderSplit(root, []string{"a", "b"}, FolderOptions{Resolution: 8}) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("split: got error %v, want one saying %s", err, tt.want)
			}
			within(t, func() { _, err = LoadImage(p, 8, PolicyResize) })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadImage: got error %v, want one saying %s", err, tt.want)
			}
			var ds *Folder
			within(t, func() { ds, _, err = OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: OnErrorSkip}) })
			if err != nil {
				t.Fatalf("skip mode: %v", err)
			}
			got := ds.SkippedFiles()
			if ds.Len() != 12 || len(got) != 1 || got[0].Path != p || got[0].Index != -1 || !strings.Contains(got[0].Err.Error(), tt.want) || !errors.Is(got[0].Err, ErrSkipped) {
				t.Errorf("skip mode: %d images, skipped %+v; want 12 and %s", ds.Len(), got, p)
			}
		})
	}
}

func TestFolderPixelLimit(t *testing.T) {
	root := skipTree(t)
	writePNG(t, filepath.Join(root, "a", "big.png"), uniform("gray", 20, 10, color.NRGBA{1, 1, 1, 255}))
	big := filepath.Join(root, "a", "big.png")
	_, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, MaxPixels: 199})
	if err == nil || !strings.Contains(err.Error(), big+": image of 20x10 is larger than the limit of 199 pixels") {
		t.Errorf("got error %v, want one naming %s and the limit", err, big)
	}
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, MaxPixels: 199, OnError: OnErrorSkip})
	if err != nil || ds.Len() != 12 || ds.Skipped() != 1 {
		t.Errorf("skip mode: got error %v, %d images, want 12 and 1 skipped", err, ds.Len())
	}
	if ds, _, err = OpenFolders(FolderOptions{Root: root, Resolution: 8, MaxPixels: 200}); err != nil || ds.Len() != 13 {
		t.Errorf("limit 200: got error %v, want 13 images", err)
	}
	if _, _, err = OpenFolders(FolderOptions{Root: root, Resolution: 8, MaxPixels: -1}); err == nil {
		t.Error("negative pixel limit accepted")
	}
}

// TestFolderErrorsQuoteNames: a class folder or file named with ESC or a newline is
// quoted in errors, so the error stays one line and sends no escape to the terminal.
func TestFolderErrorsQuoteNames(t *testing.T) {
	root := skipTree(t)
	bad := filepath.Join(root, "a", "\x1b[31mx\n.png")
	writeFile(t, bad, []byte("not an image"))
	_, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8})
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\n") || !strings.Contains(err.Error(), `\x1b[31mx\n.png"`) {
		t.Errorf("got error %q, want one with the file name quoted", err)
	}
	split := t.TempDir()
	writePNG(t, filepath.Join(split, "evil\x1b]0;t\x07", "x.png"), uniform("gray", 8, 8, color.NRGBA{1, 1, 1, 255}))
	_, err = OpenFolderSplit(split, []string{"a"}, FolderOptions{Resolution: 8})
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x07") || !strings.Contains(err.Error(), `evil\x1b]0;t\a"`) {
		t.Errorf("got error %q, want one with the class folder quoted", err)
	}
}
