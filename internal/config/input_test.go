package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zoomtrain/internal/inputfile"
)

// TestLoadRefusesNonRegularAndHuge: a device, a FIFO, a directory or a file over
// MaxFileBytes is a one-line error, in bounded time and memory.
func TestLoadRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// A comment line per kilobyte: valid YAML, over the limit by one byte.
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#"+strings.Repeat("x", 1022)+"\n", MaxFileBytes>>10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want error
		text string
	}{
		{"/dev/zero", inputfile.ErrNotRegular, "is a character device"},
		{"/dev/urandom", inputfile.ErrNotRegular, "is a character device"},
		{fifo, inputfile.ErrNotRegular, "is a FIFO"},
		{dir, inputfile.ErrNotRegular, "is a directory"},
		{big, inputfile.ErrTooLarge, "65537 bytes, the limit is 65536"},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { _, err := Load(tt.path, nil, nil); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Load(%s) = %v, want one line wrapping %v and saying %q", tt.path, err, tt.want, tt.text)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) did not return within 10 s", tt.path)
		}
	}
}

func TestFileSizeLimit(t *testing.T) {
	// At the limit, comments and all, a config still loads.
	body := "train:\n  epochs: 3\n"
	atLimit := body + strings.Repeat("#", MaxFileBytes-len(body)-1) + "\n"
	c, err := Load(writeFile(t, atLimit), nil, nil)
	if err != nil || c.Train.Epochs != 3 {
		t.Errorf("config of exactly %d bytes: got %v, want epochs 3", MaxFileBytes, err)
	}
	// Parse (a checkpoint's stored config) has the same bound.
	if _, err := Parse([]byte(atLimit + "#")); !errors.Is(err, inputfile.ErrTooLarge) {
		t.Errorf("Parse of %d bytes = %v, want ErrTooLarge", MaxFileBytes+1, err)
	}
}
