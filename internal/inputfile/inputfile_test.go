package inputfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bounded runs f and fails the test if it has not returned within a few seconds, so a
// regression that blocks in open(2) fails instead of hanging the suite.
func bounded(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("did not return within 5 s: blocked on a non-regular file")
	}
}

// special makes a file of each kind that must be refused; a kind the system cannot
// make here is skipped with the reason.
func special(t *testing.T, kind string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.png")
	switch kind {
	case "a directory":
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	case "a directory via a symlink":
		if err := os.Symlink(dir, p); err != nil {
			t.Fatal(err)
		}
	case "a FIFO":
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	case "a socket":
		// Socket paths are limited to about 100 bytes; a temp dir can be longer.
		short, err := os.MkdirTemp("", "sock")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		p = filepath.Join(short, "s")
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Skipf("unix socket: %v", err)
		}
		t.Cleanup(func() { l.Close() })
	case "a character device":
		p = os.DevNull
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	return p
}

func TestOpenRefusesNonRegular(t *testing.T) {
	for _, tt := range []struct{ kind, want string }{
		{"a directory", "is a directory"},
		{"a directory via a symlink", "is a directory"},
		{"a FIFO", "is a FIFO"},
		{"a socket", "is a socket"},
		{"a character device", "is a character device"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			p := special(t, tt.kind)
			for name, open := range map[string]func() error{
				"Open":     func() error { f, err := Open(p); closeIf(f); return err },
				"OpenFile": func() error { f, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); closeIf(f); return err },
				"ReadFile": func() error { _, err := ReadFile(p, 1<<20); return err },
			} {
				var err error
				bounded(t, func() { err = open() })
				if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
					t.Errorf("%s: got error %v, want one naming %s and saying %q", name, err, p, tt.want)
				}
			}
		})
	}
}

func closeIf(f *os.File) {
	if f != nil {
		f.Close()
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		limit   int64
		wantErr bool
	}{{10, false}, {11, false}, {9, true}, {0, true}} {
		b, err := ReadFile(p, tt.limit)
		switch {
		case tt.wantErr && !errors.Is(err, ErrTooLarge):
			t.Errorf("limit %d: got error %v, want ErrTooLarge", tt.limit, err)
		case !tt.wantErr && (err != nil || string(b) != "0123456789"):
			t.Errorf("limit %d: got %q, %v, want the file", tt.limit, b, err)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want ErrNotExist", err)
	}
}

func TestOpenFileCreates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	f, err := OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := f.WriteString("x\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing"), os.O_RDWR, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file without O_CREATE: got %v, want ErrNotExist", err)
	}
	f, err = Open(p)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := CheckSize(f, p, 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CheckSize of 2 bytes with limit 1: got %v, want ErrTooLarge", err)
	}
	if err := CheckSize(f, p, 2); err != nil {
		t.Errorf("CheckSize of 2 bytes with limit 2: %v", err)
	}
	f.Close()
}
