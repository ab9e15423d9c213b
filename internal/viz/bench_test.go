package viz

import (
	"image"
	"path/filepath"
	"testing"
)

// go test ./internal/viz -run '^$' -bench . -benchtime 20x

func BenchmarkPanel(b *testing.B) {
	in := zoomInput()
	for b.Loop() {
		if _, err := Panel(in, PanelOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContactSheet16(b *testing.B) {
	p, err := Panel(zoomInput(), PanelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	panels := make([]image.Image, 16)
	captions := make([]string, 16)
	for i := range panels {
		panels[i], captions[i] = p, "example"
	}
	for b.Loop() {
		if _, err := ContactSheet(panels, captions, 2); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCurves100(b *testing.B) {
	rs := history(100, 0.9)
	for b.Loop() {
		if _, err := Curves(rs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWritePNGPanel(b *testing.B) {
	p, err := Panel(zoomInput(), PanelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "p.png")
	for b.Loop() {
		if err := WritePNG(path, p); err != nil {
			b.Fatal(err)
		}
	}
}
