package data

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeGrayPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
}

func TestLargestSide(t *testing.T) {
	type img struct {
		path string
		w, h int
	}
	cases := []struct {
		name       string
		images     []img
		maxHeaders int
		want       SideSurvey
		wantErr    string
	}{
		{"train split, val ignored", []img{{"train/a/1.png", 40, 90}, {"train/b/2.png", 120, 30}, {"val/a/3.png", 500, 500}}, 0, SideSurvey{Largest: 120, Read: 2, Total: 2}, ""},
		{"flat root, val/ left out", []img{{"a/1.png", 64, 64}, {"b/2.png", 70, 10}, {"val/a/9.png", 999, 999}}, 0, SideSurvey{Largest: 70, Read: 2, Total: 2}, ""},
		{"hidden files left out", []img{{"a/.big.png", 800, 800}, {"a/1.png", 50, 50}}, 0, SideSurvey{Largest: 50, Read: 1, Total: 1}, ""},
		{"sampled", []img{{"a/1.png", 10, 10}, {"a/2.png", 20, 20}, {"a/3.png", 30, 30}, {"a/4.png", 40, 40}}, 2, SideSurvey{Largest: 30, Read: 2, Total: 4}, ""},
		{"no images", []img{}, 0, SideSurvey{}, "no readable image header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, m := range tc.images {
				writeGrayPNG(t, filepath.Join(root, m.path), m.w, m.h)
			}
			got, err := LargestSide(root, tc.maxHeaders)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.Sampled() != (tc.want.Read < tc.want.Total) {
				t.Errorf("Sampled() = %v", got.Sampled())
			}
		})
	}
	if _, err := LargestSide(filepath.Join(t.TempDir(), "none"), 0); err == nil || !strings.Contains(err.Error(), "image folder") {
		t.Errorf("missing root: got %v, want the image folder error", err)
	}
}
