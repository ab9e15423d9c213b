package kernels

import (
	"gorgonia.org/gorgonia"

	"zoomtrain/internal/opkit"
)

// scratchReleaser is an op that keeps memory between runs (a convolution's im2col
// matrices) and can let go of it; its next run allocates it again.
type scratchReleaser interface {
	releaseScratch()
}

func (op *convOp) releaseScratch() {
	op.st.s32, op.st.s64 = convScratch[float32]{}, convScratch[float64]{}
}

// ReleaseScratch lets go of the memory the convolutions of g keep between runs, for a
// time the graph is not run (a training graph while the evaluation runs: 250 MB of
// im2col matrices in configs/folder-512.yaml). Results do not change; the next run
// builds the matrices again. g must not be running.
func ReleaseScratch(g *gorgonia.ExprGraph) {
	for _, n := range g.AllNodes() {
		if r, ok := n.Op().(scratchReleaser); ok {
			r.releaseScratch()
		}
	}
}

// ScratchBytes is the memory the convolutions of g keep between runs once g has run:
// the im2col matrices kept for the weight gradients (only where a convolution has
// one and they fit maxKeptCols), each worker's matrix of one item and the weight
// gradient's partial sums, for elements of elemSize bytes. With the graph's values it is what a memory estimate counts.
func ScratchBytes(g *gorgonia.ExprGraph, elemSize int) int64 {
	var sum int64
	for _, n := range g.AllNodes() {
		op, ok := n.Op().(*convOp)
		if !ok {
			continue
		}
		geom := op.st.geom
		per := int64(geom.colsPerItem()) * int64(elemSize)
		if op.st.keepCols(elemSize) {
			sum += int64(geom.n) * per
		}
		// Each worker's matrix of one item, and the weight gradient's partial sums, one
		// per chunk of items.
		sum += int64(opkit.Workers(geom.n))*per + int64(min(geom.n, weightGradChunks)*geom.cout*geom.rows())*int64(elemSize)
	}
	return sum
}
