package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/inputfile/inputfiletest"
)

// TestLoadRefusesNonRegularAndHuge: a device, a FIFO, a directory or a file over
// MaxFileBytes is a one-line error, in bounded time and memory.
func TestLoadRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := inputfiletest.FIFO(t, dir, "fifo.yaml")
	// A comment line per kilobyte: valid YAML, over the limit by one byte.
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#"+strings.Repeat("x", 1022)+"\n", MaxFileBytes>>10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputfiletest.CheckRefused(t, map[string]func(string) error{
		"Load": func(p string) error { _, err := Load(p, nil, nil); return err },
	}, []inputfiletest.Case{
		{Path: "/dev/zero", Want: inputfile.ErrNotRegular, Text: "is a character device"},
		{Path: "/dev/urandom", Want: inputfile.ErrNotRegular, Text: "is a character device"},
		{Path: fifo, Want: inputfile.ErrNotRegular, Text: "is a FIFO"},
		{Path: dir, Want: inputfile.ErrNotRegular, Text: "is a directory"},
		{Path: big, Want: inputfile.ErrTooLarge, Text: "65537 bytes, the limit is 65536"},
	})
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
