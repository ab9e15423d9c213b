package checkpoint

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

// TestLoadRefusesNonRegularAndHuge: a FIFO, a device, a directory or a (sparse) file
// over MaxFileBytes is a one-line error from Load and Peek, in bounded time.
func TestLoadRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.ckpt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.ckpt")
	if err := os.WriteFile(huge, encoded(t, sample()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxFileBytes+1); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	tests := []struct {
		path string
		want error
		text string
	}{
		{fifo, inputfile.ErrNotRegular, "is a FIFO"},
		{"/dev/zero", inputfile.ErrNotRegular, "is a character device"},
		{dir, inputfile.ErrNotRegular, "is a directory"},
		{huge, inputfile.ErrTooLarge, "2147483649 bytes, the limit is 2147483648"},
	}
	for _, tt := range tests {
		for name, read := range map[string]func(string) (*Checkpoint, error){"Load": Load, "Peek": Peek} {
			done := make(chan error, 1)
			go func() { _, err := read(tt.path); done <- err }()
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
					t.Errorf("%s(%s) = %v, want an error wrapping %v and saying %q", name, tt.path, err, tt.want, tt.text)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s(%s) did not return within 10 s", name, tt.path)
			}
		}
	}
}
