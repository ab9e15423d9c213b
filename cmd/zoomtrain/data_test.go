package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"zoomtrain/internal/data"
)

// TestDataNeedleRoundTrip writes a small needle set, reads it back with the image-folder
// loader and checks every canvas against the generator: same label, same pixels, and the
// digit where needle.json says the generator put it.
func TestDataNeedleRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "needle")
	code, stdout, stderr := runCmd("data", "needle", "--out", out, "--canvas", "48",
		"--digit", "16,20", "--clutter", "3", "--train", "30", "--val", "20", "--seed", "5", "--noise", "0.2")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := "wrote 30 training and 20 validation canvases of 48x48 to " + out + "\n"; stdout != want {
		t.Errorf("stdout: got %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("stderr of a small job: got %q, want nothing", stderr)
	}
	opts := data.NeedleOptions{Canvas: 48, DigitMin: 16, DigitMax: 20, SynthOptions: data.SynthOptions{Clutter: 3, Train: 30, Val: 20, Seed: 5, Noise: 0.2, FreshEachEpoch: true}}
	genTrain, genVal, err := data.NewNeedle(opts)
	if err != nil {
		t.Fatal(err)
	}
	readTrain, readVal, err := data.OpenFolders(data.FolderOptions{Root: out, Resolution: 48})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readTrain.Classes(), data.NeedleClasses(); !slices.Equal(got, want) {
		t.Fatalf("classes: got %q, want %q", got, want)
	}

	var manifest struct {
		Options data.NeedleOptions `json:"options"`
		Images  []struct {
			File    string   `json:"file"`
			Split   string   `json:"split"`
			Index   int      `json:"index"`
			Label   int      `json:"label"`
			Digit   [4]int   `json:"digit"`
			Clutter [][4]int `json:"clutter"`
		} `json:"images"`
	}
	b, err := os.ReadFile(filepath.Join(out, "needle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatalf("needle.json: %v", err)
	}
	if manifest.Options != opts || len(manifest.Images) != 50 {
		t.Fatalf("needle.json: got options %+v and %d images, want %+v and 50", manifest.Options, len(manifest.Images), opts)
	}
	boxes := map[string][4]int{}
	clutter := map[string][][4]int{}
	for _, im := range manifest.Images {
		boxes[im.File], clutter[im.File] = im.Digit, im.Clutter
	}

	noiseTop := uint8(math.Round(255 * opts.Noise))
	for _, sp := range []struct {
		name string
		gen  *data.NeedleSet
		read *data.Folder
	}{{"train", genTrain, readTrain}, {"val", genVal, readVal}} {
		if sp.read.Len() != sp.gen.Len() {
			t.Fatalf("%s: read %d images, wrote %d", sp.name, sp.read.Len(), sp.gen.Len())
		}
		got := make([]float32, 3*48*48)
		want := make([]float32, 3*48*48)
		for k := 0; k < sp.read.Len(); k++ {
			path := sp.read.Path(k)
			i, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".png"))
			if err != nil {
				t.Fatalf("file name %s: %v", path, err)
			}
			if sp.read.Label(k) != sp.gen.Label(i) {
				t.Errorf("%s: label read back %d, generated %d", path, sp.read.Label(k), sp.gen.Label(i))
			}
			if err := sp.read.Image(k, 0, got); err != nil {
				t.Fatal(err)
			}
			if err := sp.gen.Image(i, 0, want); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: pixels differ from generated canvas %d", path, i)
			}

			g := readGrayPNG(t, path)
			_, p, _ := sp.gen.Canvas(i, 0)
			rel := filepath.ToSlash(strings.TrimPrefix(path, out+string(filepath.Separator)))
			box, ok := boxes[rel]
			if !ok || box != [4]int{p.Digit.Min.X, p.Digit.Min.Y, p.Digit.Max.X, p.Digit.Max.Y} {
				t.Fatalf("%s: needle.json box %v (listed %v), generator put the digit at %v", rel, box, ok, p.Digit)
			}
			digit := image.Rect(box[0], box[1], box[2], box[3])
			peak := uint8(0)
			for y := digit.Min.Y; y < digit.Max.Y; y++ {
				for x := digit.Min.X; x < digit.Max.X; x++ {
					peak = max(peak, g.GrayAt(x, y).Y)
				}
			}
			if peak < 200 {
				t.Errorf("%s: brightest pixel in the digit box %v is %d, want ink (>= 200)", rel, digit, peak)
			}
			for y := 0; y < 48; y++ {
				for x := 0; x < 48; x++ {
					pt := image.Pt(x, y)
					covered := pt.In(digit)
					for _, c := range clutter[rel] {
						covered = covered || pt.In(image.Rect(c[0], c[1], c[2], c[3]))
					}
					if v := g.GrayAt(x, y).Y; !covered && v > noiseTop {
						t.Fatalf("%s: pixel (%d,%d) = %d away from digit and clutter, above the noise (%d)", rel, x, y, v, noiseTop)
					}
				}
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".needle.tmp-*")); len(left) > 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}
}

// readGrayPNG decodes a PNG that must be 8-bit grayscale.
func readGrayPNG(t *testing.T, path string) *image.Gray {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := m.(*image.Gray)
	if !ok || m.ColorModel() != color.GrayModel {
		t.Fatalf("%s: got %T, want 8-bit grayscale", path, m)
	}
	return g
}

func TestDataNeedleOutputFolder(t *testing.T) {
	small := []string{"--canvas", "32", "--digit", "12,16", "--train", "10", "--val", "10"}
	tests := []struct {
		name     string
		prepare  func(t *testing.T, out string)
		force    bool
		wantCode int
		wantErr  string
		check    func(t *testing.T, out string)
	}{
		{"new folder", func(t *testing.T, out string) {}, false, exitOK, "", nil},
		{"empty folder", func(t *testing.T, out string) { os.Mkdir(out, 0o755) }, false, exitOK, "", nil},
		{"non-empty folder", func(t *testing.T, out string) {
			os.Mkdir(out, 0o755)
			os.WriteFile(filepath.Join(out, "mine.txt"), []byte("keep"), 0o644)
		}, false, exitError, "is not empty (--force", func(t *testing.T, out string) {
			if _, err := os.Stat(filepath.Join(out, "train")); err == nil {
				t.Errorf("refused run wrote train/")
			}
		}},
		{"file in the way", func(t *testing.T, out string) { os.WriteFile(out, []byte("x"), 0o644) }, false, exitError, "is not a folder", nil},
		{"force replaces old set", func(t *testing.T, out string) {
			os.MkdirAll(filepath.Join(out, "train", "3"), 0o755)
			os.WriteFile(filepath.Join(out, "train", "3", "stale.png"), []byte("old"), 0o644)
			os.WriteFile(filepath.Join(out, "mine.txt"), []byte("keep"), 0o644)
		}, true, exitOK, "", func(t *testing.T, out string) {
			if _, err := os.Stat(filepath.Join(out, "train", "3", "stale.png")); err == nil {
				t.Errorf("--force kept a stale image in train/")
			}
			if b, err := os.ReadFile(filepath.Join(out, "mine.txt")); err != nil || string(b) != "keep" {
				t.Errorf("--force touched a file it does not own: %q, %v", b, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "set")
			tt.prepare(t, out)
			args := append([]string{"data", "needle", "--out", out}, small...)
			if tt.force {
				args = append(args, "--force")
			}
			code, _, stderr := runCmd(args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("got exit %d, stderr %q; want exit %d, stderr containing %q", code, stderr, tt.wantCode, tt.wantErr)
			}
			if code == exitOK {
				n := 0
				filepath.WalkDir(filepath.Join(out, "train"), func(p string, d os.DirEntry, err error) error {
					if err == nil && strings.HasSuffix(p, ".png") {
						n++
					}
					return nil
				})
				if n != 10 {
					t.Errorf("got %d training images, want 10", n)
				}
			}
			if tt.check != nil {
				tt.check(t, out)
			}
			ents, _ := os.ReadDir(parent)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("left behind %s", e.Name())
				}
			}
		})
	}
}

func TestDataNeedleFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no --out", nil, exitUsage, "--out is required"},
		{"canvas too big", []string{"--canvas", "2048"}, exitUsage, "canvas 2048"},
		{"digit range reversed", []string{"--digit", "20,12"}, exitUsage, "range [20, 12] is empty"},
		{"digit not a number", []string{"--digit", "big"}, exitUsage, "want MIN,MAX"},
		{"digit three numbers", []string{"--digit", "1,2,3"}, exitUsage, "want MIN,MAX"},
		{"stray argument", []string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{"negative clutter", []string{"--clutter", "-1"}, exitUsage, "clutter"},
		{"noise above 1", []string{"--noise", "2"}, exitUsage, "noise"},
		{"unknown flag", []string{"--colour"}, exitUsage, "unknown flag"},
		{"two-word digit range", []string{"--digit", "12", "16"}, exitOK, ""},
		{"single digit size", []string{"--digit", "14"}, exitOK, ""},
	}
	dir := t.TempDir()
	tr := transcript{dir: dir}
	for k, tt := range tests {
		args := []string{"data", "needle", "--canvas", "32", "--train", "4", "--val", "2"}
		if tt.name != "no --out" {
			args = append(args, "--out", filepath.Join(dir, strconv.Itoa(k)))
		}
		code, _, stderr := runCmd(append(args, tt.args...)...)
		if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
			t.Errorf("%s: got exit %d, stderr %q; want exit %d, stderr containing %q", tt.name, code, stderr, tt.wantCode, tt.wantErr)
		}
		// The summary line names the folder, which the transcript writes as $TMP.
		tr.add(tt.name, code, "", stderr)
	}
	// The messages themselves, exactly (usage errors add the line pointing to --help).
	checkGolden(t, "data-needle-flags.golden", tr.String())
}

func TestDataNeedleJSONAndDeterminism(t *testing.T) {
	dir := t.TempDir()
	var first []byte
	for k, out := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		code, stdout, stderr := runCmd("data", "needle", "--out", out, "--canvas", "32", "--digit", "12,16", "--train", "5", "--val", "5", "--seed", "9", "--json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got struct {
			Out        string
			Train, Val int
			Canvas     int
			Seed       int64
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("stdout %q: %v", stdout, err)
		}
		if got.Out != out || got.Train != 5 || got.Val != 5 || got.Canvas != 32 || got.Seed != 9 {
			t.Errorf("summary: got %+v", got)
		}
		b, err := os.ReadFile(filepath.Join(out, "val", "3", "00003.png"))
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Errorf("the same seed wrote different files")
		}
	}
}

func TestDataParentCommand(t *testing.T) {
	code, stdout, stderr := runCmd("data")
	if code != exitOK || !strings.Contains(stdout+stderr, "needle") {
		t.Errorf("zoomtrain data: got exit %d and %q, want the help listing needle", code, stdout+stderr)
	}
}

// Both synthetic sets' commands show progress alike and write nothing when cancelled.
func TestRunDataSynthProgressAndCancel(t *testing.T) {
	shared := data.SynthOptions{Clutter: 1, Train: 12, Val: 4, Noise: 0.1}
	kinds := []struct {
		name string
		run  func(ctx context.Context, c dataSynthOptions, s streams) error
	}{
		{"needle", func(ctx context.Context, c dataSynthOptions, s streams) error {
			o := data.NeedleOptions{Canvas: 32, DigitMin: 12, DigitMax: 16, SynthOptions: shared}
			return runDataNeedle(ctx, dataNeedleOptions{dataSynthOptions: c, Needle: o}, s)
		}},
		{"needle-gaze", func(ctx context.Context, c dataSynthOptions, s streams) error {
			o := data.GazeOptions{Canvas: 32, EyeMin: 3, EyeMax: 4, SynthOptions: shared}
			return runDataGaze(ctx, dataGazeOptions{dataSynthOptions: c, Gaze: o}, s)
		}},
	}
	tests := []struct {
		name         string
		progressMin  int
		cancel       bool
		wantProgress bool
		wantErr      error
	}{
		{"small job is quiet", 100, false, false, nil},
		{"big job shows progress", 10, false, true, nil},
		{"cancelled job writes nothing", 100, true, false, context.Canceled},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+" "+tt.name, func(t *testing.T) {
				parent := t.TempDir()
				out := filepath.Join(parent, "set")
				ctx, cancel := context.WithCancel(context.Background())
				if tt.cancel {
					cancel()
				}
				defer cancel()
				var stdout, stderr bytes.Buffer
				err := k.run(ctx, dataSynthOptions{Out: out, ProgressMin: tt.progressMin}, streams{Out: &stdout, Err: &stderr})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				if got := strings.Contains(stderr.String(), "16/16"); got != tt.wantProgress {
					t.Errorf("progress shown = %v, want %v (stderr %q)", got, tt.wantProgress, stderr.String())
				}
				// stderr is a buffer, not a terminal: plain lines, no bar frames.
				if n := strings.Count(stderr.String(), "\n"); strings.Contains(stderr.String(), "\r") || n > 5 {
					t.Errorf("progress to a non-terminal is %d lines or has carriage returns: %q", n, stderr.String())
				}
				ents, _ := os.ReadDir(parent)
				wantEntries := 1
				if tt.cancel {
					wantEntries = 0
				}
				if len(ents) != wantEntries {
					t.Errorf("parent holds %d entries, want %d (the set or nothing)", len(ents), wantEntries)
				}
			})
		}
	}
}

// --digit and --eye are one rangeFlag: two numbers or one, the needle's also with - or :,
// and no empty part.
func TestRangeFlag(t *testing.T) {
	tests := []struct {
		flag     string
		value    string
		want     string // the flag's String after Set, "" for an error
		wantOne  bool
		wantWhat string
	}{
		{"digit", "24,32", "24,32", false, ""},
		{"digit", "24-32", "24,32", false, ""},
		{"digit", "24:32", "24,32", false, ""},
		{"digit", " 24 , 32 ", "24,32", false, ""},
		{"digit", "20", "20,20", true, ""},
		{"digit", "1,2,3", "", false, "one size"},
		{"digit", "24,,32", "", false, "one size"},
		{"digit", "-5", "", false, "one size"},
		{"digit", "", "", false, "one size"},
		{"digit", "2.5", "", false, "one size"},
		{"eye", "5.5,7", "5.5,7", false, ""},
		{"eye", "6", "6,6", true, ""},
		{"eye", "3,", "", false, "one radius"},
		{"eye", "3-5", "", false, "one radius"},
		{"eye", "a", "", false, "one radius"},
	}
	for _, tt := range tests {
		var err error
		var got string
		var one bool
		if tt.flag == "digit" {
			var lo, hi int
			r := rangeFlag[int]{min: &lo, max: &hi, seps: "-:", what: "size", parse: strconv.Atoi}
			err, got, one = r.Set(tt.value), r.String(), r.single
		} else {
			var lo, hi float64
			r := rangeFlag[float64]{min: &lo, max: &hi, what: "radius", parse: parseFloat}
			err, got, one = r.Set(tt.value), r.String(), r.single
		}
		switch {
		case tt.want == "" && (err == nil || !strings.Contains(err.Error(), tt.wantWhat)):
			t.Errorf("--%s %q: got error %v, want one naming %q", tt.flag, tt.value, err, tt.wantWhat)
		case tt.want != "" && (err != nil || got != tt.want || one != tt.wantOne):
			t.Errorf("--%s %q: got %q (single %v, error %v), want %q (single %v)", tt.flag, tt.value, got, one, err, tt.want, tt.wantOne)
		}
	}
}
