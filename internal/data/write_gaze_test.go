package data

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWriteGazeFolder: the written folder reads back as the generator's pixels and
// targets, its manifest names each eye as the generator placed it, and a second write
// without Force is refused.
func TestWriteGazeFolder(t *testing.T) {
	o := GazeOptions{Canvas: 48, EyeMin: 3, EyeMax: 5, SynthOptions: SynthOptions{Clutter: 2, Noise: 0.1, Train: 6, Val: 3, Seed: 4, FreshEachEpoch: true}}
	out := filepath.Join(t.TempDir(), "gaze")
	if err := WriteGazeFolder(context.Background(), out, o, WriteOptions{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	gtr, gva, err := NewGaze(o)
	if err != nil {
		t.Fatal(err)
	}
	rtr, rva, err := OpenTargetFolders(FolderOptions{Root: out, Resolution: o.Canvas})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, GazeManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m gazeManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Options != o || !slices.Equal(m.Targets, GazeTargetNames()) || len(m.Images) != o.Train+o.Val {
		t.Fatalf("manifest options %+v targets %v with %d images", m.Options, m.Targets, len(m.Images))
	}
	want, got := make([]float32, 3*48*48), make([]float32, 3*48*48)
	k := 0
	for _, sp := range []struct {
		name string
		gen  *GazeSet
		read *TargetFolder
	}{{"train", gtr, rtr}, {"val", gva, rva}} {
		if sp.read.Len() != sp.gen.Len() {
			t.Fatalf("%s: read %d examples, want %d", sp.name, sp.read.Len(), sp.gen.Len())
		}
		for i := 0; i < sp.gen.Len(); i++ {
			if err := sp.gen.Image(i, 0, want); err != nil {
				t.Fatal(err)
			}
			if err := sp.read.Image(i, 0, got); err != nil {
				t.Fatal(err)
			}
			wt, gt := make([]float32, 2), make([]float32, 2)
			sp.gen.Targets(i, 0, wt)
			sp.read.Targets(i, 0, gt)
			if !slices.Equal(got, want) || !slices.Equal(gt, wt) {
				t.Fatalf("%s %d: pixels or targets (%v, want %v) differ from the generator's", sp.name, i, gt, wt)
			}
			_, p, err := sp.gen.Canvas(i, 0)
			if err != nil {
				t.Fatal(err)
			}
			r := m.Images[k]
			if r.Split != sp.name || r.Index != i || r.Centre != p.Centre || r.Radius != p.Radius || r.Gaze != p.Gaze ||
				r.Box != [4]int{p.Box.Min.X, p.Box.Min.Y, p.Box.Max.X, p.Box.Max.Y} || !strings.HasPrefix(r.File, sp.name+"/images/") {
				t.Errorf("manifest record %d = %+v, the generator placed %+v", k, r, p)
			}
			k++
		}
	}
	err = WriteGazeFolder(context.Background(), out, o, WriteOptions{})
	if ne, ok := errors.AsType[*NotEmptyError](err); !ok || ne.Manifest != GazeManifestFile {
		t.Errorf("second write: err = %v, want a refusal naming %s", err, GazeManifestFile)
	}
	if err := WriteGazeFolder(context.Background(), out, o, WriteOptions{Force: true}); err != nil {
		t.Errorf("forced write: %v", err)
	}
}
