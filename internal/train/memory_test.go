package train

import (
	"testing"

	"zoomtrain/internal/config"
	"zoomtrain/internal/infer"
)

// Only the grid sampler reads the sources, in place from the loader's batch, so what
// the graph computes per example, which the forward factor multiplies, must not grow
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
	// The loader's batches are counted by Training: at 2048 the training loader's
	// two batches of 32 float sources (one in the step, one prefetched) are 3.2 GB.
	cfg := config.Default()
	cfg.Data.Resolution, cfg.Data.CacheMB, cfg.Train.BatchSize = 2048, 0, 32
	mm, err := NewMemoryModel(cfg, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, min := mm.Training(cfg, 32), int64(trainPrefetch(cfg)+1)*32*3*2048*2048*4; got < min {
		t.Errorf("training estimate %d MB at 2048, want at least the loader's %d MB", got>>20, min>>20)
	}
}

// The trainer evaluates in batches whose values fit infer.EvalMemoryBytes, not
// always train.eval_batch_size; the estimate counts the batch it will run. Counting
// 100 for configs/folder-512.yaml put it at 9.2 GB against a measured peak of 1.1 GB.
func TestMemoryModelEvaluationBatchAsRun(t *testing.T) {
	cfg := config.Default()
	cfg.Data.Resolution, cfg.Model.TaskInput, cfg.Model.SaliencyInput, cfg.Model.TaskNet = 512, 64, 64, "resnet"
	mm, err := NewMemoryModel(cfg, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, err := infer.BatchForMemory(specOf(cfg, 4, 0), cfg.Train.EvalBatchSize, infer.EvalMemoryBytes)
	if err != nil {
		t.Fatal(err)
	}
	if mm.EvalBatch != want || want >= cfg.Train.EvalBatchSize {
		t.Fatalf("evaluation batch %d, want the trainer's %d (below train.eval_batch_size %d)", mm.EvalBatch, want, cfg.Train.EvalBatchSize)
	}
	asConfigured := mm
	asConfigured.EvalBatch = cfg.Train.EvalBatchSize
	got, over := mm.Training(cfg, 120), asConfigured.Training(cfg, 120)
	t.Logf("estimate %d MB (evaluation batch %d); %d MB counting %d", got>>20, mm.EvalBatch, over>>20, cfg.Train.EvalBatchSize)
	if got >= over {
		t.Errorf("estimate %d MB at evaluation batch %d, not below %d MB at %d", got>>20, mm.EvalBatch, over>>20, cfg.Train.EvalBatchSize)
	}
}
