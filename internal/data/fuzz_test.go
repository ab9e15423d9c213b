package data

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"zoomtrain/internal/imageio"
)

// fuzzSeeds encodes small images in each format and colour model the pipeline meets.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	rgba := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	gray := image.NewGray(image.Rect(0, 0, 3, 7))
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White})
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(37 * i)
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(11 * i)
	}
	var out [][]byte
	for _, enc := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return png.Encode(b, rgba) },
		func(b *bytes.Buffer) error { return png.Encode(b, gray) },
		func(b *bytes.Buffer) error { return png.Encode(b, pal) },
		func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, nil) },
		func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) },
	} {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			f.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	if cmyk, err := os.ReadFile(filepath.Join("testdata", "cmyk.jpeg")); err == nil {
		out = append(out, cmyk)
	}
	return out
}

// fuzzMaxPixels keeps the fuzzer on images it can decode quickly; the default limit
// (imageio.MaxPixels) is checked by the header tests.
const fuzzMaxPixels = 1 << 20

// FuzzDecodeImage feeds arbitrary bytes to the data pipeline's decoder and resizer: no
// input may panic, a header the bound refuses must never be decoded, what decodes must
// be the size its header claims, and it must come out as an r x r image under every
// policy.
func FuzzDecodeImage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, cfgErr := imageio.DecodeConfig(bytes.NewReader(b), fuzzMaxPixels)
		img, err := imageio.DecodeImage(bytes.NewReader(b), fuzzMaxPixels)
		if cfgErr != nil {
			if err == nil {
				t.Fatalf("header refused (%v) but the image decoded", cfgErr)
			}
			return
		}
		if err != nil {
			return
		}
		if got := img.Bounds(); got.Dx() != cfg.Width || got.Dy() != cfg.Height {
			t.Fatalf("decoded %v, header says %dx%d", got, cfg.Width, cfg.Height)
		}
		const r = 12
		for _, policy := range []string{PolicyResize, PolicyLetterbox, PolicyCrop} {
			sq := fitSquare(img, r, policy)
			if got := sq.Bounds(); got != image.Rect(0, 0, r, r) {
				t.Fatalf("%s: %v image, want %dx%d", policy, got, r, r)
			}
			dst := make([]uint8, 3*r*r)
			rgbaToPlanar(dst, sq)
		}
	})
}
