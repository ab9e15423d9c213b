package npyfile

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

// TestReadFile2DRefusesNonRegularAndHuge: a FIFO, a device, a directory or a (sparse)
// file longer than any array Read accepts is an error, in bounded time.
func TestReadFile2DRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "s.npy")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.npy")
	if err := os.WriteFile(huge, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", le32(1, 2, 3, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, maxFileBytes+1); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	for _, tt := range []struct {
		path string
		want error
		text string
	}{
		{fifo, inputfile.ErrNotRegular, "is a FIFO"},
		{"/dev/zero", inputfile.ErrNotRegular, "is a character device"},
		{dir, inputfile.ErrNotRegular, "is a directory"},
		{huge, inputfile.ErrTooLarge, "the limit is"},
	} {
		done := make(chan error, 1)
		go func() { _, _, _, err := ReadFile2D(tt.path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("ReadFile2D(%s) = %v, want an error naming it, wrapping %v, saying %q", tt.path, err, tt.want, tt.text)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile2D(%s) did not return within 10 s", tt.path)
		}
	}
}
