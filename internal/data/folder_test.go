package data

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"zoomtrain/internal/imageio"
)

// uniform returns a w x h image of one colour in the given colour model.
func uniform(model string, w, h int, c color.NRGBA) image.Image {
	r := image.Rect(0, 0, w, h)
	var m draw2
	switch model {
	case "gray":
		m = image.NewGray(r)
	case "paletted":
		m = image.NewPaletted(r, color.Palette{color.Black, c})
	case "rgba":
		m = image.NewRGBA(r)
	case "nrgba":
		m = image.NewNRGBA(r)
	case "gray16":
		m = image.NewGray16(r)
	default:
		panic("unknown model " + model)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, c)
		}
	}
	return m
}

type draw2 interface {
	image.Image
	Set(x, y int, c color.Color)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string, m image.Image) {
	t.Helper()
	var b strings.Builder
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte(b.String()))
}

func writeJPEG(t *testing.T, path string, m image.Image) {
	t.Helper()
	var b strings.Builder
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte(b.String()))
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

// channelMeans returns the mean of each channel of a planar RGB image.
func channelMeans(pix []float32) [3]float64 {
	var m [3]float64
	plane := len(pix) / 3
	for c := 0; c < 3; c++ {
		for _, v := range pix[c*plane : (c+1)*plane] {
			m[c] += float64(v)
		}
		m[c] /= float64(plane)
	}
	return m
}

// mixedFolder builds ROOT/train and ROOT/val with every colour model, several sizes, an
// empty class folder and stray files.
func mixedFolder(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	red := color.NRGBA{200, 10, 50, 255}
	writePNG(t, filepath.Join(root, "train/cat/a-gray.png"), uniform("gray", 40, 30, color.NRGBA{100, 100, 100, 255}))
	writePNG(t, filepath.Join(root, "train/cat/b-pal.PNG"), uniform("paletted", 64, 64, red))
	writePNG(t, filepath.Join(root, "train/cat/c-nrgba.png"), uniform("nrgba", 32, 32, color.NRGBA{255, 0, 0, 128}))
	writePNG(t, filepath.Join(root, "train/dog/d-gray16.png"), uniform("gray16", 20, 50, color.NRGBA{30, 30, 30, 255}))
	writePNG(t, filepath.Join(root, "train/dog/e-rgba.png"), uniform("rgba", 100, 100, color.NRGBA{0, 0, 255, 255}))
	writeJPEG(t, filepath.Join(root, "train/dog/f-ycbcr.jpg"), uniform("rgba", 50, 20, color.NRGBA{20, 180, 60, 255}))
	writeJPEG(t, filepath.Join(root, "train/dog/g-grayjpeg.jpeg"), uniform("gray", 33, 33, color.NRGBA{220, 220, 220, 255}))
	cmyk, err := os.ReadFile("testdata/cmyk.jpeg")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "train/dog/h-cmyk.JPG"), cmyk)
	mkdir(t, filepath.Join(root, "train/emu")) // a class with no images
	writeFile(t, filepath.Join(root, "train/cat/notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(root, "train/cat/.DS_Store"), []byte{0, 1, 2})
	writeFile(t, filepath.Join(root, "train/README"), []byte("stray file next to the classes"))
	writePNG(t, filepath.Join(root, "val/dog/v1.png"), uniform("gray", 32, 32, color.NRGBA{7, 7, 7, 255}))
	writePNG(t, filepath.Join(root, "val/cat/v2.png"), uniform("rgba", 8, 8, red))
	return root
}

func TestOpenFolderMixed(t *testing.T) {
	root := mixedFolder(t)
	const res = 32
	train, val, err := OpenFolders(FolderOptions{Root: root, Resolution: res})
	if err != nil {
		t.Fatalf("OpenFolders: %v", err)
	}
	if got, want := train.Classes(), []string{"cat", "dog", "emu"}; !slices.Equal(got, want) {
		t.Fatalf("classes: got %q, want %q", got, want)
	}
	if got, want := train.ClassCounts(), []int{3, 5, 0}; !slices.Equal(got, want) {
		t.Errorf("train class counts: got %v, want %v", got, want)
	}
	if got, want := val.ClassCounts(), []int{1, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("val class counts: got %v, want %v", got, want)
	}
	wantMeans := map[string][3]float64{
		"a-gray.png":      {100. / 255, 100. / 255, 100. / 255},
		"b-pal.PNG":       {200. / 255, 10. / 255, 50. / 255},
		"c-nrgba.png":     {128. / 255, 0, 0}, // half transparent red over black
		"d-gray16.png":    {30. / 255, 30. / 255, 30. / 255},
		"e-rgba.png":      {0, 0, 1},
		"f-ycbcr.jpg":     {20. / 255, 180. / 255, 60. / 255},
		"g-grayjpeg.jpeg": {220. / 255, 220. / 255, 220. / 255},
		"v1.png":          {7. / 255, 7. / 255, 7. / 255},
		"v2.png":          {200. / 255, 10. / 255, 50. / 255},
	}
	for _, ds := range []*Folder{train, val} {
		for i := 0; i < ds.Len(); i++ {
			name := filepath.Base(ds.Path(i))
			dst := make([]float32, 3*res*res)
			if err := ds.Image(i, 0, dst); err != nil {
				t.Fatalf("Image(%s): %v", name, err)
			}
			got := channelMeans(dst)
			want, ok := wantMeans[name]
			tol := 3.0 / 255 // JPEG is lossy; PNGs must be within a rounding step
			if !ok {
				// The CMYK photo: compare with imageio's full-resolution reading.
				ref, err := imageio.Read(ds.Path(i))
				if err != nil {
					t.Fatal(err)
				}
				want, tol = channelMeans(ref.Pix), 0.02
			}
			for c := 0; c < 3; c++ {
				if math.Abs(got[c]-want[c]) > tol {
					t.Errorf("%s channel %d: got mean %.4f, want %.4f", name, c, got[c], want[c])
				}
			}
			wantLabel := slices.Index(ds.Classes(), filepath.Base(filepath.Dir(ds.Path(i))))
			if ds.Label(i) != wantLabel {
				t.Errorf("%s: got label %d, want %d", name, ds.Label(i), wantLabel)
			}
		}
	}
}

// An image already at the source resolution must read as imageio reads it: exactly
// where it is opaque, within one 8-bit step where translucent (the folder keeps 8 bits
// after premultiplying, imageio 16).
func TestFolderExactSizeMatchesImageio(t *testing.T) {
	root := t.TempDir()
	m := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for k := range m.Pix {
		m.Pix[k] = uint8(k * 37)
		if k%4 == 3 && k%8 == 3 {
			m.Pix[k] = 255
		}
	}
	path := filepath.Join(root, "a/x.png")
	writePNG(t, path, m)
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 16})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3*16*16)
	if err := ds.Image(0, 0, got); err != nil {
		t.Fatal(err)
	}
	want, err := imageio.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		opaque := m.Pix[4*(k%256)+3] == 255
		if d := math.Abs(float64(got[k] - want.Pix[k])); (opaque && d != 0) || d > 1.0001/255 {
			t.Fatalf("value %d (opaque %v): got %v, want %v", k, opaque, got[k], want.Pix[k])
		}
	}
}

func TestFolderPolicies(t *testing.T) {
	// 64 x 32: green outer quarters, red and blue halves of the centre square.
	m := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			c := color.RGBA{0, 255, 0, 255}
			switch {
			case x >= 16 && x < 32:
				c = color.RGBA{255, 0, 0, 255}
			case x >= 32 && x < 48:
				c = color.RGBA{0, 0, 255, 255}
			}
			m.Set(x, y, c)
		}
	}
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "a/wide.png"), m)
	const res = 32
	px := func(pix []float32, y, x int) [3]float32 {
		return [3]float32{pix[y*res+x], pix[res*res+y*res+x], pix[2*res*res+y*res+x]}
	}
	tests := []struct {
		policy string
		y, x   int
		want   [3]float32
	}{
		{PolicyResize, 0, 0, [3]float32{0, 1, 0}},
		{PolicyResize, 16, 10, [3]float32{1, 0, 0}},
		{PolicyResize, 31, 20, [3]float32{0, 0, 1}},
		{PolicyCrop, 0, 0, [3]float32{1, 0, 0}},
		{PolicyCrop, 31, 31, [3]float32{0, 0, 1}},
		{PolicyLetterbox, 0, 16, [3]float32{0, 0, 0}},  // bar above
		{PolicyLetterbox, 31, 16, [3]float32{0, 0, 0}}, // bar below
		{PolicyLetterbox, 16, 0, [3]float32{0, 1, 0}},
		{PolicyLetterbox, 16, 12, [3]float32{1, 0, 0}},
	}
	for _, tt := range tests {
		ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: res, Policy: tt.policy})
		if err != nil {
			t.Fatal(err)
		}
		pix := make([]float32, 3*res*res)
		if err := ds.Image(0, 0, pix); err != nil {
			t.Fatal(err)
		}
		got := px(pix, tt.y, tt.x)
		for c := 0; c < 3; c++ {
			if math.Abs(float64(got[c]-tt.want[c])) > 0.02 {
				t.Errorf("%s pixel (%d,%d): got %v, want %v", tt.policy, tt.y, tt.x, got, tt.want)
				break
			}
		}
	}
}

func TestOpenFolderErrors(t *testing.T) {
	okPNG := func(t *testing.T, path string) { writePNG(t, path, uniform("gray", 8, 8, color.NRGBA{1, 1, 1, 255})) }
	tests := []struct {
		name    string
		build   func(t *testing.T, root string)
		opts    FolderOptions
		wantErr string // substring; "" means success
	}{
		{"empty root", func(t *testing.T, root string) {}, FolderOptions{}, "no class folders"},
		{"missing root", func(t *testing.T, root string) { os.Remove(root) }, FolderOptions{}, "no such file"},
		{"classes without images", func(t *testing.T, root string) {
			mkdir(t, filepath.Join(root, "a"))
			writeFile(t, filepath.Join(root, "b/x.txt"), []byte("x"))
		}, FolderOptions{}, "no images"},
		{"val class missing from train", func(t *testing.T, root string) {
			okPNG(t, filepath.Join(root, "train/a/x.png"))
			okPNG(t, filepath.Join(root, "val/a/x.png"))
			okPNG(t, filepath.Join(root, "val/zebra/x.png"))
		}, FolderOptions{}, "val/zebra is not one of the 1 training classes"},
		{"val without train", func(t *testing.T, root string) {
			okPNG(t, filepath.Join(root, "val/a/x.png"))
			okPNG(t, filepath.Join(root, "b/x.png"))
		}, FolderOptions{}, "has val/ but no train/"},
		{"header claims a huge image", func(t *testing.T, root string) {
			okPNG(t, filepath.Join(root, "a/x.png"))
			writeFile(t, filepath.Join(root, "a/huge.png"), hugeHeaderPNG(t))
		}, FolderOptions{}, "a/huge.png: image of 70000x70000 is larger than the limit"},
		{"not an image named .png", func(t *testing.T, root string) {
			okPNG(t, filepath.Join(root, "a/x.png"))
			writeFile(t, filepath.Join(root, "a/fake.png"), []byte("hello, I am text"))
		}, FolderOptions{}, "a/fake.png: " + imageio.ErrNotImage.Error()},
		{"not an image, skipped", func(t *testing.T, root string) {
			okPNG(t, filepath.Join(root, "a/x.png"))
			writeFile(t, filepath.Join(root, "a/fake.png"), []byte("hello, I am text"))
		}, FolderOptions{OnError: OnErrorSkip}, ""},
		{"bad policy", okPNGTree, FolderOptions{Policy: "stretch"}, "resize policy"},
		{"bad on_error", okPNGTree, FolderOptions{OnError: "ignore"}, "on_error"},
		{"bad resolution", okPNGTree, FolderOptions{Resolution: -1}, "resolution"},
		{"bad val fraction", okPNGTree, FolderOptions{ValFraction: 1}, "validation fraction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.build(t, root)
			o := tt.opts
			o.Root = root
			if o.Resolution == 0 {
				o.Resolution = 8
			}
			train, _, err := OpenFolders(o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if train.Len() != 1 || train.Skipped() != 1 {
					t.Errorf("got %d images and %d skipped, want 1 and 1", train.Len(), train.Skipped())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func okPNGTree(t *testing.T, root string) {
	writePNG(t, filepath.Join(root, "a/x.png"), uniform("gray", 8, 8, color.NRGBA{1, 1, 1, 255}))
}

// truncatedPNG returns a valid PNG header whose pixel data stops early: it passes the
// header check at open and fails only when decoded.
func truncatedPNG(t *testing.T) []byte {
	var b strings.Builder
	m := image.NewGray(image.Rect(0, 0, 64, 64))
	for k := range m.Pix {
		m.Pix[k] = uint8(k * 7)
	}
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String()[:b.Len()/2])
}

func TestFolderTruncatedPNG(t *testing.T) {
	root := t.TempDir()
	okPNGTree(t, root)
	bad := filepath.Join(root, "a/y.png")
	writeFile(t, bad, truncatedPNG(t))
	for _, onError := range []string{OnErrorFail, OnErrorSkip} {
		ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 8, OnError: onError})
		if err != nil {
			t.Fatalf("%s: OpenFolders: %v", onError, err)
		}
		i := slices.Index(ds.paths, bad)
		if i < 0 {
			t.Fatalf("%s: truncated file not listed", onError)
		}
		err = ds.Image(i, 0, make([]float32, 3*8*8))
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Fatalf("%s: got error %v, want one naming %s", onError, err, bad)
		}
		if got, want := errors.Is(err, ErrSkipped), onError == OnErrorSkip; got != want {
			t.Errorf("%s: errors.Is(err, ErrSkipped) = %v, want %v", onError, got, want)
		}
		wantSkipped := 0
		if onError == OnErrorSkip {
			wantSkipped = 1
		}
		ds.Image(i, 1, make([]float32, 3*8*8)) // a second failure counts once
		if ds.Skipped() != wantSkipped {
			t.Errorf("%s: got %d skipped, want %d", onError, ds.Skipped(), wantSkipped)
		}
	}
}

func TestFolderSeededSplit(t *testing.T) {
	root := t.TempDir()
	for c, class := range []string{"a", "b"} {
		for k := 0; k < 20; k++ {
			writePNG(t, filepath.Join(root, class, string(rune('a'+k))+".png"), uniform("gray", 4, 4, color.NRGBA{uint8(c), uint8(k), 0, 255}))
		}
	}
	open := func(seed int64) (*Folder, *Folder) {
		tr, va, err := OpenFolders(FolderOptions{Root: root, Resolution: 4, ValFraction: 0.25, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return tr, va
	}
	tr1, va1 := open(1)
	tr1b, va1b := open(1)
	_, va2 := open(2)
	if got, want := va1.ClassCounts(), []int{5, 5}; !slices.Equal(got, want) {
		t.Errorf("val counts: got %v, want %v", got, want)
	}
	if got, want := tr1.ClassCounts(), []int{15, 15}; !slices.Equal(got, want) {
		t.Errorf("train counts: got %v, want %v", got, want)
	}
	if !slices.Equal(va1.paths, va1b.paths) || !slices.Equal(tr1.paths, tr1b.paths) {
		t.Errorf("same seed gave different splits")
	}
	if slices.Equal(va1.paths, va2.paths) {
		t.Errorf("seeds 1 and 2 gave the same validation files %v", va1.paths)
	}
	for _, p := range va1.paths {
		if slices.Contains(tr1.paths, p) {
			t.Errorf("%s is in both splits", p)
		}
	}
}

func TestOpenFolderSplitWithClasses(t *testing.T) {
	root := t.TempDir()
	okPNG := func(p string) { writePNG(t, filepath.Join(root, p), uniform("gray", 8, 8, color.NRGBA{9, 9, 9, 255})) }
	okPNG("val/b/1.png")
	okPNG("val/a/1.png")
	ds, err := OpenFolderSplit(filepath.Join(root, "val"), []string{"c", "b", "a"}, FolderOptions{Resolution: 8})
	if err != nil {
		t.Fatal(err)
	}
	labels := []int{ds.Label(0), ds.Label(1)}
	if want := []int{2, 1}; !slices.Equal(labels, want) { // a then b, labelled by the list
		t.Errorf("labels: got %v, want %v", labels, want)
	}
	_, err = OpenFolderSplit(filepath.Join(root, "val"), []string{"a"}, FolderOptions{Resolution: 8})
	if err == nil || !strings.Contains(err.Error(), "val/b") {
		t.Errorf("got error %v, want one naming the unknown class folder val/b", err)
	}
}

func TestLoadImageMatchesFolder(t *testing.T) {
	root := mixedFolder(t)
	ds, _, err := OpenFolders(FolderOptions{Root: root, Resolution: 24, Policy: PolicyLetterbox})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 3*24*24)
	for i := 0; i < ds.Len(); i++ {
		got, err := LoadImage(ds.Path(i), 24, PolicyLetterbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := ds.Image(i, 0, want); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: LoadImage differs from the folder's image", ds.Path(i))
		}
	}
	if _, err := LoadImage(filepath.Join(root, "train/cat/notes.txt"), 24, PolicyResize); !errors.Is(err, imageio.ErrNotImage) {
		t.Errorf("text file: got error %v, want ErrNotImage", err)
	}
	if _, err := LoadImage(ds.Path(0), 24, "zoom"); err == nil {
		t.Errorf("bad policy: got nil error")
	}
}

func writePNGFile(path string, m image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, m); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// hugeHeaderPNG is a 1 x 1 PNG whose header claims 70000 x 70000 pixels.
func hugeHeaderPNG(t *testing.T) []byte {
	var b strings.Builder
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := []byte(b.String())
	// Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ... , CRC at 29.
	binary.BigEndian.PutUint32(p[16:], 70000)
	binary.BigEndian.PutUint32(p[20:], 70000)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}
