package infer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/graph"
)

// EvalMemoryBytes is the memory an evaluation batch may take: the values of its
// forward graph (sources, activations, outputs), the loader's copies of the sources
// on top. With the reference networks on 128 px sources (0.9 MB an image) it allows
// the default 100 images; with configs/folder-512.yaml (a residual task network on
// 512 px sources, about 20 MB an image) 4. A larger batch gains little speed there.
const EvalMemoryBytes = 96 << 20

// BatchForMemory returns the largest batch, at most want, whose forward graph of spec
// holds no more than budget bytes of values, and at least 1. It sizes the graph by
// building it for one image.
func BatchForMemory(spec graph.Spec, want int, budget int64) (int, error) {
	if want < 1 {
		return 0, fmt.Errorf("evaluation batch %d is below 1", want)
	}
	m, err := graph.Build(spec, graph.Options{Batch: 1, Dtype: tensor.Float32})
	if err != nil {
		return 0, fmt.Errorf("size the evaluation graph: %w", err)
	}
	params := map[*G.Node]bool{}
	for _, p := range m.Params {
		params[p.Node] = true // the same for any batch, and shared with the trainer's
	}
	var per int64
	for _, n := range m.G.AllNodes() {
		if params[n] || n.IsScalar() || n.Shape() == nil {
			continue
		}
		per += int64(n.Shape().TotalSize()) * int64(n.Dtype().Size())
	}
	if per <= 0 {
		return want, nil
	}
	return int(max(1, min(int64(want), budget/per))), nil
}
