package train

import (
	"errors"
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
	if got, err := CreateRunDir(cfg, true); err != nil || got.Path() != dir {
		t.Fatalf("--force: %v, %v; want %q", got, err, dir)
	}
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
