package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
// and curves.
type RunDir struct {
	path string
}

// CreateRunDir makes the run directory of a new run: cfg.Out/cfg.Name, or, without a
// name, the first free one of <source>-<sampler>-s<seed>, -2, -3, ... An existing named
// directory is never reused silently: with force, its checkpoints, metrics and curves
// are removed (anything else in it is left alone).
func CreateRunDir(cfg config.Config, force bool) (*RunDir, error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output folder: %w", err)
	}
	if cfg.Name != "" {
		dir := filepath.Join(cfg.Out, cfg.Name)
		if _, err := os.Stat(dir); err == nil {
			if !force {
				return nil, fmt.Errorf("run directory %s exists: use --resume %s to continue it, --force to replace it, or another --name", dir, dir)
			}
			for _, f := range []string{LastCheckpoint, BestCheckpoint, MetricsFile, CurvesFile} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
			}
			return OpenRunDir(dir)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		return &RunDir{path: dir}, nil
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
			return &RunDir{path: dir}, nil
		}
		if !os.IsExist(err) {
			return nil, fmt.Errorf("create run directory: %w", err)
		}
	}
	return nil, fmt.Errorf("no free run directory name under %s", cfg.Out)
}

// OpenRunDir takes over the existing run directory dir (to resume it, or replace its
// run). It deletes the temporary files of writes that a killed run left there: the
// directory has one owner, so none is live.
func OpenRunDir(dir string) (*RunDir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run directory %s is not a directory", dir)
	}
	d := &RunDir{path: dir}
	// Every file of a run is written through atomicfile.
	for _, f := range []string{LastCheckpoint, BestCheckpoint, MetricsFile, ConfigFile, CurvesFile} {
		if err := atomicfile.RemoveTemps(d.File(f)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Path is the directory's path.
func (d *RunDir) Path() string { return d.path }

// File is the path of the named file in the directory (one of the file name constants).
func (d *RunDir) File(name string) string { return filepath.Join(d.path, name) }
