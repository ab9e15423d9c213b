package config

import (
	"fmt"
	"path/filepath"
)

// AbsDataPath makes data.path absolute, so that the config saved in a run's
// config.yaml and checkpoints names the same folder from any working directory
// (eval and resume run elsewhere). An empty path stays empty.
func (c *Config) AbsDataPath() error {
	if c.Data.Path == "" || filepath.IsAbs(c.Data.Path) {
		return nil
	}
	abs, err := filepath.Abs(c.Data.Path)
	if err != nil {
		return fmt.Errorf("data.path: %w", err)
	}
	c.Data.Path = abs
	return nil
}
