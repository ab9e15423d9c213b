package data

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestWriteFolder: the folder reads back as an image folder of the set's size with a
// manifest listing every image; progress counts every image; a cancelled write leaves
// nothing; a non-empty folder is refused without Force, and with it only train/, val/
// and needle.json are replaced.
func TestWriteFolder(t *testing.T) {
	o := NeedleOptions{Canvas: 32, DigitMin: 12, DigitMax: 16, SynthOptions: SynthOptions{Clutter: 1, Train: 6, Val: 3, Noise: 0.1, Seed: 2}}
	parent := t.TempDir()
	out := filepath.Join(parent, "set")
	var n atomic.Int32
	if err := WriteFolder(context.Background(), out, o, WriteOptions{Workers: 2, Progress: func() { n.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 9 {
		t.Errorf("progress called %d times, want 9", n.Load())
	}
	tr, val, err := OpenFolders(FolderOptions{Root: out, Resolution: 32})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 6 || val.Len() != 3 {
		t.Errorf("read back %d + %d images, want 6 + 3", tr.Len(), val.Len())
	}
	b, err := os.ReadFile(filepath.Join(out, NeedleManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m needleManifest
	if err := json.Unmarshal(b, &m); err != nil || len(m.Images) != 9 || m.Options != o {
		t.Fatalf("manifest: %v, %d images, options %+v", err, len(m.Images), m.Options)
	}

	err = WriteFolder(context.Background(), out, o, WriteOptions{})
	var notEmpty *NotEmptyError
	if !errors.As(err, &notEmpty) || notEmpty.Dir != out || notEmpty.Manifest != NeedleManifestFile ||
		err.Error() != "output folder "+out+" is not empty" {
		t.Errorf("rewrite without Force: got %#v (%v), want a NotEmptyError for %s and %s", err, err, out, NeedleManifestFile)
	}
	keep := filepath.Join(out, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.Train = 2
	if err := WriteFolder(context.Background(), out, o, WriteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if tr, _, err := OpenFolders(FolderOptions{Root: out, Resolution: 32}); err != nil || tr.Len() != 2 {
		t.Errorf("after Force: %v, want 2 training images", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Force removed a file that is not the set's: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteFolder(ctx, filepath.Join(parent, "cancelled"), o, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: err = %v", err)
	}
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 {
		t.Errorf("parent holds %d entries after the cancelled write, want only the first set", len(ents))
	}
}
