package config

import "fmt"

// data.resolution may be "auto" (the default): an image folder is then trained at the
// largest side of its training images, capped at MaxAutoResolution, so that the
// sampler sees the images at their own resolution instead of a fixed 128. The
// needle set follows its canvas as before. A config is resolved before training
// (ResolveAuto), and the resolved number is what a run's config.yaml and its
// checkpoints store, so evaluating or resuming it uses the same value.
const (
	ResolutionAuto     = 0      // Data.Resolution's value for "auto"
	ResolutionAutoName = "auto" // how it is written in YAML, the environment and flags
	resolutionKey      = "data.resolution"

	// MaxAutoResolution caps "auto": a batch of 32 decoded sources at 1024 x 1024 is
	// 400 MB of float32, at 2048 1.6 GB. Larger images are scaled down to it; set
	// data.resolution explicitly to go beyond.
	MaxAutoResolution = 1024
)

// IsAuto says whether data.resolution is still "auto".
func (c Config) IsAuto() bool { return c.Data.Resolution == ResolutionAuto }

// ResolveAuto replaces an "auto" data.resolution by largest (the largest side of the
// training images), capped at MaxAutoResolution, and validates the result. It
// returns the resolution and whether the cap applied.
func (c *Config) ResolveAuto(largest int) (res int, capped bool, err error) {
	if !c.IsAuto() {
		return c.Data.Resolution, false, nil
	}
	if largest < 1 {
		return 0, false, fmt.Errorf("data.resolution auto: no image size to go by")
	}
	res = min(largest, MaxAutoResolution)
	c.Data.Resolution = res
	if err := c.Validate(); err != nil {
		c.Data.Resolution = ResolutionAuto
		return 0, false, fmt.Errorf("data.resolution auto (%d px): %w", res, err)
	}
	return res, largest > MaxAutoResolution, nil
}
