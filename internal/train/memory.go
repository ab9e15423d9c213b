package train

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/config"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/kernels"
	"zoomtrain/internal/opkit"
)

// MemoryModel is what a setting's memory is estimated from, measured on the model's
// graphs as built (nodes and shapes only: building allocates no values but the
// weights), so it follows the architecture without a second description of it.
type MemoryModel struct {
	PerExample int64 // float32 values of one example's forward pass: every node the graph computes
	Weights    int64 // the learnable parameters
	// Step is the training step's memory at train.batch_size: the values of its
	// forward and backward graph as they share memory (opkit.ShareOutputs, planned as
	// the trainer's machine plans them) and the convolutions' kept scratch.
	Step int64
	// EvalBatch is the evaluation batch the trainer runs: train.eval_batch_size, or
	// fewer where that many examples' values would not fit infer.EvalMemoryBytes.
	EvalBatch int
}

// gcHeadroom is how far the heap may grow past the live values before a collection:
// train runs with GOGC 50.
const gcHeadroom = 1.5

// forwardFactor covers what a forward graph's nodes do not show (the kernels' scratch,
// temporaries and the collector's headroom). Set by measurement before the outputs
// shared memory: the estimate came to 1.04-2.1 times the peak resident memory of
// evaluations and one-epoch needle runs, so it is an upper bound.
const forwardFactor = 3

// NewMemoryModel builds the model of cfg for classes classes (or, with targets > 0, a
// regressor of that many targets) at batch 1 and at train.batch_size with its
// gradients, and measures them.
func NewMemoryModel(cfg config.Config, classes, targets int) (MemoryModel, error) {
	spec := specOf(cfg, classes, targets)
	evalBatch, err := infer.BatchForMemory(spec, cfg.Train.EvalBatchSize, infer.EvalMemoryBytes)
	if err != nil {
		return MemoryModel{}, fmt.Errorf("estimate memory: %w", err)
	}
	m, err := graph.Build(spec, graph.Options{Batch: 1, Dtype: tensor.Float32, WithLoss: true, Seed: uint64(cfg.Seed)})
	if err != nil {
		return MemoryModel{}, fmt.Errorf("estimate memory: %w", err)
	}
	var computed, weights float64
	for _, n := range m.G.AllNodes() {
		// Inputs (the batch of sources and its low-resolution copies, the labels) are
		// read in place from the loader's batches, counted by the callers.
		if n.Op() != nil {
			computed += float64(max(n.Shape().TotalSize(), 1))
		}
	}
	for _, p := range m.Params {
		weights += float64(max(p.Node.Shape().TotalSize(), 1))
	}
	step, err := stepBytes(spec, cfg)
	if err != nil {
		return MemoryModel{}, fmt.Errorf("estimate memory: %w", err)
	}
	return MemoryModel{PerExample: int64(4 * computed), Weights: int64(4 * weights), Step: step, EvalBatch: evalBatch}, nil
}

// stepBytes plans the training graph's memory at train.batch_size as the trainer's
// machine does, without running it.
func stepBytes(spec graph.Spec, cfg config.Config) (int64, error) {
	m, _, err := trainingGraph(cfg, spec)
	if err != nil {
		return 0, err
	}
	_, regs, err := G.Compile(m.G)
	if err != nil {
		return 0, err
	}
	shared, err := opkit.ShareOutputs(m.G, regs, nil)
	if err != nil {
		return 0, err
	}
	var values float64
	for _, n := range m.G.AllNodes() {
		if n.Op() != nil {
			values += 4 * float64(max(n.Shape().TotalSize(), 1))
		}
	}
	values += float64(shared.Bytes - shared.Apart)
	return sat(values + float64(kernels.ScratchBytes(m.G, 4))), nil
}

// Forward estimates the bytes of evaluating batches of batch examples at resolution r:
// the graph's values and workspace, and the loader's batches in flight.
func (mm MemoryModel) Forward(batch, r, prefetch int) int64 {
	b := float64(batch)
	return sat(b*float64(mm.PerExample)*forwardFactor + float64(prefetch+2)*b*3*float64(r)*float64(r)*4 + float64(mm.Weights))
}

// Training estimates the peak bytes of a training run under cfg on trainN examples:
// the training step (values, gradients and scratch at train.batch_size, with the
// collector's headroom), the weights with their gradients and optimiser state, the
// evaluation graph at mm.EvalBatch, the loader's batches in flight and its
// decoded-image cache, and its per-epoch order of the examples.
func (mm MemoryModel) Training(cfg config.Config, trainN int) int64 {
	b := float64(cfg.Train.BatchSize)
	r := float64(cfg.Data.Resolution)
	step := gcHeadroom * float64(mm.Step)
	weights := 4 * float64(mm.Weights)
	evalBatch := mm.EvalBatch
	if evalBatch < 1 {
		evalBatch = cfg.Train.EvalBatchSize
	}
	eval := float64(mm.Forward(evalBatch, cfg.Data.Resolution, 2))
	// The cache holds decoded 8-bit sources, up to cache_mb.
	cache := min(float64(cfg.Data.CacheMB)*(1<<20), float64(trainN)*3*r*r)
	loader := float64(trainPrefetch(cfg)+1)*b*3*r*r*4 + cache + 16*float64(trainN)
	return sat(step + weights + eval + loader)
}

// bigBatchBytes is the size of a training batch's float32 images above which the
// loader prepares one batch ahead of the step instead of two.
const bigBatchBytes = 64 << 20

// trainPrefetch is the training loader's Prefetch: 2, or 1 for batches over
// bigBatchBytes (configs/folder-512.yaml's 32 images of 512 px take 96 MiB, and its
// step takes seconds, time enough to load the next batch).
func trainPrefetch(cfg config.Config) int {
	if int64(cfg.Train.BatchSize)*3*int64(cfg.Data.Resolution)*int64(cfg.Data.Resolution)*4 > bigBatchBytes {
		return 1
	}
	return 2
}

// sat converts to int64, saturating (a batch of 1e8 at resolution 1e5 is 1e21 bytes).
func sat(v float64) int64 {
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
