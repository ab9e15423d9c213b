package train

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// LockFile is the file in a run directory that a process holding the directory keeps
// an exclusive flock on; it holds one line naming the holder.
const LockFile = ".zoomtrain.lock"

// ErrInUse is wrapped by the error of a run directory another process holds.
var ErrInUse = errors.New("run directory in use")

// runLock is a held flock on a run directory's lock file.
type runLock struct {
	f    *os.File
	path string
}

// lockRunDir takes the run directory's lock without waiting, and writes the holder's
// pid, host, start time and command line into it. When another process holds it, the
// error wraps ErrInUse and says who, as far as the holder wrote it.
func lockRunDir(dir, path string) (*runLock, error) {
	// The lock file is removed on release: a file opened just before its removal is
	// locked in vain, so retry until the locked file is the one at path.
	for range 100 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock run directory: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			holder := readHolder(f)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				who := strings.TrimSpace(string(holder))
				if who == "" {
					who = "another process (which has not written its name yet)"
				}
				return nil, fmt.Errorf("%w: %s is held by %s", ErrInUse, dir, who)
			}
			return nil, fmt.Errorf("lock run directory %s: %w", dir, err)
		}
		if !samePath(f, path) {
			f.Close()
			continue
		}
		host, _ := os.Hostname()
		info := fmt.Sprintf("pid %d on host %s since %s: %s\n", os.Getpid(), host,
			time.Now().UTC().Format(time.RFC3339), strings.Join(os.Args, " "))
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock run directory: %w", err)
		}
		if _, err := f.WriteAt([]byte(info), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock run directory: %w", err)
		}
		return &runLock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock run directory %s: its lock file keeps changing", dir)
}

// readHolder reads the holder's line from the lock file, giving a holder that has just
// taken the lock a moment to write it.
func readHolder(f *os.File) []byte {
	for range 20 {
		b, _ := io.ReadAll(io.NewSectionReader(f, 0, 1024))
		if bytes.HasSuffix(b, []byte("\n")) {
			return b
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// release removes the lock file, then drops the lock.
func (l *runLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	rerr := os.Remove(l.path)
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(rerr, cerr)
}
