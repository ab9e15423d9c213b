package npyfile

import (
	"path/filepath"
	"testing"

	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/inputfile/inputfiletest"
)

// TestReadFile2DRefusesNonRegularAndHuge: a FIFO, a device, a directory or a (sparse)
// file longer than any array Read accepts is an error, in bounded time.
func TestReadFile2DRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := inputfiletest.FIFO(t, dir, "s.npy")
	huge := inputfiletest.Sparse(t, filepath.Join(dir, "huge.npy"),
		npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", le32(1, 2, 3, 4)), maxFileBytes+1)
	inputfiletest.CheckRefused(t, map[string]func(string) error{
		"ReadFile2D": func(p string) error { _, _, _, err := ReadFile2D(p); return err },
	}, []inputfiletest.Case{
		{Path: fifo, Want: inputfile.ErrNotRegular, Text: "is a FIFO"},
		{Path: "/dev/zero", Want: inputfile.ErrNotRegular, Text: "is a character device"},
		{Path: dir, Want: inputfile.ErrNotRegular, Text: "is a directory"},
		{Path: huge, Want: inputfile.ErrTooLarge, Text: "the limit is"},
	})
}
