// Package atomicfile writes files so that a reader sees either the old content or the
// complete new one, never a half-written file, even if the process is killed mid-write.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Write creates or replaces path with what fill writes: it writes a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the directory. On any error
// the temporary file is removed and path is untouched.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, describe(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		// fill's writes reach the file through bw: a full disk shows up here too.
		return describe(err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, describe(err))
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, describe(err))
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, describe(err))
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return SyncDir(dir)
}

// WriteBytes is Write for content already in memory.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, describe(err))
		}
		return nil
	})
}

// SyncDir syncs a directory, so that the renames and creations in it are on disk
// (where the file system can sync a directory at all).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ErrDiskFull is wrapped into errors caused by a full disk, so callers can tell.
var ErrDiskFull = errors.New("disk full")

func describe(err error) error {
	if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// RemoveTemps deletes the temporary files that interrupted Writes to path left behind:
// a process killed mid-write cannot remove its own. Call it only when no other process
// may be writing path.
func RemoveTemps(path string) error {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("remove temporary files: %w", err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove temporary file: %w", err)
			}
		}
	}
	return nil
}
