package infer

import (
	"fmt"

	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
)

// MaxAutoHeaders bounds the image headers read to resolve data.resolution auto; a
// larger folder is sampled evenly.
const MaxAutoHeaders = 5000

// ResolveResolution turns an "auto" data.resolution into a number for c's image
// folder (see config.ResolveAuto) and says how it was chosen, for the run's first log
// line; a config that is not auto is left alone and the note is empty.
func ResolveResolution(c *config.Config) (note string, err error) {
	if !c.IsAuto() || c.Data.Source != config.SourceFolder {
		return "", nil
	}
	s, err := data.LargestSide(c.Data.Path, MaxAutoHeaders)
	if err != nil {
		return "", err
	}
	res, capped, err := c.ResolveAuto(s.Largest)
	if err != nil {
		return "", err
	}
	seen := fmt.Sprintf("of the %d training images", s.Total)
	if s.Sampled() {
		seen = fmt.Sprintf("of a sample of %d of the %d training images", s.Read, s.Total)
	}
	if capped {
		return fmt.Sprintf("data.resolution auto: the cap %d; the largest side %s is %d px, set data.resolution to go beyond", res, seen, s.Largest), nil
	}
	return fmt.Sprintf("data.resolution auto: the largest side %s", seen), nil
}
