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
