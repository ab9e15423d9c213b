package kernels

import "gorgonia.org/gorgonia"

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
