package data

import (
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/image/draw"

	"zoomtrain/internal/imageio"
	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/termsafe"
)

// Policies that bring an image of any size to the square source resolution.
const (
	// PolicyResize scales the whole image to R x R with an antialiasing (tent) kernel;
	// the aspect ratio is not kept.
	PolicyResize = "resize"
	// PolicyLetterbox scales the longer side to R, keeps the aspect ratio and centres the
	// image on black.
	PolicyLetterbox = "letterbox"
	// PolicyCrop scales the shorter side to R and keeps the centre square.
	PolicyCrop = "crop"
)

// What to do with a file that has an image extension but cannot be decoded.
const (
	OnErrorFail = "fail" // stop with an error naming the file
	OnErrorSkip = "skip" // leave it out and count it (see Skipped)
)

// MaxFolderResolution bounds the source resolution of a folder set.
const MaxFolderResolution = 4096

// FolderOptions describe an image-folder set.
type FolderOptions struct {
	// Root holds ROOT/train/<class>/* (and optionally ROOT/val/<class>/*), or
	// ROOT/<class>/* alone.
	Root       string
	Resolution int    // side of the square source images
	Policy     string // PolicyResize (default), PolicyLetterbox or PolicyCrop
	// ValFraction of each class goes to validation, by a seeded split, when there is no
	// ROOT/val; it is ignored when there is one.
	ValFraction float64
	Seed        int64
	OnError     string // OnErrorFail (default) or OnErrorSkip
	// MaxPixels bounds the pixels an image's header may claim (0 means
	// imageio.MaxPixels); a larger image is refused, or skipped, before it is decoded.
	MaxPixels int64
}

func (o *FolderOptions) normalise() error {
	if o.Policy == "" {
		o.Policy = PolicyResize
	}
	if o.OnError == "" {
		o.OnError = OnErrorFail
	}
	switch {
	case o.Root == "":
		return errors.New("image folder root is empty")
	case o.Resolution < 1 || o.Resolution > MaxFolderResolution:
		return fmt.Errorf("resolution %d outside [1, %d]", o.Resolution, MaxFolderResolution)
	case o.Policy != PolicyResize && o.Policy != PolicyLetterbox && o.Policy != PolicyCrop:
		return fmt.Errorf("resize policy %q is not %q, %q or %q", o.Policy, PolicyResize, PolicyLetterbox, PolicyCrop)
	case o.OnError != OnErrorFail && o.OnError != OnErrorSkip:
		return fmt.Errorf("on_error %q is not %q or %q", o.OnError, OnErrorFail, OnErrorSkip)
	case !(o.ValFraction >= 0 && o.ValFraction < 1):
		return fmt.Errorf("validation fraction %v outside [0, 1)", o.ValFraction)
	case o.MaxPixels < 0:
		return fmt.Errorf("pixel limit %d is negative", o.MaxPixels)
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = imageio.MaxPixels
	}
	return nil
}

// imageExts names the file extensions read as images; other files are ignored.
const imageExts = ".png, .jpg, .jpeg"

func isImageName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// Folder is one split of an image-folder set. Files are listed and their headers checked
// when it is opened; pixels are decoded on demand. It is safe for concurrent use.
type Folder struct {
	dir     string
	classes []string
	paths   []string
	labels  []int
	res     int
	policy  string
	skip    bool
	maxPix  int64

	skippedAtOpen []SkippedFile
	failed        []atomic.Bool // skip mode: example found undecodable
	failedCount   atomic.Int64
	failedMu      sync.Mutex
	failedErr     map[int]error // the first error of each failed example
}

type entry struct {
	path  string
	label int
}

// OpenFolder opens the training and validation splits of an image-folder set (both
// *Folder). Class names are the training class folders' names, sorted; an empty class
// folder is still a class. It is an error for the root to hold no class folders or no
// images, or for ROOT/val to hold a class that ROOT/train lacks.
//
// A root with a targets.csv (see IsTargetFolder) is a regression set instead: both
// splits are then *TargetFolder (see OpenTargetFolders).
func OpenFolder(o FolderOptions) (train, val Dataset, err error) {
	if IsTargetFolder(o.Root) {
		return openTargets(o)
	}
	tr, va, err := OpenFolders(o)
	if err != nil {
		return nil, nil, err
	}
	return tr, va, nil
}

// OpenFolders is OpenFolder with the concrete type.
func OpenFolders(o FolderOptions) (train, val *Folder, err error) {
	if err := o.normalise(); err != nil {
		return nil, nil, err
	}
	if err := requireDir(o.Root); err != nil {
		return nil, nil, err
	}
	trainDir, valDir := filepath.Join(o.Root, "train"), filepath.Join(o.Root, "val")
	var trainEntries, valEntries []entry
	var classes []string
	if isDir(trainDir) {
		if classes, err = classDirs(trainDir); err != nil {
			return nil, nil, err
		}
		if trainEntries, err = scanClasses(trainDir, classes, classes); err != nil {
			return nil, nil, err
		}
		if isDir(valDir) {
			valClasses, err := classDirs(valDir)
			if err != nil {
				return nil, nil, err
			}
			if valEntries, err = scanClasses(valDir, valClasses, classes); err != nil {
				return nil, nil, err
			}
		} else {
			trainEntries, valEntries = splitEntries(trainEntries, len(classes), o.ValFraction, o.Seed)
		}
	} else {
		if isDir(valDir) {
			return nil, nil, fmt.Errorf("%s has val/ but no train/", termsafe.Quote(o.Root))
		}
		trainDir, valDir = o.Root, o.Root
		if classes, err = classDirs(o.Root); err != nil {
			return nil, nil, err
		}
		if trainEntries, err = scanClasses(o.Root, classes, classes); err != nil {
			return nil, nil, err
		}
		trainEntries, valEntries = splitEntries(trainEntries, len(classes), o.ValFraction, o.Seed)
	}
	if len(trainEntries) == 0 {
		return nil, nil, fmt.Errorf("no images (%s) in the class folders of %s", imageExts, termsafe.Quote(trainDir))
	}
	if train, err = newFolder(trainDir, classes, trainEntries, o); err != nil {
		return nil, nil, err
	}
	if val, err = newFolder(valDir, classes, valEntries, o); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// OpenFolderSplit opens one class-folder tree (such as ROOT/val) with a given class list,
// for evaluating a trained model whose classes come from its checkpoint. A class folder
// that is not in the list is an error; a listed class may have no folder.
func OpenFolderSplit(dir string, classes []string, o FolderOptions) (Dataset, error) {
	f, err := openSplit(dir, classes, o)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func openSplit(dir string, classes []string, o FolderOptions) (*Folder, error) {
	o.Root = dir
	if err := o.normalise(); err != nil {
		return nil, err
	}
	if len(classes) == 0 {
		return nil, errors.New("empty class list")
	}
	if err := requireDir(dir); err != nil {
		return nil, err
	}
	present, err := classDirs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := scanClasses(dir, present, classes)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no images (%s) in the class folders of %s", imageExts, termsafe.Quote(dir))
	}
	return newFolder(dir, slices.Clone(classes), entries, o)
}

func newFolder(dir string, classes []string, entries []entry, o FolderOptions) (*Folder, error) {
	kept, skipped, err := checkHeaders(entries, o.OnError == OnErrorSkip, o.MaxPixels)
	if err != nil {
		return nil, err
	}
	f := &Folder{
		dir: dir, classes: classes, res: o.Resolution, policy: o.Policy,
		skip: o.OnError == OnErrorSkip, maxPix: o.MaxPixels, skippedAtOpen: skipped,
		failed: make([]atomic.Bool, len(kept)),
	}
	for _, e := range kept {
		f.paths = append(f.paths, e.path)
		f.labels = append(f.labels, e.label)
	}
	return f, nil
}

func requireDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("image folder: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("image folder %s is not a directory", termsafe.Quote(dir))
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// classDirs lists the non-hidden sub-directories of dir, sorted by name.
func classDirs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list classes: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() || (e.Type()&fs.ModeSymlink != 0 && isDir(filepath.Join(dir, e.Name()))) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		q := termsafe.Quote(dir)
		return nil, fmt.Errorf("no class folders in %s (want %s/<class>/<image> or %s/train/<class>/<image>)", q, q, q)
	}
	slices.Sort(names)
	return names, nil
}

// scanClasses lists the images of each present class folder, labelled by the class's
// position in classes, in sorted file order.
func scanClasses(dir string, present, classes []string) ([]entry, error) {
	var out []entry
	for _, c := range present {
		label := slices.Index(classes, c)
		if label < 0 {
			return nil, fmt.Errorf("class folder %s is not one of the %d training classes", termsafe.Quote(filepath.Join(dir, c)), len(classes))
		}
		ents, err := os.ReadDir(filepath.Join(dir, c))
		if err != nil {
			return nil, fmt.Errorf("list images: %w", err)
		}
		for _, e := range ents { // os.ReadDir sorts by name
			if e.IsDir() || !isImageName(e.Name()) {
				continue
			}
			out = append(out, entry{path: filepath.Join(dir, c, e.Name()), label: label})
		}
	}
	return out, nil
}

// splitEntries moves a seeded ValFraction of each class to validation, keeping at least
// one training image per class; both parts stay in file order.
func splitEntries(all []entry, nClasses int, frac float64, seed int64) (train, val []entry) {
	if frac == 0 {
		return all, nil
	}
	byClass := make([][]int, nClasses)
	for k, e := range all {
		byClass[e.label] = append(byClass[e.label], k)
	}
	toVal := make([]bool, len(all))
	for c, ks := range byClass {
		nVal := min(int(math.Round(frac*float64(len(ks)))), len(ks)-1)
		p := permutation(newRand(uint64(seed), saltSplit, uint64(c)), len(ks))
		for _, j := range p[:max(nVal, 0)] {
			toVal[ks[j]] = true
		}
	}
	for k, e := range all {
		if toVal[k] {
			val = append(val, e)
		} else {
			train = append(train, e)
		}
	}
	return train, val
}

// checkHeaders reads each file's image header (not its pixels) so that a file that is no
// image at all fails, or is skipped, before training starts.
func checkHeaders(entries []entry, skip bool, maxPixels int64) (kept []entry, skipped []SkippedFile, err error) {
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(entries)); w++ {
		wg.Go(func() {
			for k := int(next.Add(1) - 1); k < len(entries); k = int(next.Add(1) - 1) {
				errs[k] = checkHeader(entries[k].path, maxPixels)
			}
		})
	}
	wg.Wait()
	for k, e := range entries {
		switch {
		case errs[k] == nil:
			kept = append(kept, e)
		case skip:
			skipped = append(skipped, SkippedFile{Index: -1, Path: e.path, Err: fmt.Errorf("%w: %w", ErrSkipped, errs[k])})
		default:
			return nil, nil, errs[k]
		}
	}
	return kept, skipped, nil
}

// checkHeader opens path (a regular file only, never blocking) and checks the size its
// header claims.
func checkHeader(path string, maxPixels int64) error {
	f, err := inputfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := imageio.DecodeConfig(f, maxPixels); err != nil {
		return fmt.Errorf("%s: %w", termsafe.Quote(path), err)
	}
	return nil
}

func (f *Folder) Len() int             { return len(f.paths) }
func (f *Folder) Classes() []string    { return slices.Clone(f.classes) }
func (f *Folder) Resolution() int      { return f.res }
func (f *Folder) epochInvariant() bool { return true }

// Label returns example i's class index, or -1 when i is out of range.
func (f *Folder) Label(i int) int {
	if i < 0 || i >= len(f.labels) {
		return -1
	}
	return f.labels[i]
}

// Path returns the file of example i, or "" when i is out of range.
func (f *Folder) Path(i int) string {
	if i < 0 || i >= len(f.paths) {
		return ""
	}
	return f.paths[i]
}

// Dir returns the folder the split was read from.
func (f *Folder) Dir() string { return f.dir }

// Skipped counts the files left out: at open (no image header) and, in skip mode, those
// found undecodable since.
func (f *Folder) Skipped() int { return len(f.skippedAtOpen) + int(f.failedCount.Load()) }

// SkippedFiles lists the files Skipped counts, in path order: those left out at open
// (Index -1) and those found undecodable since (with their example index).
func (f *Folder) SkippedFiles() []SkippedFile {
	out := slices.Clone(f.skippedAtOpen)
	f.failedMu.Lock()
	for i, err := range f.failedErr {
		out = append(out, SkippedFile{Index: i, Path: f.paths[i], Err: err})
	}
	f.failedMu.Unlock()
	slices.SortFunc(out, func(a, b SkippedFile) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// unreadable reports whether example i is known to be undecodable (skip mode only).
func (f *Folder) unreadable(i int) bool { return i >= 0 && i < len(f.failed) && f.failed[i].Load() }

// ClassCounts returns how many images each class has.
func (f *Folder) ClassCounts() []int {
	n := make([]int, len(f.classes))
	for _, l := range f.labels {
		n[l]++
	}
	return n
}

// Image decodes example i, brings it to the source resolution and writes it as planar RGB
// in [0, 1]. Errors name the file; in skip mode they wrap ErrSkipped.
func (f *Folder) Image(i, epoch int, dst []float32) error {
	if err := checkDst(f, i, dst); err != nil {
		return err
	}
	b := make([]uint8, len(dst))
	if err := f.imageBytes(i, epoch, b); err != nil {
		return err
	}
	bytesToFloat(dst, b)
	return nil
}

func (f *Folder) imageBytes(i, _ int, dst []uint8) error {
	if i < 0 || i >= len(f.paths) || len(dst) != 3*f.res*f.res {
		return fmt.Errorf("example %d or destination of %d bytes out of range", i, len(dst))
	}
	img, err := imageio.ReadImage(f.paths[i], f.maxPix)
	if err != nil {
		return f.fail(i, err)
	}
	rgbaToPlanar(dst, fitSquare(img, f.res, f.policy))
	return nil
}

// rgbaToPlanar writes the RGB of an RGBA image as planar bytes.
func rgbaToPlanar(dst []uint8, m *image.RGBA) {
	plane := len(dst) / 3
	for k := 0; k < plane; k++ {
		dst[k] = m.Pix[4*k]
		dst[plane+k] = m.Pix[4*k+1]
		dst[2*plane+k] = m.Pix[4*k+2]
	}
}

func (f *Folder) fail(i int, err error) error {
	if !f.skip {
		return err
	}
	err = fmt.Errorf("%w: %w", ErrSkipped, err)
	if !f.failed[i].Swap(true) {
		f.failedMu.Lock()
		if f.failedErr == nil {
			f.failedErr = map[int]error{}
		}
		f.failedErr[i] = err
		f.failedMu.Unlock()
		f.failedCount.Add(1)
	}
	return err
}

// fitSquare brings img to r x r RGBA by policy. Alpha is premultiplied, so transparent
// pixels composite onto black, as imageio reads them.
func fitSquare(img image.Image, r int, policy string) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, r, r))
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == r && h == r {
		draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
		return dst
	}
	switch img.(type) {
	case *image.RGBA, *image.NRGBA, *image.Gray, *image.YCbCr:
		// x/image/draw scales these directly.
	default:
		// Paletted, CMYK and 16-bit images would take x/image/draw's slow generic path.
		rgba := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		img, b = rgba, rgba.Bounds()
	}
	dr, sr := dst.Bounds(), b
	switch policy {
	case PolicyLetterbox:
		s := float64(r) / float64(max(w, h))
		nw, nh := max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
		dr = image.Rect((r-nw)/2, (r-nh)/2, (r-nw)/2+nw, (r-nh)/2+nh)
	case PolicyCrop:
		side := min(w, h)
		x0, y0 := b.Min.X+(w-side)/2, b.Min.Y+(h-side)/2
		sr = image.Rect(x0, y0, x0+side, y0+side)
	}
	// x/image/draw widens the kernel when shrinking, which is the antialiasing; the
	// bilinear (tent) kernel does it at about 1.5x the speed of Catmull-Rom.
	draw.BiLinear.Scale(dst, dr, img, sr, draw.Src, nil)
	return dst
}

// CheckImage checks, without decoding, that path is a regular file whose PNG or JPEG
// header claims a size LoadImage accepts: how a command finds a bad file among many
// before it starts to print results.
func CheckImage(path string) error {
	return checkHeader(path, 0)
}

// LoadImage reads one image file (PNG or JPEG, any colour model) and brings it to r x r by
// policy, as a folder set would: planar CHW float32 RGB in [0, 1], len 3*r*r.
func LoadImage(path string, r int, policy string) ([]float32, error) {
	o := FolderOptions{Root: path, Resolution: r, Policy: policy}
	if err := o.normalise(); err != nil {
		return nil, err
	}
	img, err := imageio.ReadImage(path, o.MaxPixels)
	if err != nil {
		return nil, err
	}
	b := make([]uint8, 3*r*r)
	rgbaToPlanar(b, fitSquare(img, r, o.Policy))
	pix := make([]float32, len(b))
	bytesToFloat(pix, b)
	return pix, nil
}
