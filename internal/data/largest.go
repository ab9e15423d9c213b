package data

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"zoomtrain/internal/imageio"
	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/termsafe"
)

// SideSurvey is what LargestSide found.
type SideSurvey struct {
	Largest int // the largest width or height among the headers read
	Read    int // headers read
	Total   int // training images in the folder
}

// Sampled says whether only some of the images were looked at.
func (s SideSurvey) Sampled() bool { return s.Read < s.Total }

// LargestSide reads the headers (never the pixels) of the training images of the
// folder at root, ROOT/train if it has one and ROOT otherwise (less ROOT/val), and
// returns the largest width or height. With more than maxHeaders images it reads an
// evenly spaced sample of maxHeaders of them, in sorted path order, so the answer is
// the same on every run. Unreadable files are left to the data set's own checks.
func LargestSide(root string, maxHeaders int) (SideSurvey, error) {
	if err := requireDir(root); err != nil {
		return SideSurvey{}, err
	}
	dir := filepath.Join(root, "train")
	if !isDir(dir) {
		dir = root
	}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if dir == root && p == filepath.Join(root, "val") {
				return filepath.SkipDir
			}
			return nil
		}
		if isImageName(d.Name()) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return SideSurvey{}, fmt.Errorf("image sizes (data.resolution auto): %w", err)
	}
	sort.Strings(paths)
	s := SideSurvey{Total: len(paths)}
	step := 1.0
	if maxHeaders > 0 && len(paths) > maxHeaders {
		step = float64(len(paths)) / float64(maxHeaders)
	}
	for f := 0.0; int(f) < len(paths); f += step {
		w, h, ok := headerSize(paths[int(f)])
		s.Read++
		if ok {
			s.Largest = max(s.Largest, w, h)
		}
	}
	if s.Largest == 0 {
		return s, fmt.Errorf("image sizes (data.resolution auto): no readable image header under %s", termsafe.Quote(dir))
	}
	return s, nil
}

func headerSize(path string) (w, h int, ok bool) {
	f, err := inputfile.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	c, err := imageio.DecodeConfig(f, imageio.MaxPixels)
	if err != nil {
		return 0, 0, false
	}
	return c.Width, c.Height, true
}
