package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pngClaiming returns a PNG whose header (with a valid checksum) claims w x h pixels of
// 16-bit RGBA, followed by no pixel data: what a forged or truncated huge file looks
// like to DecodeConfig.
func pngClaiming(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b []byte
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 16, 6, 0, 0, 0) // depth 16, RGBA, deflate, no filter, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", nil)...)
	return append(b, chunk("IEND", nil)...)
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeColourModels(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 3, 2))
	gray.SetGray(1, 0, color.Gray{Y: 255})
	pal := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{color.Black, color.RGBA{255, 0, 0, 255}})
	pal.SetColorIndex(1, 0, 1)
	rgba := image.NewRGBA(image.Rect(0, 0, 3, 2))
	rgba.Set(1, 0, color.RGBA{0, 0, 255, 255})
	g16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	g16.SetGray16(1, 0, color.Gray16{Y: 65535})
	tests := []struct {
		name string
		img  image.Image
		want [3]float32 // RGB at (x=1, y=0)
	}{
		{"gray", gray, [3]float32{1, 1, 1}},
		{"paletted", pal, [3]float32{1, 0, 0}},
		{"rgba", rgba, [3]float32{0, 0, 1}},
		{"gray16", g16, [3]float32{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(bytes.NewReader(encodePNG(t, tt.img)))
			if err != nil {
				t.Fatal(err)
			}
			if m.C != 3 || m.H != 2 || m.W != 3 {
				t.Fatalf("shape = %dx%dx%d, want 3x2x3", m.C, m.H, m.W)
			}
			for c := 0; c < 3; c++ {
				if got := m.At(c, 0, 1); got != tt.want[c] {
					t.Errorf("channel %d = %v, want %v", c, got, tt.want[c])
				}
				if got := m.At(c, 1, 2); got != 0 {
					t.Errorf("background channel %d = %v, want 0", c, got)
				}
			}
		})
	}
}

func TestDecodeCMYKJPEG(t *testing.T) {
	cmyk := image.NewCMYK(image.Rect(0, 0, 8, 8))
	for i := range cmyk.Pix {
		cmyk.Pix[i] = 0 // white
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, cmyk, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.At(0, 4, 4); got < 0.95 {
		t.Errorf("white CMYK pixel reads as %v, want about 1", got)
	}
}

func TestDecodeBadInput(t *testing.T) {
	good := encodePNG(t, image.NewGray(image.Rect(0, 0, 16, 16)))
	huge := append([]byte(nil), good...)
	// IHDR width and height sit at bytes 16..23; claim 100000 x 100000.
	copy(huge[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, not an image")},
		{"truncated", good[:len(good)/2]},
		{"huge header", huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(bytes.NewReader(tt.data)); err == nil {
				t.Fatal("decoded bad input without error")
			}
		})
	}
	if _, err := Decode(bytes.NewReader([]byte("plain text"))); !errors.Is(err, ErrNotImage) {
		t.Errorf("text: err = %v, want ErrNotImage", err)
	}
}

func TestDecodePixelBound(t *testing.T) {
	small := encodePNG(t, image.NewGray(image.Rect(0, 0, 16, 16)))
	tests := []struct {
		name      string
		data      []byte
		maxPixels int64
		want      string // "" for success
	}{
		{"8000x8000 16-bit header", pngClaiming(8000, 8000), 0, "image of 8000x8000 is larger than the limit of 33554432 pixels"},
		{"one pixel over the bound", pngClaiming(1<<15, 1<<10+1), 0, "larger than the limit"},
		{"at the bound, no data", pngClaiming(1<<15, 1<<10), 0, "decode:"},
		{"16x16 with bound 255", small, 255, "image of 16x16 is larger than the limit of 255 pixels"},
		{"16x16 with bound 256", small, 256, ""},
		{"zero pixels", pngClaiming(0, 5), 0, "decode header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			img, err := DecodeImage(bytes.NewReader(tt.data), tt.maxPixels)
			runtime.ReadMemStats(&after)
			if tt.want == "" {
				if err != nil || img.Bounds().Dx() != 16 {
					t.Fatalf("got %v, %v, want a 16x16 image", img, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			// Refused or failed, nothing near the claimed size was allocated.
			if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
				t.Errorf("allocated %d bytes for a refused image", got)
			}
		})
	}
}

// TestReadStreams reads a small PNG followed by a 256 MiB sparse tail: the decoder stops
// at the end of the image, so the file is never held in memory.
func TestReadStreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sparse.png")
	if err := os.WriteFile(p, encodePNG(t, image.NewGray(image.Rect(0, 0, 16, 16))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 256<<20); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Read(p)
	runtime.ReadMemStats(&after)
	if err != nil || m.W != 16 {
		t.Fatalf("got %v, %v, want a 16x16 image", m, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("reading a 16x16 PNG in a 256 MiB file allocated %d bytes", got)
	}
}

func TestReadRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "up.png")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, "is a FIFO"},
		{link, "is a directory"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Read(tt.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got error %v, want one saying %q", tt.path, err, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Read blocked for 5 s", tt.path)
		}
	}
}

func TestWritePNGRoundTrip(t *testing.T) {
	m := New(3, 2, 2)
	for i := range m.Pix {
		m.Pix[i] = float32(i) / float32(len(m.Pix)-1)
	}
	p := filepath.Join(t.TempDir(), "x.png")
	if err := WritePNG(p, m); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Pix {
		if d := got.Pix[i] - float32(To8(v))/255; d != 0 {
			t.Errorf("pixel %d = %v, want %v", i, got.Pix[i], float32(To8(v))/255)
		}
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.png")); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
}

func TestTo8(t *testing.T) {
	tests := []struct {
		in   float32
		want uint8
	}{{-1, 0}, {0, 0}, {0.5, 128}, {1, 255}, {2, 255}, {0.00196, 0}, {0.002, 1}}
	for _, tt := range tests {
		if got := To8(tt.in); got != tt.want {
			t.Errorf("To8(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
