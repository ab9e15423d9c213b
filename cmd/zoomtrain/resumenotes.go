package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"zoomtrain/internal/config"
)

// ignoredEnvNote says, before a resumed run starts, which ZOOMTRAIN_* variables it
// does not read and why, so that none is silently ignored: a resumed run keeps the
// config saved in its checkpoint, which is what makes resuming exact.
func ignoredEnvNote(w io.Writer, env []string) {
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
