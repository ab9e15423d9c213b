// Package imageio reads PNG and JPEG files of any colour model as planar RGB float32 and
// writes planar float32 images as 8-bit PNG.
package imageio

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	_ "image/gif"  // register the GIF decoder
	_ "image/jpeg" // register the JPEG decoder

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/termsafe"
)

// MaxPixels is the default bound on the pixels an image header may claim before it is
// decoded, so that a forged or merely huge header cannot make the decoder allocate
// gigabytes. 32 Mi pixels holds an 8K UHD frame (7680 x 4320) and 24-32 MP camera
// photos; at the bound a 16-bit RGBA PNG decodes to 256 MiB. A 0.5 MB PNG that claims
// 8000 x 8000 at 16 bits (64 M pixels, 512 MiB decoded) is refused from its header.
const MaxPixels = 32 << 20

// Image is a planar (CHW) float32 image with values in [0, 1].
type Image struct {
	C, H, W int
	Pix     []float32 // len C*H*W, channel-major
}

// New returns a zeroed image.
func New(c, h, w int) *Image {
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// At returns channel c at row y, column x.
func (m *Image) At(c, y, x int) float32 { return m.Pix[(c*m.H+y)*m.W+x] }

// ErrNotImage is wrapped into errors for data that no registered decoder recognises.
var ErrNotImage = errors.New("not a PNG or JPEG image")

// Read decodes the file at path as RGB, with the MaxPixels bound.
func Read(path string) (*Image, error) {
	img, err := ReadImage(path, MaxPixels)
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// ReadImage decodes the image file at path, streaming it (the file is never held in
// memory whole) after checking that its header claims at most maxPixels pixels (0 means
// MaxPixels). Only a regular file is opened; errors name the path.
func ReadImage(path string, maxPixels int64) (image.Image, error) {
	f, err := inputfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodeImage(f, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", termsafe.Quote(path), err)
	}
	return img, nil
}

// Decode reads a PNG or JPEG (or GIF) of any colour model as a 3-channel RGB image,
// with the MaxPixels bound.
func Decode(r io.ReadSeeker) (*Image, error) {
	img, err := DecodeImage(r, MaxPixels)
	if err != nil {
		return nil, err
	}
	return FromImage(img), nil
}

// DecodeConfig reads the header of a PNG, JPEG or GIF from r and checks the size it
// claims: at least one pixel and at most maxPixels (0 means MaxPixels). Data that no
// decoder recognises gives an error wrapping ErrNotImage.
func DecodeConfig(r io.Reader, maxPixels int64) (image.Config, error) {
	if maxPixels <= 0 {
		maxPixels = MaxPixels
	}
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return image.Config{}, ErrNotImage
		}
		return image.Config{}, fmt.Errorf("decode header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return image.Config{}, fmt.Errorf("image has no pixels (%dx%d)", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return image.Config{}, fmt.Errorf("image of %dx%d is larger than the limit of %d pixels", cfg.Width, cfg.Height, maxPixels)
	}
	return cfg, nil
}

// DecodeImage checks the header of the image in r with DecodeConfig, then rewinds r
// and decodes it; pixels are allocated only for a header within the bound.
func DecodeImage(r io.ReadSeeker, maxPixels int64) (image.Image, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	cfg, err := DecodeConfig(r, maxPixels)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	// The decoders size their buffers from the header just checked; a decoder that did
	// otherwise would make the bound meaningless.
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("decode: image of %dx%d, its header says %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return img, nil
}

// FromImage converts any image.Image to planar RGB in [0, 1].
func FromImage(img image.Image) *Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	m := New(3, h, w)
	plane := w * h
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := float32(src.Pix[y*src.Stride+x]) / 255
				i := y*w + x
				m.Pix[i], m.Pix[plane+i], m.Pix[2*plane+i] = v, v, v
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				o := y*src.Stride + 4*x
				i := y*w + x
				m.Pix[i] = float32(src.Pix[o]) / 255
				m.Pix[plane+i] = float32(src.Pix[o+1]) / 255
				m.Pix[2*plane+i] = float32(src.Pix[o+2]) / 255
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				// RGBA() is alpha-premultiplied, which composites onto black: the usual
				// reading of a transparent pixel for a classifier.
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				i := y*w + x
				m.Pix[i] = float32(r) / 65535
				m.Pix[plane+i] = float32(g) / 65535
				m.Pix[2*plane+i] = float32(bl) / 65535
			}
		}
	}
	return m
}

// ToNRGBA converts a 1- or 3-channel planar image to 8 bits per channel, each value
// round(255 * v) after clamping to [0, 1].
func ToNRGBA(m *Image) (*image.NRGBA, error) {
	if m.C != 1 && m.C != 3 {
		return nil, fmt.Errorf("image has %d channels, want 1 or 3", m.C)
	}
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	plane := m.H * m.W
	for y := 0; y < m.H; y++ {
		for x := 0; x < m.W; x++ {
			i := y*m.W + x
			var r, g, b uint8
			if m.C == 1 {
				r = To8(m.Pix[i])
				g, b = r, r
			} else {
				r, g, b = To8(m.Pix[i]), To8(m.Pix[plane+i]), To8(m.Pix[2*plane+i])
			}
			out.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	return out, nil
}

// To8 maps a value in [0, 1] to round(255 * v), clamped; NaN maps to 0.
func To8(v float32) uint8 {
	f := float64(v)
	if !(f > 0) {
		return 0
	}
	if f >= 1 {
		return 255
	}
	return uint8(math.Round(255 * f))
}

// WritePNG writes m as an 8-bit RGB PNG, atomically.
func WritePNG(path string, m *Image) error {
	img, err := ToNRGBA(m)
	if err != nil {
		return err
	}
	return SavePNG(path, img)
}

// SavePNG encodes any image.Image as PNG at path, atomically.
func SavePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := png.Encode(w, img); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		return nil
	})
}
