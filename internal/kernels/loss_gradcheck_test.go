package kernels

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// fdInput is one float64 input of a graph under a finite-difference check.
type fdInput struct {
	name  string
	shape []int
	data  []float64
	wrt   bool // differentiate with respect to it (otherwise it is data)
}

// fdBuild makes the op's output node from the input nodes, in fdInput order.
type fdBuild func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error)

// fdCheck compares the gradients a TapeMachine computes for a scalar cost
// <out, w> (w fixed random weights; the output itself if it is a scalar)
// against central differences of the same machine's forward value. It fails
// the test when the norm-wise relative error of any input's gradient, or the
// error of any element relative to that gradient's largest element, exceeds
// tol, or when a gradient is all zero (a check that cannot fail is no check).
func fdCheck(t *testing.T, inputs []fdInput, build fdBuild, tol float64) {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(inputs))
	var wrt []*gorgonia.Node
	for i, in := range inputs {
		v := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(append([]float64(nil), in.data...)))
		nodes[i] = gorgonia.NewTensor(g, tensor.Float64, len(in.shape), gorgonia.WithShape(in.shape...),
			gorgonia.WithValue(v), gorgonia.WithName(in.name))
		if in.wrt {
			wrt = append(wrt, nodes[i])
		}
	}
	out, err := build(g, nodes)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	cost := out
	if !out.IsScalar() {
		size := out.Shape().TotalSize()
		rng := rand.New(rand.NewPCG(7, 11))
		w := make([]float64, size)
		for i := range w {
			w[i] = rng.Float64()*2 - 1
		}
		wn := gorgonia.NewVector(g, tensor.Float64, gorgonia.WithShape(size), gorgonia.WithName("w"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(size), tensor.WithBacking(w))))
		// Flatten first: Gorgonia's Sum over several axes of a 4-D tensor is wrong.
		flat, err := gorgonia.Reshape(out, tensor.Shape{size})
		if err != nil {
			t.Fatalf("reshape: %v", err)
		}
		if cost, err = gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(flat, wn))); err != nil {
			t.Fatalf("sum: %v", err)
		}
	}
	var costVal gorgonia.Value
	gorgonia.Read(cost, &costVal)
	if _, err := gorgonia.Grad(cost, wrt...); err != nil {
		t.Fatalf("grad: %v", err)
	}
	m := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(wrt...))
	defer m.Close()

	run := func() float64 {
		t.Helper()
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatalf("run: %v", err)
		}
		c, err := lossScalar(costVal)
		if err != nil {
			t.Fatalf("cost: %v", err)
		}
		return c
	}
	run()
	analytic := make([][]float64, len(inputs))
	for i, in := range inputs {
		if !in.wrt {
			continue
		}
		gv, err := nodes[i].Grad()
		if err != nil {
			t.Fatalf("%s: no gradient: %v", in.name, err)
		}
		analytic[i] = append([]float64(nil), gv.Data().([]float64)...)
	}

	const h = 1e-5
	for i, in := range inputs {
		if !in.wrt {
			continue
		}
		let := func(x []float64) {
			t.Helper()
			v := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(append([]float64(nil), x...)))
			if err := gorgonia.Let(nodes[i], v); err != nil {
				t.Fatalf("let: %v", err)
			}
		}
		numeric := opkit.CentralDifferences(in.data, h, func(x []float64) float64 {
			let(x)
			return run()
		})
		let(in.data)
		fdCompare(t, in.name, analytic[i], numeric, tol)
	}
}

// fdCompare checks analytic against numeric gradients (see fdCheck).
func fdCompare(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: gradient has %d elements, want %d", name, len(got), len(want))
	}
	var diff2, got2, want2, scale float64
	for j := range got {
		d := got[j] - want[j]
		diff2 += d * d
		got2 += got[j] * got[j]
		want2 += want[j] * want[j]
		scale = max(scale, math.Abs(want[j]))
	}
	if scale == 0 {
		t.Fatalf("%s: numeric gradient is all zero", name)
	}
	if rel := math.Sqrt(diff2) / math.Sqrt(max(got2, want2)); !(rel < tol) {
		t.Errorf("%s: gradient relative error %.3g, want < %g", name, rel, tol)
	}
	for j := range got {
		if e := math.Abs(got[j]-want[j]) / scale; !(e < tol) {
			t.Errorf("%s: d/dx[%d] = %.12g, want %.12g (error %.3g of max)", name, j, got[j], want[j], e)
			return
		}
	}
}

// fdRandom returns n values uniform in [lo, hi) from a fixed seed.
func fdRandom(seed uint64, n int, lo, hi float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// gradsFor runs build on inputs of dtype dt and returns the output and the
// gradients of the cost <out, gout> with respect to the inputs marked wrt
// (nil for the others), all as float64, computed by a TapeMachine.
func gradsFor(t *testing.T, dt tensor.Dtype, inputs []fdInput, gout []float64, build fdBuild) ([]float64, [][]float64) {
	t.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(inputs))
	var wrt []*gorgonia.Node
	for i, in := range inputs {
		nodes[i] = gorgonia.NewTensor(g, dt, len(in.shape), gorgonia.WithShape(in.shape...),
			gorgonia.WithValue(fdTensor(dt, in.shape, in.data)), gorgonia.WithName(in.name))
		if in.wrt {
			wrt = append(wrt, nodes[i])
		}
	}
	out, err := build(g, nodes)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	size := out.Shape().TotalSize()
	if len(gout) != size {
		t.Fatalf("upstream gradient has %d elements, output %v", len(gout), out.Shape())
	}
	wn := gorgonia.NewVector(g, dt, gorgonia.WithShape(size), gorgonia.WithName("gout"),
		gorgonia.WithValue(fdTensor(dt, []int{size}, gout)))
	flat, err := gorgonia.Reshape(out, tensor.Shape{size})
	if err != nil {
		t.Fatalf("reshape: %v", err)
	}
	// Read before Grad: the backward pass may overwrite values in place.
	var outVal gorgonia.Value
	gorgonia.Read(flat, &outVal)
	cost, err := gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(flat, wn)))
	if err != nil {
		t.Fatalf("sum: %v", err)
	}
	if _, err := gorgonia.Grad(cost, wrt...); err != nil {
		t.Fatalf("grad: %v", err)
	}
	m := gorgonia.NewTapeMachine(g, gorgonia.BindDualValues(wrt...))
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
	y := valueFloats(t, outVal)
	grads := make([][]float64, len(inputs))
	for i, in := range inputs {
		if !in.wrt {
			continue
		}
		gv, err := nodes[i].Grad()
		if err != nil {
			t.Fatalf("%s: no gradient: %v", in.name, err)
		}
		grads[i] = valueFloats(t, gv)
	}
	return y, grads
}

// fdTensor makes a tensor of dtype dt holding data.
func fdTensor(dt tensor.Dtype, shape []int, data []float64) *tensor.Dense {
	if dt == tensor.Float32 {
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
}

// checkClose fails the test when got and want differ by more than
// tol*max(1,|want|) anywhere.
func checkClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*max(1, math.Abs(want[i]))) {
			t.Errorf("%s[%d] = %.12g, want %.12g (|diff| %.3g, tol %g)", what, i, got[i], want[i], d, tol)
			return
		}
	}
}

// benchGraph times one TapeMachine run of build on float32 inputs of the
// given shapes (random values), forward only or with the gradients of
// sum(out) to the inputs marked wrt.
func benchGraph(b *testing.B, inputs []fdInput, build fdBuild, backward bool) {
	b.Helper()
	g := gorgonia.NewGraph()
	nodes := make([]*gorgonia.Node, len(inputs))
	var wrt []*gorgonia.Node
	for i, in := range inputs {
		data := in.data
		if data == nil {
			data = fdRandom(uint64(i), tensor.Shape(in.shape).TotalSize(), 0, 1)
		}
		nodes[i] = gorgonia.NewTensor(g, tensor.Float32, len(in.shape), gorgonia.WithShape(in.shape...),
			gorgonia.WithValue(fdTensor(tensor.Float32, in.shape, data)), gorgonia.WithName(in.name))
		if in.wrt {
			wrt = append(wrt, nodes[i])
		}
	}
	out, err := build(g, nodes)
	if err != nil {
		b.Fatal(err)
	}
	var opts []gorgonia.VMOpt
	if backward {
		cost := out
		if !out.IsScalar() {
			flat, err := gorgonia.Reshape(out, tensor.Shape{out.Shape().TotalSize()})
			if err != nil {
				b.Fatal(err)
			}
			if cost, err = gorgonia.Sum(flat); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := gorgonia.Grad(cost, wrt...); err != nil {
			b.Fatal(err)
		}
		opts = append(opts, gorgonia.BindDualValues(wrt...))
	}
	m := gorgonia.NewTapeMachine(g, opts...)
	defer m.Close()
	for b.Loop() {
		m.Reset()
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCPU runs fn in a benchmark loop and also reports the process's CPU
// time per op, which on a shared machine is steadier than wall time.
func benchCPU(b *testing.B, fn func()) {
	b.Helper()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		fn()
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	if n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}
