package train

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/config"
	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/metrics"
)

// Suffixes of the files a resume sets aside instead of overwriting them.
const (
	EditedSuffix  = ".edited"  // config.yaml changed by hand since the checkpoint
	DamagedSuffix = ".damaged" // metrics.jsonl that could not be read whole
)

// SetAsideEditedConfig compares the run's config.yaml with the config the checkpoint
// carries (cfgYAML, resolved). When the file says something else (it was edited), it
// is renamed to config.yaml.edited, since the resumed run uses the checkpoint's config
// and rewrites config.yaml; the note says so. No file, or the same config: no note.
func SetAsideEditedConfig(d *RunDir, cfgYAML []byte) (note string, err error) {
	path := d.File(ConfigFile)
	b, err := inputfile.ReadFile(path, config.MaxFileBytes)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err == nil {
		if c, perr := config.Parse(b); perr == nil {
			if y, yerr := c.YAML(); yerr == nil && bytes.Equal(y, cfgYAML) {
				return "", nil
			}
		}
	}
	aside := path + EditedSuffix
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("set the edited config aside: %w", err)
	}
	return fmt.Sprintf("%s differs from the config in the checkpoint: the checkpoint's config is used (only --epochs may change on resume); the edited file is kept as %s", path, aside), nil
}

// ReconcileMetrics checks the run's metrics.jsonl against checkpoint c before a resume
// from it. A file that is missing, emptied, cut short or unreadable loses records the
// checkpoint still carries: it is rebuilt from them (an unreadable file is first kept
// as metrics.jsonl.damaged). Records past the checkpoint (its epoch's last.ckpt was
// never completed) are left for the run to redo. Each finding is one note.
func ReconcileMetrics(d *RunDir, c *checkpoint.Checkpoint) (notes []string, err error) {
	p, err := CheckpointProgress(c)
	if err != nil {
		return nil, err
	}
	hist, err := CheckpointHistory(c)
	if err != nil {
		return nil, err
	}
	path := d.File(MetricsFile)
	recs, rerr := metrics.Read(path)
	have, later := 0, 0
	for _, r := range recs {
		switch {
		case r.Epoch > p.Epoch:
			later++
		default:
			have++
		}
	}
	if later > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d record(s) past epoch %d, where the checkpoint was taken, are redone", path, later, p.Epoch))
	}
	var problem string
	switch {
	case errors.Is(rerr, os.ErrNotExist):
		if p.Epoch == 0 {
			return notes, nil
		}
		problem = "is missing"
	case rerr != nil:
		problem = fmt.Sprintf("cannot be read (%v)", rerr)
	case have < p.Epoch:
		problem = fmt.Sprintf("holds %d of the %d epochs before the checkpoint", have, p.Epoch)
	default:
		return notes, nil
	}
	if len(hist) == 0 {
		return append(notes, fmt.Sprintf("%s %s, and the checkpoint (of an earlier version) carries no history: the curves will lack epochs", path, problem)), nil
	}
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		if err := os.Rename(path, path+DamagedSuffix); err != nil {
			return notes, fmt.Errorf("set the damaged metrics aside: %w", err)
		}
		problem += "; it is kept as " + path + DamagedSuffix
	}
	var buf bytes.Buffer
	for _, r := range hist {
		j, err := r.MarshalJSON()
		if err != nil {
			return notes, err
		}
		buf.Write(j)
		buf.WriteByte('\n')
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return notes, fmt.Errorf("rebuild metrics: %w", err)
	}
	return append(notes, fmt.Sprintf("%s %s: rebuilt its %d record(s) from the checkpoint", path, problem, len(hist))), nil
}

// SeedBest gives a run directory made for a resume from the checkpoint c (read from
// the file src) its best.ckpt when c is the best of its run so far (taken at the end
// of the epoch with the best validation top-1, or a regression run's lowest validation
// MAE): otherwise the new directory would
// have no best.ckpt until an epoch beat it. It reports whether it wrote one.
func SeedBest(d *RunDir, c *checkpoint.Checkpoint, src string) (bool, error) {
	p, err := CheckpointProgress(c)
	if err != nil || p.Batch != 0 {
		return false, err
	}
	hist, err := CheckpointHistory(c)
	if err != nil || len(hist) == 0 {
		return false, err
	}
	last := hist[len(hist)-1]
	best, err := strconv.ParseFloat(c.Extra[extraBest], 64)
	score := last.ValTop1
	if last.Regression != nil {
		score = last.Regression.ValMAE // a regression run's best is its lowest val MAE
	}
	if err != nil || last.Epoch != p.Epoch || score != best {
		return false, nil
	}
	b, err := inputfile.ReadFile(src, checkpoint.MaxFileBytes)
	if err != nil {
		return false, err
	}
	if err := atomicfile.WriteBytes(d.File(BestCheckpoint), b); err != nil {
		return false, fmt.Errorf("write best checkpoint: %w", err)
	}
	return true, nil
}
