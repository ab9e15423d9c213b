package checkpoint

import (
	"path/filepath"
	"testing"

	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/inputfile/inputfiletest"
)

// TestLoadRefusesNonRegularAndHuge: a FIFO, a device, a directory or a (sparse) file
// over MaxFileBytes is a one-line error from Load and Peek, in bounded time.
func TestLoadRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := inputfiletest.FIFO(t, dir, "x.ckpt")
	huge := inputfiletest.Sparse(t, filepath.Join(dir, "huge.ckpt"), encoded(t, sample()), MaxFileBytes+1)
	inputfiletest.CheckRefused(t, map[string]func(string) error{
		"Load": func(p string) error { _, err := Load(p); return err },
		"Peek": func(p string) error { _, err := Peek(p); return err },
	}, []inputfiletest.Case{
		{Path: fifo, Want: inputfile.ErrNotRegular, Text: "is a FIFO"},
		{Path: "/dev/zero", Want: inputfile.ErrNotRegular, Text: "is a character device"},
		{Path: dir, Want: inputfile.ErrNotRegular, Text: "is a directory"},
		{Path: huge, Want: inputfile.ErrTooLarge, Text: "2147483649 bytes, the limit is 2147483648"},
	})
}
