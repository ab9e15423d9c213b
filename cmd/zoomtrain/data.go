package main

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
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/data"
)

func newDataCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Prepare data sets",
		Long: `Prepare data sets.

zoomtrain trains on image folders (ROOT/train/<class>/*, ROOT/val/<class>/*, or
ROOT/<class>/* with a seeded split) or on the built-in needle set, which needs no
download. 'zoomtrain data needle' writes the needle set out as such a folder.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDataNeedleCmd(s))
	return cmd
}

// dataNeedleOptions are the flags of `zoomtrain data needle`.
type dataNeedleOptions struct {
	Out    string
	Needle data.NeedleOptions
	Force  bool
	JSON   bool
	// ProgressMin is the job size from which progress is shown on stderr.
	ProgressMin int
}

// needleManifest is written beside train/ and val/ as needle.json: the options and, for
// every canvas, where its digit went.
type needleManifest struct {
	Options data.NeedleOptions `json:"options"`
	Classes []string           `json:"classes"`
	Images  []needleRecord     `json:"images"`
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

const needleManifestFile = "needle.json"

// write encodes the manifest with one image per line: readable, and a tenth of the
// size of indenting every field.
func (m needleManifest) write(w io.Writer) error {
	head, err := json.Marshal(struct {
		Options data.NeedleOptions `json:"options"`
		Classes []string           `json:"classes"`
	}{m.Options, m.Classes})
	if err != nil {
		return fmt.Errorf("encode %s: %w", needleManifestFile, err)
	}
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	b.WriteString(",\n\"images\": [")
	for k, r := range m.Images {
		line, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode %s: %w", needleManifestFile, err)
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

func newDataNeedleCmd(s streams) *cobra.Command {
	opts := dataNeedleOptions{Needle: data.DefaultNeedleOptions(), ProgressMin: 2000}
	digit := digitRange{min: &opts.Needle.DigitMin, max: &opts.Needle.DigitMax}
	cmd := &cobra.Command{
		Use:   "needle --out DIR",
		Short: "Write the built-in needle data set as an image folder",
		Long: `Write the built-in needle data set as an image folder.

Each canvas is dim noise, a few clutter fragments cut from other MNIST digits and one
whole MNIST digit, whose class (0-9) is the label. Training canvases use MNIST training
digits, validation canvases MNIST test digits. The images are 8-bit grayscale PNGs in
DIR/train/<class>/ and DIR/val/<class>/; DIR/needle.json records the options and where
each digit was put. The same options and seed give the same files.

DIR must not exist or be empty; --force replaces DIR's train/, val/ and needle.json and
leaves anything else in it alone. The folder appears complete or not at all.`,
		Example: `  zoomtrain data needle --out needle128
  zoomtrain data needle --out needle512 --canvas 512 --digit 24,32 --clutter 8 --seed 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			// Accept the two-word form "--digit MIN MAX" as well as "--digit MIN,MAX".
			if len(args) == 1 && digit.single && cmd.Flags().Changed("digit") {
				v, err := strconv.Atoi(args[0])
				if err != nil {
					return usageErrorf("unexpected argument %q", args[0])
				}
				*digit.max = v
				return nil
			}
			if len(args) > 0 {
				return usageErrorf("unexpected argument %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Out == "" {
				return usageErrorf("--out is required")
			}
			if err := opts.Needle.Validate(); err != nil {
				return usageError{err}
			}
			ctx, signalled, stop := dataInterruptContext(cmd.Context())
			defer stop()
			err := runDataNeedle(ctx, opts, s)
			if sig := signalled(); sig != nil && err != nil {
				code := 130
				if sig == syscall.SIGTERM {
					code = 143
				}
				return exitCodeError{fmt.Errorf("interrupted by %v; nothing was written", sig), code}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Out, "out", "", "output folder (must not exist or be empty, unless --force)")
	f.IntVar(&opts.Needle.Canvas, "canvas", opts.Needle.Canvas, fmt.Sprintf("canvas side in pixels, up to %d", data.MaxNeedleCanvas))
	f.Var(&digit, "digit", "digit size range MIN,MAX in pixels (or one size)")
	f.IntVar(&opts.Needle.Clutter, "clutter", opts.Needle.Clutter, "clutter fragments per canvas")
	f.IntVar(&opts.Needle.Train, "train", opts.Needle.Train, "number of training canvases")
	f.IntVar(&opts.Needle.Val, "val", opts.Needle.Val, "number of validation canvases")
	f.Float64Var(&opts.Needle.Noise, "noise", opts.Needle.Noise, "brightest background noise value, in [0, 1]")
	f.Int64Var(&opts.Needle.Seed, "seed", opts.Needle.Seed, "random seed")
	f.BoolVar(&opts.Force, "force", false, "replace train/, val/ and needle.json in a non-empty output folder")
	f.BoolVar(&opts.JSON, "json", false, "print the summary as JSON")
	return cmd
}

// digitRange is the --digit flag: "MIN,MAX", "MIN-MAX" or a single size.
type digitRange struct {
	min, max *int
	single   bool // the value was one number (MAX may follow as an argument)
}

func (d *digitRange) String() string {
	if d.min == nil {
		return ""
	}
	return fmt.Sprintf("%d,%d", *d.min, *d.max)
}

func (d *digitRange) Type() string { return "MIN,MAX" }

func (d *digitRange) Set(v string) error {
	parts := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '-' || r == ':' })
	if len(parts) == 0 || len(parts) > 2 {
		return fmt.Errorf("want MIN,MAX or one size, got %q", v)
	}
	var n [2]int
	for k, p := range parts {
		x, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("want MIN,MAX or one size, got %q", v)
		}
		n[k] = x
	}
	d.single = len(parts) == 1
	if d.single {
		n[1] = n[0]
	}
	*d.min, *d.max = n[0], n[1]
	return nil
}

// runDataNeedle writes the needle set into a hidden sibling of opts.Out and moves it into
// place only when every file is written.
func runDataNeedle(ctx context.Context, opts dataNeedleOptions, s streams) error {
	out := filepath.Clean(opts.Out)
	existing, err := checkNeedleOut(out, opts.Force)
	if err != nil {
		return err
	}
	trainSet, valSet, err := data.NewNeedle(opts.Needle)
	if err != nil {
		return err
	}
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful move only old files are left in it

	splits := []struct {
		name string
		set  *data.NeedleSet
	}{{"train", trainSet}, {"val", valSet}}
	classes := data.NeedleClasses()
	for _, sp := range splits {
		for _, c := range classes {
			if err := os.MkdirAll(filepath.Join(tmp, sp.name, c), 0o755); err != nil {
				return fmt.Errorf("create output folder: %w", err)
			}
		}
	}
	total := opts.Needle.Train + opts.Needle.Val
	width := max(5, len(strconv.Itoa(max(opts.Needle.Train, opts.Needle.Val)-1)))
	records := make([]needleRecord, total)
	type job struct {
		split string
		set   *data.NeedleSet
		i, k  int // canvas index, record index
	}
	jobs := make(chan job)
	var progress io.Writer = io.Discard
	if total >= opts.ProgressMin {
		progress = s.Err
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(progress), progressbar.OptionSetDescription("needle"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Go(func() {
			for j := range jobs {
				rec, err := writeNeedleCanvas(tmp, j.split, j.set, j.i, width)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					continue
				}
				records[j.k] = rec
				bar.Add(1)
			}
		})
	}
	k := 0
dispatch:
	for _, sp := range splits {
		for i := 0; i < sp.set.Len(); i++ {
			select {
			case jobs <- job{sp.name, sp.set, i, k}:
				k++
			case <-ctx.Done():
				break dispatch
			}
		}
	}
	close(jobs)
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	manifest := needleManifest{Options: opts.Needle, Classes: classes, Images: records}
	if err := atomicfile.Write(filepath.Join(tmp, needleManifestFile), manifest.write); err != nil {
		return err
	}
	if err := moveNeedleIntoPlace(tmp, out, existing); err != nil {
		return err
	}

	summary := struct {
		Out    string `json:"out"`
		Train  int    `json:"train"`
		Val    int    `json:"val"`
		Canvas int    `json:"canvas"`
		Seed   int64  `json:"seed"`
	}{out, opts.Needle.Train, opts.Needle.Val, opts.Needle.Canvas, opts.Needle.Seed}
	if opts.JSON {
		enc := json.NewEncoder(s.Out)
		return enc.Encode(summary)
	}
	_, err = fmt.Fprintf(s.Out, "wrote %d training and %d validation canvases of %dx%d to %s\n",
		summary.Train, summary.Val, summary.Canvas, summary.Canvas, out)
	return err
}

// checkNeedleOut refuses a non-empty output folder unless force; it reports whether the
// folder exists.
func checkNeedleOut(out string, force bool) (exists bool, err error) {
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
		return false, fmt.Errorf("output folder %s is not empty (--force replaces its train/, val/ and %s)", out, needleManifestFile)
	}
	return true, nil
}

func writeNeedleCanvas(dir, split string, set *data.NeedleSet, i, width int) (needleRecord, error) {
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

// moveNeedleIntoPlace renames the finished tree tmp to out. When out exists, its entries that
// tmp replaces are first moved into tmp (and so deleted with it).
func moveNeedleIntoPlace(tmp, out string, exists bool) error {
	if !exists {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("move output into place: %w", err)
		}
		return syncNeedleDir(filepath.Dir(out))
	}
	names := []string{"train", "val", needleManifestFile}
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
	return syncNeedleDir(out)
}

func syncNeedleDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// dataInterruptContext cancels on SIGINT or SIGTERM and reports which signal came.
func dataInterruptContext(parent context.Context) (context.Context, func() os.Signal, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var got atomic.Value
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			got.Store(sig)
			cancel()
		case <-done:
		}
	}()
	which := func() os.Signal {
		if v := got.Load(); v != nil {
			return v.(os.Signal)
		}
		return nil
	}
	stop := func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	return ctx, which, stop
}
