// Package kernels holds the numeric kernels of the networks as Gorgonia ops:
// plain-Go loops (with GEMMs through internal/blas) for float32 and float64,
// each differentiable through SymDiff so a TapeMachine can train them.
//
// Ops may keep scratch and output buffers between runs to avoid allocating on
// every training step. A value an op returns is therefore overwritten by the
// next run of the same graph: copy what must outlive a step. One graph must not
// be run by two machines at the same time. The machinery the ops share with
// internal/sampler (bookkeeping, kept outputs, argument checks, parallel loops)
// is internal/opkit.
package kernels

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/blas"
	"zoomtrain/internal/opkit"
)

// scratch is a flat slice an op keeps between runs (im2col matrices, masks).
type scratch[T any] struct {
	s []T
}

// get returns a slice of length n, not cleared.
func (s *scratch[T]) get(n int) []T {
	if cap(s.s) < n {
		s.s = make([]T, n)
	}
	return s.s[:n]
}

// Float is the element types the kernels are written for: opkit's, under the
// name this package has always exported.
type Float = opkit.Float

// gemm is blas.Sgemm or blas.Dgemm by element type.
func gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) error {
	switch a := any(a).(type) {
	case []float32:
		return blas.Sgemm(tA, tB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		return blas.Dgemm(tA, tB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
	return fmt.Errorf("gemm: unsupported element type %T", a)
}

// firstErr collects the first error of parallel workers.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (f *firstErr) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// checkShape reports a tensor whose shape is not want.
func checkShape(what string, d *tensor.Dense, want []int) error {
	if !d.Shape().Eq(tensor.Shape(want)) {
		return fmt.Errorf("%s: shape %v, want %v", what, d.Shape(), tensor.Shape(want))
	}
	return nil
}

// optData returns the data of in[i] as []T, or nil when there is no such
// input (an optional bias).
func optData[T Float](in []*tensor.Dense, i int) []T {
	if i >= len(in) {
		return nil
	}
	return in[i].Data().([]T)
}

// Option configures an op as it is built.
type Option func(*options)

type options struct{ fixed []*gorgonia.Node }

// Fixed makes an op build no gradient for those of its inputs that are among ns
// (data, or frozen parameters) and report them not differentiable. Gorgonia runs
// every gradient node SymDiff creates, read or not, so a gradient nobody wants
// would otherwise still cost its time every step.
func Fixed(ns ...*gorgonia.Node) Option {
	return func(o *options) { o.fixed = append(o.fixed, ns...) }
}

// gradsOf is, per child, whether an op built with opts is differentiated in it.
func gradsOf(children gorgonia.Nodes, opts []Option) []bool {
	var o options
	for _, f := range opts {
		f(&o)
	}
	d := make([]bool, len(children))
	for i, c := range children {
		d[i] = !slices.Contains(o.fixed, c)
	}
	return d
}

// gradName is name, followed by the positions of the inputs without a gradient
// when there are any: ops that differ only in them must hash differently.
func gradName(name string, diff []bool) string {
	var b strings.Builder
	b.WriteString(name)
	for i, d := range diff {
		if !d {
			fmt.Fprintf(&b, ".fixed%d", i)
		}
	}
	return b.String()
}
