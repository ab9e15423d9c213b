package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"zoomtrain/internal/config"
)

// resumeNotes tells, before a resumed run starts, what the resumed run does not take
// from the command line or the environment and why, so that nothing is silently
// ignored: the ZOOMTRAIN_* variables (a resumed run keeps the config saved in its
// checkpoint, which is what makes resuming exact), and a run that has already done
// all its epochs.
func resumeNotes(w io.Writer, env []string, dir string, cfg config.Config, doneEpochs int, epochsGiven bool) {
	var ignored []string
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); ok && strings.HasPrefix(k, "ZOOMTRAIN_") && config.IsConfigEnv(k) {
			ignored = append(ignored, k)
		}
	}
	sort.Strings(ignored)
	if len(ignored) > 0 {
		fmt.Fprintf(w, "resume: ignoring %s: a resumed run keeps the config saved in its checkpoint (only --epochs and --data may change)\n", strings.Join(ignored, ", "))
	}
	if doneEpochs >= cfg.Train.Epochs {
		how := fmt.Sprintf("give a larger total to train further: zoomtrain train --resume %s --epochs %d", dir, cfg.Train.Epochs+1)
		if epochsGiven {
			how = fmt.Sprintf("--epochs %d is not more than that; give a larger total to train further", cfg.Train.Epochs)
		}
		fmt.Fprintf(w, "resume: %s has done its %d epochs already, nothing to train; %s\n", filepath.Clean(dir), cfg.Train.Epochs, how)
	}
}

// movedData points a resumed run at its image folder's new place; the images must be
// the same set (the checkpoint's classes are checked when the data opens).
func movedData(cfg *config.Config, dir string) error {
	if cfg.Data.Source != config.SourceFolder {
		return usageErrorf("--data with --resume: the run trains on the %s data, not an image folder", cfg.Data.Source)
	}
	cfg.Data.Path = dir
	return cfg.AbsDataPath()
}
