package data

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"zoomtrain/internal/atomicfile"
)

// NeedleManifestFile is written beside train/ and val/ by WriteFolder: the options
// and, for every canvas, where its digit went.
const NeedleManifestFile = "needle.json"

// WriteOptions configure WriteFolder.
type WriteOptions struct {
	// Force replaces the train/, val/ and needle.json of a non-empty output folder,
	// leaving anything else in it alone; without it the folder must not exist or be empty.
	Force bool
	// Progress, when set, is called after each image is written, from the writing
	// goroutines.
	Progress func()
	Workers  int // writing goroutines; 0 means GOMAXPROCS
}

// WriteFolder writes the needle set of o as an image folder out (see OpenFolder):
// 8-bit grayscale PNGs in out/train/<class>/ and out/val/<class>/, and out/needle.json.
// The files are written into a hidden sibling of out that is moved into place only
// when every one is written, so the folder appears complete or not at all; a
// cancelled ctx returns its error and writes nothing. The same options give the same
// files.
func WriteFolder(ctx context.Context, out string, o NeedleOptions, w WriteOptions) error {
	out = filepath.Clean(out)
	existing, err := checkWriteOut(out, w.Force, NeedleManifestFile)
	if err != nil {
		return err
	}
	trainSet, valSet, err := NewNeedle(o)
	if err != nil {
		return err
	}
	tmp, err := stagingDir(out)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful move only old files are left in it

	splits := []struct {
		name string
		set  *NeedleSet
	}{{"train", trainSet}, {"val", valSet}}
	classes := NeedleClasses()
	for _, sp := range splits {
		for _, c := range classes {
			if err := os.MkdirAll(filepath.Join(tmp, sp.name, c), 0o755); err != nil {
				return fmt.Errorf("create output folder: %w", err)
			}
		}
	}
	total := o.Train + o.Val
	width := max(5, len(strconv.Itoa(max(o.Train, o.Val)-1)))
	records := make([]needleRecord, total)
	err = parallel(ctx, w, total, func(k int) error {
		sp, i := splits[0], k
		if k >= o.Train {
			sp, i = splits[1], k-o.Train
		}
		rec, err := writeNeedleCanvas(tmp, sp.name, sp.set, i, width)
		records[k] = rec
		return err
	})
	if err != nil {
		return err
	}
	manifest := needleManifest{Options: o, Classes: classes, Images: records}
	if err := atomicfile.Write(filepath.Join(tmp, NeedleManifestFile), manifest.write); err != nil {
		return err
	}
	return moveIntoPlace(tmp, out, existing, NeedleManifestFile)
}

// parallel runs job(k) for k in [0, n) on w.Workers goroutines (0: GOMAXPROCS),
// calling w.Progress after each success; the first error (or ctx's) stops the rest and
// is returned.
func parallel(ctx context.Context, w WriteOptions, n int, job func(k int) error) error {
	jobs := make(chan int)
	workers := w.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range workers {
		wg.Go(func() {
			for k := range jobs {
				if err := job(k); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					continue
				}
				if w.Progress != nil {
					w.Progress()
				}
			}
		})
	}
dispatch:
	for k := range n {
		select {
		case jobs <- k:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}

// needleManifest is needle.json.
type needleManifest struct {
	Options NeedleOptions  `json:"options"`
	Classes []string       `json:"classes"`
	Images  []needleRecord `json:"images"`
}

type needleRecord struct {
	File    string   `json:"file"` // relative to the output folder, slash-separated
	Split   string   `json:"split"`
	Index   int      `json:"index"`
	Label   int      `json:"label"`
	Digit   [4]int   `json:"digit"` // x0, y0, x1, y1 of the scaled 28 x 28 MNIST box
	Source  int      `json:"mnist_index"`
	Clutter [][4]int `json:"clutter"`
}

// write encodes the manifest with one image per line: readable, and a tenth of the
// size of indenting every field.
func (m needleManifest) write(w io.Writer) error {
	return writeManifest(w, NeedleManifestFile, struct {
		Options NeedleOptions `json:"options"`
		Classes []string      `json:"classes"`
	}{m.Options, m.Classes}, m.Images)
}

// writeManifest writes the JSON object head with an "images" array of records added,
// one record per line.
func writeManifest[T any](w io.Writer, name string, head any, images []T) error {
	h, err := json.Marshal(head)
	if err != nil || len(h) < 2 || h[len(h)-1] != '}' {
		return fmt.Errorf("encode %s: head is no JSON object (%v)", name, err)
	}
	var b bytes.Buffer
	b.Write(h[:len(h)-1])
	if len(h) > 2 {
		b.WriteByte(',')
	}
	b.WriteString("\n\"images\": [")
	for k, r := range images {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode %s: %w", name, err)
		}
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n  ")
		b.Write(line)
	}
	b.WriteString("\n]}\n")
	_, err = w.Write(b.Bytes())
	return err
}

// NotEmptyError is the error of WriteFolder and WriteGazeFolder for an output folder
// that holds something while WriteOptions.Force is off.
type NotEmptyError struct {
	Dir string
	// Manifest is the set's manifest file: with Force, it, train/ and val/ are what
	// would be replaced.
	Manifest string
}

func (e *NotEmptyError) Error() string { return fmt.Sprintf("output folder %s is not empty", e.Dir) }

// checkWriteOut refuses a non-empty output folder unless force; it reports whether the
// folder exists. manifest names the file written beside train/ and val/.
func checkWriteOut(out string, force bool, manifest string) (exists bool, err error) {
	st, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("output folder: %w", err)
	}
	if !st.IsDir() {
		return false, fmt.Errorf("output %s exists and is not a folder", out)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return false, fmt.Errorf("output folder: %w", err)
	}
	if len(ents) > 0 && !force {
		return false, &NotEmptyError{Dir: out, Manifest: manifest}
	}
	return true, nil
}

func writeNeedleCanvas(dir, split string, set *NeedleSet, i, width int) (needleRecord, error) {
	g, p, err := set.Canvas(i, 0)
	if err != nil {
		return needleRecord{}, err
	}
	rel := filepath.Join(split, strconv.Itoa(p.Label), fmt.Sprintf("%0*d.png", width, i))
	if err := writeSyncedPNG(filepath.Join(dir, rel), g); err != nil {
		return needleRecord{}, err
	}
	rec := needleRecord{
		File: filepath.ToSlash(rel), Split: split, Index: i, Label: p.Label, Source: p.Source,
		Digit:   [4]int{p.Digit.Min.X, p.Digit.Min.Y, p.Digit.Max.X, p.Digit.Max.Y},
		Clutter: [][4]int{},
	}
	for _, c := range p.Clutter {
		rec.Clutter = append(rec.Clutter, [4]int{c.Min.X, c.Min.Y, c.Max.X, c.Max.Y})
	}
	return rec, nil
}

// writeSyncedPNG writes a PNG and syncs it to disk. The file sits in the hidden folder
// that is renamed into place at the end, which is what makes the set appear whole, so a
// per-file temporary name and directory sync (atomicfile) would only cost time.
func writeSyncedPNG(path string, img image.Image) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	w := bufio.NewWriter(f)
	// Noise barely compresses: the fastest level makes files as small as the default.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(w, img); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// moveIntoPlace renames the finished tree tmp (train/, val/ and the manifest file) to
// out. When out exists, its entries that tmp replaces are first moved into tmp (and so
// deleted with it).
func moveIntoPlace(tmp, out string, exists bool, manifest string) error {
	if !exists {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("move output into place: %w", err)
		}
		return atomicfile.SyncDir(filepath.Dir(out))
	}
	names := []string{"train", "val", manifest}
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(out, n)); err == nil {
			if err := os.Rename(filepath.Join(out, n), filepath.Join(tmp, ".old-"+n)); err != nil {
				return fmt.Errorf("replace %s: %w", n, err)
			}
		}
	}
	for _, n := range names {
		if err := os.Rename(filepath.Join(tmp, n), filepath.Join(out, n)); err != nil {
			return fmt.Errorf("move %s into place: %w", n, err)
		}
	}
	return atomicfile.SyncDir(out)
}

// stagingDir makes the hidden sibling of out that a folder is written into before it is
// moved into place.
func stagingDir(out string) (string, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create output folder: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("create output folder: %w", err)
	}
	return tmp, nil
}
