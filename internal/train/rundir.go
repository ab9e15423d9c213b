package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/config"
)

// File names inside a run directory.
const (
	LastCheckpoint = "last.ckpt"
	BestCheckpoint = "best.ckpt"
	MetricsFile    = "metrics.jsonl"
	ConfigFile     = "config.yaml"
	CurvesFile     = "curves.png"
)

// RunDir is the directory of one run, which it owns: its config, metrics, checkpoints
// and curves. A RunDir holds the directory's lock (LockFile) until Close: a second
// process that tries to create, replace or resume the same directory is refused.
type RunDir struct {
	path  string
	lock  *runLock
	fresh bool // made (or taken over from a start that never checkpointed) by this run
}

// runFiles are the files a run writes into its directory.
var runFiles = []string{LastCheckpoint, BestCheckpoint, MetricsFile, ConfigFile, CurvesFile}

// CreateRunDir makes the run directory of a new run: cfg.Out/cfg.Name, or, without a
// name, the first free one of <source>-<sampler>-s<seed>, -2, -3, ... An existing named
// directory is never reused silently: with force, its checkpoints, metrics and curves
// are removed (anything else in it is left alone). One that holds nothing but the
// config of a start that never wrote a checkpoint is taken over without force.
func CreateRunDir(cfg config.Config, force bool) (*RunDir, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	if cfg.Name != "" {
		dir := filepath.Join(cfg.Out, cfg.Name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return lockNew(dir)
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
		d, err := OpenRunDir(dir)
		if err != nil {
			return nil, err
		}
		if !force && !d.unfinishedStart() {
			d.Close()
			return nil, fmt.Errorf("run directory %s exists: use --resume %s to continue it, --force to replace it, or another --name", dir, dir)
		}
		for _, f := range []string{LastCheckpoint, BestCheckpoint, MetricsFile, CurvesFile} {
			if err := os.Remove(d.File(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				d.Close()
				return nil, err
			}
		}
		d.fresh = true
		return d, nil
	}
	base := fmt.Sprintf("%s-%s-s%d", cfg.Data.Source, cfg.Model.Sampler, cfg.Seed)
	for i := 0; i < 10000; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d", base, i+1)
		}
		dir := filepath.Join(cfg.Out, name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return lockNew(dir)
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
	}
	return nil, fmt.Errorf("no free run directory name under %s", cfg.Out)
}

// lockNew locks the directory this process has just made.
func lockNew(dir string) (*RunDir, error) {
	l, err := lockRunDir(dir, filepath.Join(dir, LockFile))
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &RunDir{path: dir, lock: l, fresh: true}, nil
}

// unfinishedStart reports whether the directory holds no checkpoint and nothing but
// the files a run writes: what a start killed before its first checkpoint leaves.
func (d *RunDir) unfinishedStart() bool {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return false
	}
	for _, e := range ents {
		switch e.Name() {
		case ConfigFile, MetricsFile, CurvesFile, LockFile:
		default:
			return false
		}
	}
	return true
}

// OpenRunDir takes over the existing run directory dir (to resume it, or replace its
// run): it takes the directory's lock, refusing with an error wrapping ErrInUse that
// names the holder when another process has it, then deletes the temporary files of
// writes that a killed run left there: the directory has one owner, so none is live.
func OpenRunDir(dir string) (*RunDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run directory %s is not a directory", dir)
	}
	l, err := lockRunDir(dir, filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	d := &RunDir{path: dir, lock: l}
	// Every file of a run is written through atomicfile.
	for _, f := range runFiles {
		if err := atomicfile.RemoveTemps(d.File(f)); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// Close releases the directory's lock (and removes the lock file).
func (d *RunDir) Close() error {
	if d == nil {
		return nil
	}
	err := d.lock.release()
	d.lock = nil
	return err
}

// Discard undoes a start that failed before its first checkpoint: a directory this
// run made (or took over) that holds no checkpoint loses the run's files, and is
// removed when nothing else is left in it. A directory with a checkpoint, or one that
// is resumed, is only closed. Discard closes d.
func (d *RunDir) Discard() error {
	if d == nil {
		return nil
	}
	if !d.fresh || d.hasCheckpoint() {
		return d.Close()
	}
	var errs []error
	for _, f := range []string{ConfigFile, MetricsFile, CurvesFile} {
		if err := os.Remove(d.File(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, d.Close())
	if err := os.Remove(d.path); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *RunDir) hasCheckpoint() bool {
	for _, f := range []string{LastCheckpoint, BestCheckpoint} {
		if _, err := os.Lstat(d.File(f)); err == nil {
			return true
		}
	}
	return false
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// Path is the directory's path.
func (d *RunDir) Path() string { return d.path }

// File is the path of the named file in the directory (one of the file name constants).
func (d *RunDir) File(name string) string { return filepath.Join(d.path, name) }
