// Package inputfiletest checks, for the tests of the packages that open their input
// through inputfile, that a reader refuses what inputfile refuses: in bounded time,
// with a one-line error that names the file, wraps inputfile's sentinel and says why.
package inputfiletest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A Case is one file that a reader must refuse.
type Case struct {
	Path string
	Want error  // the sentinel the error wraps: inputfile.ErrNotRegular or ErrTooLarge
	Text string // what the error says
}

// FIFO makes a named pipe called name in dir and returns its path.
func FIFO(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Sparse writes body to path and extends the file, sparsely, to size bytes; where the
// file system cannot, the test is skipped.
func Sparse(t testing.TB, path string, body []byte, size int64) string {
	t.Helper()
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	return path
}

// CheckRefused runs every op on every case's file and fails the test unless each
// returns within 10 s an error as Case describes, on one line naming the file.
func CheckRefused(t testing.TB, ops map[string]func(path string) error, cases []Case) {
	t.Helper()
	for _, c := range cases {
		for name, op := range ops {
			done := make(chan error, 1)
			go func() { done <- op(c.Path) }()
			select {
			case err := <-done:
				if !errors.Is(err, c.Want) || !strings.Contains(err.Error(), c.Text) ||
					!strings.Contains(err.Error(), c.Path) || strings.Contains(err.Error(), "\n") {
					t.Errorf("%s(%s) = %v, want one line naming the file, wrapping %v and saying %q", name, c.Path, err, c.Want, c.Text)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s(%s) did not return within 10 s", name, c.Path)
			}
		}
	}
}
