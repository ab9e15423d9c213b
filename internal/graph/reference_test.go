package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// paperSpec is the default model: 128 px sources, the saliency network on a 64 x 64
// copy, a 31 x 31 grid and a 32 x 32 task input.
func paperSpec(sampler, task string) Spec {
	return Spec{
		Classes: 10, Resolution: 128, Sampler: sampler, TaskInput: 32, SaliencyInput: 64,
		Grid: 31, FWHM: 13, Padding: 30, PaddingMode: "replicate", Temperature: 0.25,
		TaskNet: task, ResNetWidth: 8, ResNetBlocks: 1,
	}
}

// TestFLOPs checks the count made from the built layers against the networks' layer
// lists written out: a layer added, dropped or moved (the saliency head runs before
// the pool, at 16 x 16) changes it.
func TestFLOPs(t *testing.T) {
	conv := func(cin, cout, k, side int) float64 { return 2 * float64(cin*cout*k*k*side*side) }
	saliency := conv(3, 16, 3, 32) + conv(16, 32, 3, 16) + conv(32, 32, 3, 16) + conv(32, 1, 1, 16) +
		8*31*31*(31+31) // grid generator
	reference := conv(3, 32, 3, 32) + conv(32, 64, 3, 16) + conv(64, 64, 3, 8) + 2*64*10
	w := 8
	resnet := conv(3, w, 3, 32) +
		2*conv(w, w, 3, 32) +
		conv(w, 2*w, 3, 16) + conv(2*w, 2*w, 3, 16) + conv(w, 2*w, 1, 16) +
		conv(2*w, 4*w, 3, 8) + conv(4*w, 4*w, 3, 8) + conv(2*w, 4*w, 1, 8) +
		float64(2*4*w*10)
	tests := []struct {
		sampler, task string
		want          float64
	}{
		{SamplerSaliency, TaskReference, saliency + reference},
		{SamplerUniform, TaskReference, reference},
		{SamplerSaliency, TaskResNet, saliency + resnet},
		{SamplerUniform, TaskResNet, resnet},
	}
	for _, tt := range tests {
		m, err := Build(paperSpec(tt.sampler, tt.task), Options{Batch: 2, Dtype: tensor.Float32, WithLoss: true})
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.sampler, tt.task, err)
		}
		fwd, step := m.FLOPs()
		if fwd != tt.want || step != 3*tt.want {
			t.Errorf("%s/%s: FLOPs %g forward, %g step; want %g and %g", tt.sampler, tt.task, fwd, step, tt.want, 3*tt.want)
		}
	}
}

// TestReferenceNetworks runs the default saliency model at its real sizes, float32,
// forward and backward: the saliency map is 31 x 31 and sums to one, and every
// learnable gets a finite, non-zero gradient of its own shape.
func TestReferenceNetworks(t *testing.T) {
	s := paperSpec(SamplerSaliency, TaskReference)
	m, err := Build(s, Options{Batch: 2, Dtype: tensor.Float32, WithLoss: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	random := func(n *G.Node) {
		v := make([]float32, n.Shape().TotalSize())
		for i := range v {
			v[i] = rng.Float32()
		}
		if err := G.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(v))); err != nil {
			t.Fatal(err)
		}
	}
	random(m.Images)
	random(m.LowRes)
	if err := G.Let(m.OneHot, tensor.New(tensor.WithShape(2, 10), tensor.WithBacking([]float32{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}))); err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(m.Loss, m.Learnables()...); err != nil {
		t.Fatal(err)
	}
	var sal G.Value
	G.Read(m.Saliency, &sal)
	vm := G.NewTapeMachine(m.G, G.BindDualValues(m.Learnables()...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if !sal.Shape().Eq(tensor.Shape{2, 31, 31}) {
		t.Fatalf("saliency shape %v, want (2, 31, 31)", sal.Shape())
	}
	sv := sal.Data().([]float32)
	for i := range 2 {
		var sum float64
		for _, v := range sv[i*31*31 : (i+1)*31*31] {
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("image %d: saliency sums to %v, want 1", i, sum)
		}
	}
	for _, p := range m.Params {
		g, err := p.Node.Grad()
		if err != nil {
			t.Fatalf("%s: no gradient: %v", p.Name, err)
		}
		if !g.Shape().Eq(p.Node.Shape()) {
			t.Errorf("%s: gradient shape %v, want %v", p.Name, g.Shape(), p.Node.Shape())
		}
		var norm float64
		for _, v := range g.Data().([]float32) {
			norm += float64(v) * float64(v)
		}
		if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
			t.Errorf("%s: gradient squared norm %v, want finite and non-zero", p.Name, norm)
		}
	}
}
