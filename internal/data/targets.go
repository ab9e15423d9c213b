package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TargetsFile is the file that makes a folder a regression set: a header
// "file,<target>,<target>..." and one row per image, its path relative to the file's folder.
const TargetsFile = "targets.csv"

// A Regression dataset carries real-valued targets for each example instead of a class:
// its Classes are empty and its Label is -1.
type Regression interface {
	Dataset
	// TargetNames names the targets in the order Targets writes them.
	TargetNames() []string
	// Targets writes example i's targets in the given epoch into dst (len(TargetNames()));
	// folders ignore the epoch, generated sets that redraw each epoch do not.
	Targets(i, epoch int, dst []float32) error
}

// MirroredTargets is implemented by a regression set whose targets change in a known way
// when an image is mirrored left-right: the loader negates the targets flagged true
// (a horizontal coordinate, say) in a flipped example and keeps the rest. A regression
// set without it is not flipped.
type MirroredTargets interface {
	MirroredTargets() []bool // one flag per target, in TargetNames' order
}

// TargetNames returns ds's target names, or nil when ds is a classification set.
func TargetNames(ds Dataset) []string {
	if r, ok := ds.(Regression); ok {
		return r.TargetNames()
	}
	return nil
}

// IsTargetFolder reports whether root is a regression folder: it holds ROOT/targets.csv or
// ROOT/train/targets.csv.
func IsTargetFolder(root string) bool {
	return root != "" && (exists(filepath.Join(root, TargetsFile)) || exists(filepath.Join(root, "train", TargetsFile)))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TargetFolder is one split of a regression folder: the images its targets.csv lists, in
// the file's row order, each with its targets. Pixels are read as a Folder reads them.
type TargetFolder struct {
	*Folder
	names   []string
	targets [][]float32 // per example, in names' order
}

// OpenTargetFolders opens the training and validation splits of a regression folder:
// ROOT/train/targets.csv with ROOT/val/targets.csv, ROOT/train/targets.csv alone, or
// ROOT/targets.csv alone; the last two are split by o.ValFraction and o.Seed as class
// folders are. The training file's columns name the targets; the validation file must
// have the same names, in any order.
func OpenTargetFolders(o FolderOptions) (train, val *TargetFolder, err error) {
	if err := o.normalise(); err != nil {
		return nil, nil, err
	}
	if err := requireDir(o.Root); err != nil {
		return nil, nil, err
	}
	// valDir "" means no validation file: the training rows are split.
	trainDir, valDir := filepath.Join(o.Root, "train"), filepath.Join(o.Root, "val")
	atRoot, inTrain := exists(filepath.Join(o.Root, TargetsFile)), exists(filepath.Join(trainDir, TargetsFile))
	switch {
	case atRoot && inTrain:
		return nil, nil, fmt.Errorf("%s has both %s and train/%s: keep one", o.Root, TargetsFile, TargetsFile)
	case atRoot:
		trainDir, valDir = o.Root, ""
	case !inTrain:
		return nil, nil, fmt.Errorf("no %s in %s or %s", TargetsFile, o.Root, trainDir)
	case exists(filepath.Join(valDir, TargetsFile)):
	case isDir(valDir):
		return nil, nil, fmt.Errorf("%s has train/%s but val/ holds no %s", o.Root, TargetsFile, TargetsFile)
	default:
		valDir = ""
	}
	trainTab, err := readTargetTable(trainDir, nil)
	if err != nil {
		return nil, nil, err
	}
	valTab := trainTab
	trainEntries, valEntries := trainTab.entries(trainDir), []entry(nil)
	if valDir == "" {
		// All rows are one pseudo-class to the seeded split of class folders.
		trainEntries, valEntries = splitEntries(trainEntries, 1, o.ValFraction, o.Seed)
		valDir = trainDir
	} else {
		if valTab, err = readTargetTable(valDir, trainTab.names); err != nil {
			return nil, nil, err
		}
		valEntries = valTab.entries(valDir)
	}
	if train, err = newTargetFolder(trainDir, trainTab, trainEntries, o); err != nil {
		return nil, nil, err
	}
	if val, err = newTargetFolder(valDir, valTab, valEntries, o); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// openTargets is OpenTargetFolders for OpenFolder.
func openTargets(o FolderOptions) (train, val Dataset, err error) {
	tr, va, err := OpenTargetFolders(o)
	if err != nil {
		return nil, nil, err
	}
	return tr, va, nil
}

// OpenTargetSplit opens one regression split (a folder holding targets.csv, such as
// ROOT/val) whose columns must be the given target names, in any order, for evaluating a
// trained model whose names come from its checkpoint.
func OpenTargetSplit(dir string, names []string, o FolderOptions) (*TargetFolder, error) {
	o.Root = dir
	if err := o.normalise(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("empty target name list")
	}
	if err := requireDir(dir); err != nil {
		return nil, err
	}
	tab, err := readTargetTable(dir, names)
	if err != nil {
		return nil, err
	}
	return newTargetFolder(dir, tab, tab.entries(dir), o)
}

func newTargetFolder(dir string, tab targetTable, entries []entry, o FolderOptions) (*TargetFolder, error) {
	f, err := newFolder(dir, nil, entries, o)
	if err != nil {
		return nil, err
	}
	// newFolder may leave files out (skip mode): find each kept file's row by its path.
	row := make(map[string]int, len(tab.files))
	for k, file := range tab.files {
		row[filepath.Join(dir, file)] = k
	}
	t := &TargetFolder{Folder: f, names: tab.names, targets: make([][]float32, f.Len())}
	for i := range t.targets {
		t.targets[i] = tab.values[row[f.Path(i)]]
	}
	return t, nil
}

func (f *TargetFolder) Classes() []string     { return nil }
func (f *TargetFolder) Label(int) int         { return -1 }
func (f *TargetFolder) ClassCounts() []int    { return nil }
func (f *TargetFolder) TargetNames() []string { return slices.Clone(f.names) }

// Targets writes example i's targets into dst.
func (f *TargetFolder) Targets(i, _ int, dst []float32) error {
	if i < 0 || i >= len(f.targets) {
		return fmt.Errorf("example %d out of range [0, %d)", i, len(f.targets))
	}
	if len(dst) != len(f.names) {
		return fmt.Errorf("destination holds %d targets, want %d", len(dst), len(f.names))
	}
	copy(dst, f.targets[i])
	return nil
}

// targetTable is a parsed targets.csv: the target names and, per row, the file (a local
// path in the OS's form, relative to the CSV's folder), its values and its line.
type targetTable struct {
	names  []string
	files  []string
	values [][]float32
	lines  []int
}

// entries lists the table's files under dir, in row order, as one pseudo-class.
func (t targetTable) entries(dir string) []entry {
	out := make([]entry, len(t.files))
	for k, file := range t.files {
		out[k] = entry{path: filepath.Join(dir, file)}
	}
	return out
}

// readTargetTable reads dir/targets.csv and checks that every row's file is a regular
// file. With want, the columns must be those names (in any order) and come back in want's
// order.
func readTargetTable(dir string, want []string) (targetTable, error) {
	path := filepath.Join(dir, TargetsFile)
	fh, err := os.Open(path)
	if err != nil {
		return targetTable{}, fmt.Errorf("targets: %w", err)
	}
	defer fh.Close()
	tab, err := parseTargets(fh, path)
	if err != nil {
		return targetTable{}, err
	}
	if want != nil {
		if tab, err = tab.reorder(want, path); err != nil {
			return targetTable{}, err
		}
	}
	for k, file := range tab.files {
		st, err := os.Stat(filepath.Join(dir, file))
		switch {
		case errors.Is(err, os.ErrNotExist):
			return targetTable{}, fmt.Errorf("%s:%d: %s: no such file", path, tab.lines[k], filepath.ToSlash(file))
		case err != nil:
			return targetTable{}, fmt.Errorf("%s:%d: %w", path, tab.lines[k], err)
		case !st.Mode().IsRegular():
			return targetTable{}, fmt.Errorf("%s:%d: %s is not a regular file", path, tab.lines[k], filepath.ToSlash(file))
		}
	}
	return tab, nil
}

// reorder returns the table with its columns in want's order; the names must be the same set.
func (t targetTable) reorder(want []string, path string) (targetTable, error) {
	if len(want) != len(t.names) {
		return targetTable{}, fmt.Errorf("%s: targets %v, want %v", path, t.names, want)
	}
	col := make([]int, len(want))
	for j, name := range want {
		if col[j] = slices.Index(t.names, name); col[j] < 0 {
			return targetTable{}, fmt.Errorf("%s: targets %v, want %v", path, t.names, want)
		}
	}
	out := t
	out.names = slices.Clone(want)
	out.values = make([][]float32, len(t.values))
	for k, v := range t.values {
		out.values[k] = make([]float32, len(want))
		for j, c := range col {
			out.values[k][j] = v[c]
		}
	}
	return out, nil
}

// parseTargets parses a targets.csv read from r; name (the file's path) prefixes every
// error, with the line of the offending row.
func parseTargets(r io.Reader, name string) (targetTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked here, to name the line and both counts
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return targetTable{}, fmt.Errorf("%s is empty: want a header file,<target>,...", name)
	}
	if err != nil {
		return targetTable{}, csvError(name, err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a byte-order mark, as spreadsheets write
	for k := range header {
		header[k] = strings.TrimSpace(header[k])
	}
	line, _ := cr.FieldPos(0)
	if !strings.EqualFold(header[0], "file") {
		return targetTable{}, fmt.Errorf("%s:%d: header starts with %q, want file,<target>,...", name, line, header[0])
	}
	t := targetTable{names: header[1:]}
	if err := checkTargetNames(t.names); err != nil {
		return targetTable{}, fmt.Errorf("%s:%d: %w", name, line, err)
	}
	firstLine := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return targetTable{}, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			return targetTable{}, fmt.Errorf("%s:%d: %d columns, the header has %d", name, line, len(rec), len(header))
		}
		file := strings.TrimSpace(rec[0])
		local, err := checkTargetFile(file)
		if err != nil {
			return targetTable{}, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if first, ok := firstLine[local]; ok {
			return targetTable{}, fmt.Errorf("%s:%d: file %q is listed twice (first on line %d)", name, line, file, first)
		}
		firstLine[local] = line
		values := make([]float32, len(t.names))
		for j, s := range rec[1:] {
			if values[j], err = parseTarget(s); err != nil {
				return targetTable{}, fmt.Errorf("%s:%d: %s value %w", name, line, t.names[j], err)
			}
		}
		t.files = append(t.files, local)
		t.values = append(t.values, values)
		t.lines = append(t.lines, line)
	}
	if len(t.files) == 0 {
		return targetTable{}, fmt.Errorf("%s: no rows below the header", name)
	}
	return t, nil
}

// checkTargetNames reports a header's target names that a reader could not tell apart.
func checkTargetNames(names []string) error {
	if len(names) == 0 {
		return errors.New("header names no targets, want file,<target>,...")
	}
	for k, n := range names {
		switch {
		case n == "":
			return fmt.Errorf("target %d has an empty name", k+1)
		case n != strings.TrimSpace(n):
			return fmt.Errorf("target name %q starts or ends with a space", n)
		case slices.Index(names, n) < k || strings.EqualFold(n, "file"):
			return fmt.Errorf("target name %q is used twice", n)
		}
	}
	return nil
}

// checkTargetFile returns a targets.csv file name as a local path in the OS's form, or
// why it is not one.
func checkTargetFile(file string) (string, error) {
	local := filepath.Clean(filepath.FromSlash(file))
	switch {
	case file == "":
		return "", errors.New("empty file name")
	case strings.Contains(file, `\`):
		return "", fmt.Errorf("file %q: separate folders with /", file)
	case !filepath.IsLocal(local):
		return "", fmt.Errorf("file %q is not a path inside the csv's folder", file)
	}
	return local, nil
}

// parseTarget reads one target value: a finite float32.
func parseTarget(s string) (float32, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is out of float32 range", s)
	case err != nil:
		return 0, fmt.Errorf("%q is not a number", s)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%q is not finite", s)
	}
	return float32(v), nil
}

// A TargetRow is one row of a targets.csv: a file, slash-separated and relative to the
// csv's folder, and its targets.
type TargetRow struct {
	File    string
	Targets []float32
}

// A TargetFile is one image of a regression split as it is written out.
type TargetFile struct {
	TargetRow
	Image image.Image
}

// A TargetSource is a generated regression split that can be written out as a folder
// (the images, then WriteTargetsCSV over their rows); TargetFile is safe for concurrent
// use, for a writer's pool.
type TargetSource interface {
	Len() int
	TargetNames() []string
	TargetFile(i int) (TargetFile, error)
}

// WriteTargetsCSV writes the targets.csv of rows, checked as the reader checks them.
// Values are written in the shortest form that reads back as the same float32.
func WriteTargetsCSV(w io.Writer, names []string, rows []TargetRow) error {
	if err := checkTargetNames(names); err != nil {
		return fmt.Errorf("targets.csv: %w", err)
	}
	cw := csv.NewWriter(w)
	rec := append([]string{"file"}, names...)
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("write targets.csv: %w", err)
	}
	seen := make(map[string]bool, len(rows))
	for k, row := range rows {
		local, err := checkTargetFile(row.File)
		if err == nil && row.File != strings.TrimSpace(row.File) {
			err = fmt.Errorf("file %q starts or ends with a space, which the reader drops", row.File)
		}
		if err != nil {
			return fmt.Errorf("targets.csv row %d: %w", k, err)
		}
		if seen[local] {
			return fmt.Errorf("targets.csv row %d: file %q is listed twice", k, row.File)
		}
		seen[local] = true
		if len(row.Targets) != len(names) {
			return fmt.Errorf("targets.csv row %d: %d targets, want %d", k, len(row.Targets), len(names))
		}
		rec = append(rec[:0], row.File)
		for _, v := range row.Targets {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("targets.csv row %d: target %v is not finite", k, v)
			}
			rec = append(rec, strconv.FormatFloat(float64(v), 'g', -1, 32))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write targets.csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write targets.csv: %w", err)
	}
	return nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %w", name, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}
