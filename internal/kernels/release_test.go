package kernels

import (
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestReleaseScratch checks that ReleaseScratch lets go of a convolution's kept im2col
// matrices and that the runs after it compute the same output and weight gradient.
func TestReleaseScratch(t *testing.T) {
	c := convCases[1]
	g := c.geom(t)
	x, w, b := convInputs(c)
	gr := gorgonia.NewGraph()
	xn := gorgonia.NewTensor(gr, tensor.Float64, 4, gorgonia.WithShape(g.xShape()...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(g.xShape()...), tensor.WithBacking(x))))
	wn := gorgonia.NewTensor(gr, tensor.Float64, 4, gorgonia.WithShape(g.wShape()...), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(g.wShape()...), tensor.WithBacking(w))))
	bn := gorgonia.NewVector(gr, tensor.Float64, gorgonia.WithShape(c.cout), gorgonia.WithName("b"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(c.cout), tensor.WithBacking(b))))
	out, err := Conv2D(xn, wn, bn, c.stride, c.pad)
	if err != nil {
		t.Fatalf("Conv2D: %v", err)
	}
	cost, err := gorgonia.Sum(gorgonia.Must(gorgonia.Square(out)))
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gorgonia.Grad(cost, wn)
	if err != nil {
		t.Fatalf("grad: %v", err)
	}
	var op *convOp
	for _, n := range gr.AllNodes() {
		if o, ok := n.Op().(*convOp); ok {
			op = o
		}
	}
	if op == nil {
		t.Fatal("no convolution op in the graph")
	}
	m := gorgonia.NewTapeMachine(gr)
	defer m.Close()
	var outs, dws [][]float64
	for run := range 2 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if len(op.st.s64.cols.s) == 0 {
			t.Fatalf("run %d: the convolution kept no im2col matrices", run)
		}
		// The memory estimate's count of the scratch covers what the run holds.
		s := op.st.s64
		held := int64(cap(s.cols.s)+cap(s.work.s)+cap(s.partial.s)) * 8
		if est := ScratchBytes(gr, 8); est < held || est > 2*held {
			t.Errorf("run %d: ScratchBytes %d, the convolution holds %d bytes", run, est, held)
		}
		outs = append(outs, slices.Clone(valueFloats(t, out.Value())))
		dws = append(dws, slices.Clone(valueFloats(t, grads[0].Value())))
		ReleaseScratch(gr)
		if s := op.st.s64; s.cols.s != nil || s.work.s != nil || s.partial.s != nil || s.colsOf != 0 {
			t.Fatalf("run %d: scratch still held after ReleaseScratch", run)
		}
	}
	if !slices.Equal(outs[0], outs[1]) || !slices.Equal(dws[0], dws[1]) {
		t.Errorf("the run after ReleaseScratch differs from the one before")
	}
}
