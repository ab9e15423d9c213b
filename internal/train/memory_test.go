package train

import (
	"testing"

	"zoomtrain/internal/config"
)

// Only the grid sampler reads the sources, in place from the loader's batch, so what
// the graph computes per example, which the workspace factor multiplies, must not grow
// with the source resolution. Counting the source input there put bench --resolution
// 2048 at an estimated 28 GB (it peaks at 1.8 GB).
func TestMemoryModelGraphValuesIgnoreSourceSize(t *testing.T) {
	per := map[int]int64{}
	for _, res := range []int{256, 2048} {
		cfg := config.Default()
		cfg.Data.Resolution = res
		mm, err := NewMemoryModel(cfg, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		per[res] = mm.PerExample
	}
	if per[2048] > per[256]+per[256]/10 {
		t.Errorf("graph values per example: %d bytes at 2048 against %d at 256, want within 10%%", per[2048], per[256])
	}
	// The loader's batches are counted by Training: at 2048 four batches of 32 float
	// sources are 6.4 GB.
	cfg := config.Default()
	cfg.Data.Resolution, cfg.Data.CacheMB, cfg.Train.BatchSize = 2048, 0, 32
	mm, err := NewMemoryModel(cfg, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, min := mm.Training(cfg, 32), int64(4*32*3*2048*2048*4); got < min {
		t.Errorf("training estimate %d MB at 2048, want at least the loader's %d MB", got>>20, min>>20)
	}
}
