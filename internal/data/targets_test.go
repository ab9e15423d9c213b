package data

import (
	"bytes"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name       string
		csv        string
		wantNames  []string
		wantFiles  []string // slash-separated
		wantValues [][]float32
		wantLines  []int
	}{
		{"two targets", "file,gx,gy\na.png,0.5,-1\nsub/b.png,1e-3,2\n",
			[]string{"gx", "gy"}, []string{"a.png", "sub/b.png"}, [][]float32{{0.5, -1}, {1e-3, 2}}, []int{2, 3}},
		{"byte-order mark, spaces, CRLF, quotes, blank line", "\ufeff File , age \r\n\r\n\"x y.png\", 42 \r\n",
			[]string{"age"}, []string{"x y.png"}, [][]float32{{42}}, []int{3}},
		{"cleaned path", "file,v\n./a/../b.png,1\nc//d.png,2\n",
			[]string{"v"}, []string{"b.png", "c/d.png"}, [][]float32{{1}, {2}}, []int{2, 3}},
		{"no trailing newline", "file,v\na.png,-0.25",
			[]string{"v"}, []string{"a.png"}, [][]float32{{-0.25}}, []int{2}},
	}
	for _, tt := range tests {
		tab, err := parseTargets(strings.NewReader(tt.csv), "t.csv")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		files := make([]string, len(tab.files))
		for k, f := range tab.files {
			files[k] = filepath.ToSlash(f)
		}
		if !slices.Equal(tab.names, tt.wantNames) || !slices.Equal(files, tt.wantFiles) || !slices.Equal(tab.lines, tt.wantLines) {
			t.Errorf("%s: got names %q files %q lines %v, want %q %q %v", tt.name, tab.names, files, tab.lines, tt.wantNames, tt.wantFiles, tt.wantLines)
		}
		if !slices.EqualFunc(tab.values, tt.wantValues, slices.Equal) {
			t.Errorf("%s: got values %v, want %v", tt.name, tab.values, tt.wantValues)
		}
	}
}

func TestParseTargetsBadRows(t *testing.T) {
	tests := []struct {
		name, csv, wantErr string
	}{
		{"empty", "", "t.csv is empty"},
		{"only blank lines", "\n\n", "t.csv is empty"},
		{"header without targets", "file\n", "t.csv:1: header names no targets"},
		{"header without targets, trailing comma", "file,\na.png,\n", "t.csv:1: target 1 has an empty name"},
		{"header not starting with file", "path,v\na.png,1\n", `t.csv:1: header starts with "path"`},
		{"duplicate target", "file,v,v\na.png,1,2\n", `t.csv:1: target name "v" is used twice`},
		{"target named file", "file,File\na.png,1\n", `t.csv:1: target name "File" is used twice`},
		{"no rows", "file,v\n", "t.csv: no rows below the header"},
		{"too few columns", "file,gx,gy\na.png,1,2\nb.png,3\n", "t.csv:3: 2 columns, the header has 3"},
		{"too many columns", "file,gx\na.png,1,2\n", "t.csv:2: 3 columns, the header has 2"},
		{"not a number", "file,gx,gy\na.png,1,2\nb.png,1,abc\n", `t.csv:3: gy value "abc" is not a number`},
		{"empty value", "file,gx\na.png,\n", `t.csv:2: gx value "" is not a number`},
		{"NaN", "file,gx\na.png,NaN\n", `t.csv:2: gx value "NaN" is not finite`},
		{"infinity", "file,gx\na.png,-Inf\n", `t.csv:2: gx value "-Inf" is not finite`},
		{"beyond float32", "file,gx\na.png,1e39\n", `t.csv:2: gx value "1e39" is out of float32 range`},
		{"duplicate file", "file,v\na.png,1\nb.png,2\n./a.png,3\n", `t.csv:4: file "./a.png" is listed twice (first on line 2)`},
		{"empty file", "file,v\n,1\n", "t.csv:2: empty file name"},
		{"escaping with ..", "file,v\na.png,1\n../a.png,1\n", `t.csv:3: file "../a.png" is not a path inside`},
		{"escaping inside the path", "file,v\nx/../../a.png,1\n", `t.csv:2: file "x/../../a.png" is not a path inside`},
		{"absolute", "file,v\n/etc/a.png,1\n", `t.csv:2: file "/etc/a.png" is not a path inside`},
		{"backslash", "file,v\nsub\\a.png,1\n", `t.csv:2: file "sub\\a.png": separate folders with /`},
		{"bare quote", "file,v\na\"b.png,1\n", "t.csv:2: bare"},
	}
	for _, tt := range tests {
		_, err := parseTargets(strings.NewReader(tt.csv), "t.csv")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got error %v, want one line containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// writeTestPNG writes a small gray PNG whose pixels all hold v.
func writeTestPNG(t *testing.T, path string, v uint8) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	g := image.NewGray(image.Rect(0, 0, 4, 4))
	for k := range g.Pix {
		g.Pix[k] = v
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, g); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// splitTargets reads every example of a split: its first pixel (identifying the file)
// and its targets.
func splitTargets(t *testing.T, f *TargetFolder) (pix []uint8, targets [][]float32) {
	t.Helper()
	if f.Classes() != nil || f.ClassCounts() != nil {
		t.Errorf("regression split has classes %v, counts %v", f.Classes(), f.ClassCounts())
	}
	buf := make([]float32, 3*f.Resolution()*f.Resolution())
	for i := 0; i < f.Len(); i++ {
		if f.Label(i) != -1 {
			t.Errorf("example %d: label %d, want -1", i, f.Label(i))
		}
		if err := f.Image(i, 0, buf); err != nil {
			t.Fatal(err)
		}
		pix = append(pix, uint8(buf[0]*255+0.5))
		v := make([]float32, len(f.TargetNames()))
		if err := f.Targets(i, 0, v); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, v)
	}
	return pix, targets
}

func TestOpenTargetFolders(t *testing.T) {
	// Each image's pixel value is ten times its first target, so pixels and targets must
	// stay paired whatever the split and order.
	layout := func(t *testing.T, dir string) {
		writeTestFile(t, filepath.Join(dir, "train", TargetsFile), "file,a,b\nimg/1.png,1,-1\nimg/deep/2.png,2,-2\n3.png,3,-3\n")
		writeTestPNG(t, filepath.Join(dir, "train", "img", "1.png"), 10)
		writeTestPNG(t, filepath.Join(dir, "train", "img", "deep", "2.png"), 20)
		writeTestPNG(t, filepath.Join(dir, "train", "3.png"), 30)
	}
	tests := []struct {
		name              string
		make              func(t *testing.T, dir string)
		valFraction       float64
		wantTrain         int
		wantVal           int
		wantValPix        []uint8 // nil: not checked
		wantValTargetsRow []float32
	}{
		{"train and val", func(t *testing.T, dir string) {
			layout(t, dir)
			// Columns in the other order: mapped by name.
			writeTestFile(t, filepath.Join(dir, "val", TargetsFile), "file,b,a\nv.png,-4,4\n")
			writeTestPNG(t, filepath.Join(dir, "val", "v.png"), 40)
		}, 0.5, 3, 1, []uint8{40}, []float32{4, -4}},
		{"train alone, no split", layout, 0, 3, 0, nil, nil},
		{"train alone, split", layout, 0.34, 2, 1, nil, nil},
		{"root alone, split", func(t *testing.T, dir string) {
			writeTestFile(t, filepath.Join(dir, TargetsFile), "file,a,b\n1.png,1,-1\n2.png,2,-2\n3.png,3,-3\n4.png,4,-4\n")
			for k := 1; k <= 4; k++ {
				writeTestPNG(t, filepath.Join(dir, strconv.Itoa(k)+".png"), uint8(10*k))
			}
		}, 0.5, 2, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.make(t, dir)
			o := FolderOptions{Root: dir, Resolution: 4, ValFraction: tt.valFraction, Seed: 3}
			if !IsTargetFolder(dir) {
				t.Fatalf("IsTargetFolder(%s) = false", dir)
			}
			tr, va, err := OpenTargetFolders(o)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Len() != tt.wantTrain || va.Len() != tt.wantVal {
				t.Fatalf("got %d train and %d val examples, want %d and %d", tr.Len(), va.Len(), tt.wantTrain, tt.wantVal)
			}
			if !slices.Equal(tr.TargetNames(), []string{"a", "b"}) || !slices.Equal(va.TargetNames(), []string{"a", "b"}) {
				t.Errorf("target names %q and %q, want [a b]", tr.TargetNames(), va.TargetNames())
			}
			seen := map[uint8]bool{}
			for _, split := range []*TargetFolder{tr, va} {
				pix, targets := splitTargets(t, split)
				for k := range pix {
					if want := []float32{float32(pix[k]) / 10, -float32(pix[k]) / 10}; !slices.Equal(targets[k], want) {
						t.Errorf("image of pixel %d has targets %v, want %v", pix[k], targets[k], want)
					}
					if seen[pix[k]] {
						t.Errorf("image of pixel %d is in both splits", pix[k])
					}
					seen[pix[k]] = true
				}
				if split == va && tt.wantValPix != nil && (!slices.Equal(pix, tt.wantValPix) || !slices.Equal(targets[0], tt.wantValTargetsRow)) {
					t.Errorf("val pixels %v targets %v, want %v %v", pix, targets, tt.wantValPix, tt.wantValTargetsRow)
				}
			}
			// The seeded split is the same on every open.
			tr2, _, err := OpenTargetFolders(o)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tr.Len(); i++ {
				if tr.Path(i) != tr2.Path(i) {
					t.Errorf("example %d: %s, then %s", i, tr.Path(i), tr2.Path(i))
				}
			}
			// OpenFolder sees the targets file and opens the same regression set.
			gtr, _, err := OpenFolder(o)
			if err != nil {
				t.Fatal(err)
			}
			if names := TargetNames(gtr); !slices.Equal(names, []string{"a", "b"}) || gtr.Len() != tr.Len() {
				t.Errorf("OpenFolder: target names %q and %d examples, want [a b] and %d", names, gtr.Len(), tr.Len())
			}
		})
	}
}

// An empty root is no folder, even where the working directory holds a targets file.
func TestIsTargetFolderEmptyRoot(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "train", TargetsFile), "file,v\na.png,1\n")
	writeTestFile(t, filepath.Join(dir, TargetsFile), "file,v\na.png,1\n")
	t.Chdir(dir)
	if IsTargetFolder("") {
		t.Errorf("IsTargetFolder(\"\") = true")
	}
	if !IsTargetFolder(".") {
		t.Errorf("IsTargetFolder(\".\") = false")
	}
	if _, _, err := OpenFolder(FolderOptions{Resolution: 4}); err == nil || !strings.Contains(err.Error(), "root is empty") {
		t.Errorf("OpenFolder with an empty root: got error %v", err)
	}
}

func TestOpenTargetFoldersErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // path -> CSV text, or "png" for an image
		wantErr string
	}{
		{"missing file", map[string]string{"train/targets.csv": "file,v\na.png,1\nb.png,2\n", "train/a.png": "png"},
			"targets.csv:3: b.png: no such file"},
		{"directory listed as a file", map[string]string{"train/targets.csv": "file,v\nd.png,1\n", "train/d.png/x.png": "png"},
			"targets.csv:2: d.png is not a regular file"},
		{"both root and train csv", map[string]string{"targets.csv": "file,v\na.png,1\n", "train/targets.csv": "file,v\na.png,1\n", "a.png": "png", "train/a.png": "png"},
			"has both targets.csv and train/targets.csv"},
		{"val folder without csv", map[string]string{"train/targets.csv": "file,v\na.png,1\n", "train/a.png": "png", "val/b.png": "png"},
			"val/ holds no targets.csv"},
		{"val with other targets", map[string]string{"train/targets.csv": "file,v\na.png,1\n", "train/a.png": "png", "val/targets.csv": "file,w\nb.png,1\n", "val/b.png": "png"},
			"targets [w], want [v]"},
		{"val bad row", map[string]string{"train/targets.csv": "file,v\na.png,1\n", "train/a.png": "png", "val/targets.csv": "file,v\nb.png,x\n", "val/b.png": "png"},
			`val/targets.csv:2: v value "x" is not a number`},
		{"not an image", map[string]string{"train/targets.csv": "file,v\na.png,1\n", "train/a.png": "not a png"},
			"a.png"},
		{"no csv", map[string]string{"train/a.png": "png"}, "no targets.csv"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		for path, text := range tt.files {
			if text == "png" {
				writeTestPNG(t, filepath.Join(dir, path), 1)
			} else {
				writeTestFile(t, filepath.Join(dir, path), text)
			}
		}
		_, _, err := OpenTargetFolders(FolderOptions{Root: dir, Resolution: 4})
		if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), tt.wantErr) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got error %v, want one line containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// In skip mode an undecodable file is left out and the others keep their own targets.
func TestTargetFolderSkipKeepsTargetsPaired(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, TargetsFile), "file,v\n1.png,1\nbad.png,99\n3.png,3\n")
	writeTestPNG(t, filepath.Join(dir, "1.png"), 10)
	writeTestFile(t, filepath.Join(dir, "bad.png"), "not a png")
	writeTestPNG(t, filepath.Join(dir, "3.png"), 30)
	tr, va, err := OpenTargetFolders(FolderOptions{Root: dir, Resolution: 4, OnError: OnErrorSkip})
	if err != nil {
		t.Fatal(err)
	}
	pix, targets := splitTargets(t, tr)
	if !slices.Equal(pix, []uint8{10, 30}) || !slices.EqualFunc(targets, [][]float32{{1}, {3}}, slices.Equal) || va.Len() != 0 {
		t.Errorf("got pixels %v targets %v and %d val, want [10 30] [[1] [3]] and 0", pix, targets, va.Len())
	}
	if tr.Skipped() != 1 {
		t.Errorf("skipped %d, want 1", tr.Skipped())
	}
}

func TestOpenTargetSplit(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, TargetsFile), "file,gy,gx\n1.png,-1,1\n")
	writeTestPNG(t, filepath.Join(dir, "1.png"), 10)
	s, err := OpenTargetSplit(dir, []string{"gx", "gy"}, FolderOptions{Resolution: 4})
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 2)
	if err := s.Targets(0, 0, v); err != nil || !slices.Equal(v, []float32{1, -1}) {
		t.Errorf("targets %v (error %v), want [1 -1] in the checkpoint's order", v, err)
	}
	if err := s.Targets(1, 0, v); err == nil {
		t.Errorf("Targets(1) of a one-row split: got nil error")
	}
	if err := s.Targets(0, 0, v[:1]); err == nil {
		t.Errorf("Targets into a short buffer: got nil error")
	}
	if _, err := OpenTargetSplit(dir, []string{"gx", "gz"}, FolderOptions{Resolution: 4}); err == nil || !strings.Contains(err.Error(), "want [gx gz]") {
		t.Errorf("split with other target names: got error %v", err)
	}
	var r Regression = s
	if _, ok := r.(byteImager); !ok {
		t.Errorf("a TargetFolder lost the byte cache path of Folder")
	}
}

// writeTargetSplit writes src into dir as a folder writer would: each file's PNG, then
// targets.csv over their rows.
func writeTargetSplit(t *testing.T, dir string, src TargetSource) {
	t.Helper()
	rows := make([]TargetRow, src.Len())
	for i := range rows {
		f, err := src.TargetFile(i)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(f.File))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, f.Image); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, path, b.String())
		rows[i] = f.TargetRow
	}
	var b bytes.Buffer
	if err := WriteTargetsCSV(&b, src.TargetNames(), rows); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, TargetsFile), b.String())
}

// A written needle-gaze set read back as a regression folder has the generator's pixels
// and targets, bit for bit.
func TestGazeFolderReadsBack(t *testing.T) {
	o := GazeOptions{Canvas: 64, EyeMin: 4, EyeMax: 9, SynthOptions: SynthOptions{Clutter: 3, Noise: 0.2, Train: 12, Val: 5, Seed: 9, FreshEachEpoch: true}}
	tr, va, err := NewGaze(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTargetSplit(t, filepath.Join(dir, "train"), tr)
	writeTargetSplit(t, filepath.Join(dir, "val"), va)
	rtr, rva, err := OpenTargetFolders(FolderOptions{Root: dir, Resolution: o.Canvas})
	if err != nil {
		t.Fatal(err)
	}
	want, got := make([]float32, 3*64*64), make([]float32, 3*64*64)
	for _, sp := range []struct {
		gen  *GazeSet
		read *TargetFolder
	}{{tr, rtr}, {va, rva}} {
		if sp.read.Len() != sp.gen.Len() || !slices.Equal(sp.read.TargetNames(), GazeTargetNames()) {
			t.Fatalf("read %d examples with targets %q, want %d with %q", sp.read.Len(), sp.read.TargetNames(), sp.gen.Len(), GazeTargetNames())
		}
		for i := 0; i < sp.gen.Len(); i++ {
			// A fresh training set is written as its epoch 0.
			if err := sp.gen.Image(i, 0, want); err != nil {
				t.Fatal(err)
			}
			if err := sp.read.Image(i, 3, got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: pixels differ from the generator's", sp.read.Path(i))
			}
			wt, gt := make([]float32, 2), make([]float32, 2)
			if err := sp.gen.Targets(i, 0, wt); err != nil {
				t.Fatal(err)
			}
			if err := sp.read.Targets(i, 0, gt); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(gt, wt) {
				t.Fatalf("%s: targets %v, generated %v", sp.read.Path(i), gt, wt)
			}
		}
	}
	if f, _ := tr.TargetFile(11); f.File != "images/00011.png" {
		t.Errorf("file 11 is %q, want images/00011.png", f.File)
	}
}

func TestWriteTargetsCSV(t *testing.T) {
	// Awkward names and values that must survive the text exactly.
	rows := []TargetRow{
		{`a,b "c".png`, []float32{0.1, -3e-38}},
		{"sub/d.png", []float32{math.MaxFloat32, 1.0000001}},
		{"e.png", []float32{float32(math.Nextafter32(0, 1)), -0}},
	}
	var b bytes.Buffer
	if err := WriteTargetsCSV(&b, []string{"x", "y,z"}, rows); err != nil {
		t.Fatal(err)
	}
	tab, err := parseTargets(&b, "t.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tab.names, []string{"x", "y,z"}) {
		t.Errorf("names %q, want [x y,z]", tab.names)
	}
	for k, r := range rows {
		if filepath.ToSlash(tab.files[k]) != r.File || !slices.Equal(tab.values[k], r.Targets) {
			t.Errorf("row %d read back as %q %v, want %q %v", k, tab.files[k], tab.values[k], r.File, r.Targets)
		}
	}
	bad := []struct {
		name    string
		names   []string
		rows    []TargetRow
		wantErr string
	}{
		{"no names", nil, nil, "names no targets"},
		{"name twice", []string{"v", "v"}, nil, `target name "v" is used twice`},
		{"name file", []string{"FILE"}, nil, `target name "FILE" is used twice`},
		{"name with a space", []string{" v"}, nil, "starts or ends with a space"},
		{"escaping", []string{"v"}, []TargetRow{{"../a.png", []float32{1}}}, "row 0: file \"../a.png\" is not a path inside"},
		{"absolute", []string{"v"}, []TargetRow{{"/a.png", []float32{1}}}, "not a path inside"},
		{"duplicate", []string{"v"}, []TargetRow{{"a.png", []float32{1}}, {"./a.png", []float32{1}}}, "row 1: file \"./a.png\" is listed twice"},
		{"wrong count", []string{"v", "w"}, []TargetRow{{"a.png", []float32{1}}}, "row 0: 1 targets, want 2"},
		{"NaN", []string{"v"}, []TargetRow{{"a.png", []float32{float32(math.NaN())}}}, "not finite"},
		{"leading space", []string{"v"}, []TargetRow{{" a.png", []float32{1}}}, "space"},
	}
	for _, tt := range bad {
		if err := WriteTargetsCSV(io.Discard, tt.names, tt.rows); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

// FuzzParseTargets: any input parses or fails with one line, never panics, and a table
// that parses writes back to the same table.
func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{
		"file,gx,gy\na.png,0.5,-1\nsub/b.png,1e-3,2\n",
		"\ufeff File , age \r\n\r\n\"x y.png\", 42 \r\n",
		"file,v\na.png,1\n../a.png,1\n",
		"file,v\na\"b.png,1\n",
		"file\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tab, err := parseTargets(strings.NewReader(s), "t.csv")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of several lines: %q", err)
			}
			return
		}
		rows := make([]TargetRow, len(tab.files))
		for k := range rows {
			rows[k] = TargetRow{filepath.ToSlash(tab.files[k]), tab.values[k]}
		}
		var b bytes.Buffer
		if err := WriteTargetsCSV(&b, tab.names, rows); err != nil {
			t.Fatalf("a table that parsed does not write: %v", err)
		}
		back, err := parseTargets(&b, "t.csv")
		if err != nil {
			t.Fatalf("written table does not parse: %v\n%s", err, b.String())
		}
		if !slices.Equal(back.names, tab.names) || !slices.Equal(back.files, tab.files) || !slices.EqualFunc(back.values, tab.values, slices.Equal) {
			t.Fatalf("table changed through writing: %v, then %v", tab, back)
		}
	})
}
