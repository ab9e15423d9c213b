// Package inputfile opens the files zoomtrain reads (configs, checkpoints, metrics,
// arrays, images) so that a wrong path cannot hang or exhaust the process: only regular
// files are opened, the open itself never blocks (a FIFO without a writer would block
// os.Open forever), and whole-file reads stop at a stated size.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"zoomtrain/internal/termsafe"
)

// ErrNotRegular is wrapped into the error for a path that names a directory, FIFO,
// socket, device or other non-regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped into the error for a file larger than the caller's limit.
var ErrTooLarge = errors.New("file too large")

// Kind names what a file mode is, for error messages: "a directory", "a FIFO", ...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

func notRegular(path string, m fs.FileMode) error {
	return fmt.Errorf("%s is %s: %w", termsafe.Quote(path), Kind(m), ErrNotRegular)
}

// Open opens path for reading if it is a regular file, following symbolic links. The
// mode is checked before the open, so a device is never opened, and again on the open
// file, so a file swapped in between is caught; the open is non-blocking, so a FIFO
// put there in between cannot block it either. Errors name the path.
func Open(path string) (*os.File, error) {
	return OpenFile(path, os.O_RDONLY, 0)
}

// OpenFile is os.OpenFile restricted to regular files, as Open: with os.O_CREATE a
// missing file is created (mode perm), an existing one must be regular.
func OpenFile(path string, flag int, perm fs.FileMode) (*os.File, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	} else if err != nil && (flag&os.O_CREATE == 0 || !errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	// O_NONBLOCK has no effect on reads and writes of a regular file; it only keeps
	// the open of a FIFO from waiting for the other end.
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, st.Mode())
	}
	return f, nil
}

// ReadFile reads the whole regular file at path, refusing one larger than limit bytes
// before reading it. A file that grows past limit while it is read is refused too.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, tooLarge(path, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", termsafe.Quote(path), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: it grew past the limit of %d bytes while being read", termsafe.Quote(path), ErrTooLarge, limit)
	}
	return b, nil
}

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("%s: %w: %d bytes, the limit is %d", termsafe.Quote(path), ErrTooLarge, size, limit)
}

// CheckSize returns an error wrapping ErrTooLarge when the open file f holds more than
// limit bytes; path names it in the error.
func CheckSize(f *os.File, path string, limit int64) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > limit {
		return tooLarge(path, st.Size(), limit)
	}
	return nil
}
