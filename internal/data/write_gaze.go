package data

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"zoomtrain/internal/atomicfile"
)

// GazeManifestFile is written beside train/ and val/ by WriteGazeFolder: the options and,
// for every canvas, where its eye went.
const GazeManifestFile = "gaze.json"

// WriteGazeFolder writes the needle-gaze set of o as a regression folder out (see
// OpenTargetFolders): 8-bit grayscale PNGs in out/train/images/ and out/val/images/, the
// targets.csv of each split and out/gaze.json, as WriteFolder writes the needle set: in
// a hidden sibling moved into place when complete, w.Force replacing train/, val/ and
// gaze.json only. The same options give the same files.
func WriteGazeFolder(ctx context.Context, out string, o GazeOptions, w WriteOptions) error {
	out = filepath.Clean(out)
	existing, err := checkWriteOut(out, w.Force, GazeManifestFile)
	if err != nil {
		return err
	}
	trainSet, valSet, err := NewGaze(o)
	if err != nil {
		return err
	}
	tmp, err := stagingDir(out)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful move only old files are left in it

	splits := []struct {
		name string
		set  *GazeSet
	}{{"train", trainSet}, {"val", valSet}}
	manifest := gazeManifest{Options: o, Targets: GazeTargetNames()}
	for _, sp := range splits {
		dir := filepath.Join(tmp, sp.name)
		if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
			return fmt.Errorf("create output folder: %w", err)
		}
		rows := make([]TargetRow, sp.set.Len())
		err := parallel(ctx, w, sp.set.Len(), func(i int) error {
			f, err := sp.set.TargetFile(i)
			if err != nil {
				return err
			}
			rows[i] = f.TargetRow
			return writeSyncedPNG(filepath.Join(dir, filepath.FromSlash(f.File)), f.Image)
		})
		if err != nil {
			return err
		}
		err = atomicfile.Write(filepath.Join(dir, TargetsFile), func(w io.Writer) error {
			return WriteTargetsCSV(w, sp.set.TargetNames(), rows)
		})
		if err != nil {
			return err
		}
		for i, row := range rows {
			e := sp.set.geometry(i, 0)
			b := e.box()
			manifest.Images = append(manifest.Images, gazeRecord{
				File: sp.name + "/" + row.File, Split: sp.name, Index: i,
				Centre: [2]float64{e.cx, e.cy}, Radius: e.r, Gaze: [2]float64{e.gx, e.gy},
				Box: [4]int{b.Min.X, b.Min.Y, b.Max.X, b.Max.Y},
			})
		}
	}
	if err := atomicfile.Write(filepath.Join(tmp, GazeManifestFile), manifest.write); err != nil {
		return err
	}
	return moveIntoPlace(tmp, out, existing, GazeManifestFile)
}

// gazeManifest is gaze.json.
type gazeManifest struct {
	Options GazeOptions  `json:"options"`
	Targets []string     `json:"targets"`
	Images  []gazeRecord `json:"images"`
}

// gazeRecord is one canvas's eye, in canvas pixels (GazePlacement).
type gazeRecord struct {
	File   string     `json:"file"` // relative to the output folder, slash-separated
	Split  string     `json:"split"`
	Index  int        `json:"index"`
	Centre [2]float64 `json:"centre"`
	Radius float64    `json:"radius"`
	Gaze   [2]float64 `json:"gaze"`
	Box    [4]int     `json:"box"` // x0, y0, x1, y1 of the eye
}

// write encodes the manifest with one image per line, as needle.json is.
func (m gazeManifest) write(w io.Writer) error {
	return writeManifest(w, GazeManifestFile, struct {
		Options GazeOptions `json:"options"`
		Targets []string    `json:"targets"`
	}{m.Options, m.Targets}, m.Images)
}
