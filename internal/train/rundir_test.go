package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zoomtrain/internal/config"
)

// TestRunDirectoryNeverReusedSilently: a derived name gets a fresh directory each time,
// an explicit existing name is refused unless --force, and --force clears the old
// run's checkpoints and metrics (and temporary files of dead writes).
func TestRunDirectoryNeverReusedSilently(t *testing.T) {
	cfg := config.Default()
	cfg.Out = t.TempDir()
	d1, err := CreateRunDir(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := CreateRunDir(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	d1.Close()
	d2.Close()
	first, second := d1.Path(), d2.Path()
	if first == second || filepath.Base(second) != filepath.Base(first)+"-2" {
		t.Errorf("derived run directories %s then %s, want a fresh -2 suffix", first, second)
	}

	cfg.Name = "named"
	d, err := CreateRunDir(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := d.Path()
	d.Close()
	old := []string{"last.ckpt", "best.ckpt", "metrics.jsonl", ".last.ckpt.tmp-123"}
	for _, f := range append(old, "notes.txt") {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("old run"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := CreateRunDir(cfg, false); err == nil || !strings.Contains(err.Error(), "exists: use --resume") {
		t.Errorf("existing named directory without --force: error %v, want one suggesting --resume", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "last.ckpt")); err != nil {
		t.Fatalf("refusal touched the old run: %v", err)
	}
	got, err := CreateRunDir(cfg, true)
	if err != nil || got.Path() != dir {
		t.Fatalf("--force: %v, %v; want %q", got, err, dir)
	}
	got.Close()
	for _, f := range old {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--force left %s (stat error %v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("--force removed a file that is not the run's: %v", err)
	}
}

// TestOpenRunDir: taking over a run directory deletes the temporary files that dead
// writes left, and nothing else; a path that is no directory is refused.
func TestOpenRunDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{ // name -> kept
		"last.ckpt": true, ".last.ckpt.tmp-1": false, ".metrics.jsonl.tmp-77": false,
		".config.yaml.tmp-3": false, "notes.txt": true, ".notes.txt.tmp-5": true,
	}
	for f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if d.Path() != dir || d.File(MetricsFile) != filepath.Join(dir, "metrics.jsonl") {
		t.Errorf("OpenRunDir: path %q, metrics at %q", d.Path(), d.File(MetricsFile))
	}
	for f, kept := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if got := err == nil; got != kept {
			t.Errorf("%s: kept = %v, want %v", f, got, kept)
		}
	}
	for _, bad := range []string{filepath.Join(dir, "notes.txt"), filepath.Join(dir, "none")} {
		if _, err := OpenRunDir(bad); err == nil {
			t.Errorf("OpenRunDir(%s) succeeded", bad)
		}
	}
}

// TestRunDirLock: while one RunDir holds a directory, creating, replacing or opening
// it again is refused with an error naming the holder; after Close it is free again
// and the lock file is gone.
func TestRunDirLock(t *testing.T) {
	cfg := config.Default()
	cfg.Out = t.TempDir()
	cfg.Name = "run"
	d, err := CreateRunDir(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.File(LastCheckpoint), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("is held by pid %d on host ", os.Getpid())
	for name, open := range map[string]func() (*RunDir, error){
		"create": func() (*RunDir, error) { return CreateRunDir(cfg, false) },
		"force":  func() (*RunDir, error) { return CreateRunDir(cfg, true) },
		"reopen": func() (*RunDir, error) { return OpenRunDir(d.Path()) },
	} {
		_, err := open()
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s while held: error %v, want ErrInUse naming %q", name, err, want)
		}
	}
	if _, err := os.Stat(d.File(LastCheckpoint)); err != nil {
		t.Errorf("a refused --force touched the run: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.File(LockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Close: stat error %v", err)
	}
	d2, err := OpenRunDir(d.Path())
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	d2.Close()
}

// TestRunDirDiscard: a failed start removes the directory it made, and what it wrote
// there; a directory with a checkpoint, or with files that are not the run's, stays.
func TestRunDirDiscard(t *testing.T) {
	cases := []struct {
		name     string
		files    []string
		dirStays bool
	}{
		{"config only", []string{ConfigFile}, false},
		{"a checkpoint", []string{ConfigFile, BestCheckpoint}, true},
		{"a file of the user's", []string{ConfigFile, "notes.txt"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Out = t.TempDir()
			cfg.Name = "run"
			d, err := CreateRunDir(cfg, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				if err := os.WriteFile(d.File(f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Discard(); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(d.Path())
			if stays := err == nil; stays != tc.dirStays {
				t.Fatalf("directory stays = %v, want %v", stays, tc.dirStays)
			}
			if _, err := os.Stat(d.File(LockFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("lock file after Discard: stat error %v", err)
			}
			if tc.dirStays {
				for _, f := range tc.files {
					if f != ConfigFile {
						if _, err := os.Stat(d.File(f)); err != nil {
							t.Errorf("Discard removed %s: %v", f, err)
						}
					}
				}
			}
		})
	}
	// A start killed before its first checkpoint leaves config.yaml: the same command
	// takes the directory over instead of saying it exists.
	cfg := config.Default()
	cfg.Out = t.TempDir()
	cfg.Name = "run"
	dir := filepath.Join(cfg.Out, cfg.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := CreateRunDir(cfg, false)
	if err != nil {
		t.Fatalf("directory of an unfinished start: %v", err)
	}
	d.Close()
}
