package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestPartGradients builds each part in float64, fills its inputs, and checks a few
// entries of the gradient to every differentiated node against central differences.
func TestPartGradients(t *testing.T) {
	s := tinySpec(SamplerSaliency, TaskReference)
	for _, name := range s.PartNames() {
		t.Run(name, func(t *testing.T) {
			p, err := BuildPart(s, name, Options{Batch: 2, Dtype: tensor.Float64, Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			for _, in := range p.Inputs {
				v := make([]float64, in.Shape().TotalSize())
				for i := range v {
					v[i] = rng.Float64()
				}
				if in.Name() == "onehot" {
					clear(v)
					v[1], v[3+2] = 1, 1
				}
				if err := G.Let(in, tensor.New(tensor.WithShape(in.Shape()...), tensor.WithBacking(v))); err != nil {
					t.Fatal(err)
				}
			}
			if len(p.Wrt) == 0 || !p.Cost.IsScalar() {
				t.Fatalf("got %d differentiated nodes and cost shape %v, want some and a scalar", len(p.Wrt), p.Cost.Shape())
			}
			if _, err := G.Grad(p.Cost, p.Wrt...); err != nil {
				t.Fatal(err)
			}
			var cost G.Value
			G.Read(p.Cost, &cost)
			vm := G.NewTapeMachine(p.G, G.BindDualValues(p.Wrt...))
			defer vm.Close()
			costAt := func() float64 {
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				vm.Reset()
				return cost.Data().(float64)
			}
			costAt()
			grads := make([][]float64, len(p.Wrt))
			for i, n := range p.Wrt {
				g, err := n.Grad()
				if err != nil {
					t.Fatal(err)
				}
				grads[i] = append([]float64(nil), g.Data().([]float64)...)
			}
			const h = 1e-6
			for i, n := range p.Wrt {
				w := n.Value().Data().([]float64)
				for _, j := range []int{0, len(w) / 3, len(w) - 1} {
					orig := w[j]
					w[j] = orig + h
					up := costAt()
					w[j] = orig - h
					down := costAt()
					w[j] = orig
					num := (up - down) / (2 * h)
					if d := math.Abs(num - grads[i][j]); d > 1e-6*math.Max(1, math.Abs(num)) && d > 1e-8 {
						t.Errorf("%s[%d]: gradient %.10g, finite difference %.10g", n.Name(), j, grads[i][j], num)
					}
				}
			}
		})
	}
}

func TestPartNames(t *testing.T) {
	tests := []struct {
		sampler string
		want    []string
	}{
		{SamplerSaliency, []string{PartNameSaliencyNet, PartNameGenerator, PartNameSampler, PartNameTaskNet}},
		{SamplerUniform, []string{PartNameTaskNet}},
	}
	for _, tt := range tests {
		s := tinySpec(tt.sampler, TaskReference)
		got := s.PartNames()
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got parts %v, want %v", tt.sampler, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: got parts %v, want %v", tt.sampler, got, tt.want)
			}
		}
	}
	if _, err := BuildPart(tinySpec(SamplerUniform, TaskReference), PartNameSampler, Options{Batch: 1, Dtype: tensor.Float32}); err == nil {
		t.Error("the uniform model built a sampler part")
	}
	if _, err := BuildPart(tinySpec(SamplerSaliency, TaskReference), "decoder", Options{Batch: 1, Dtype: tensor.Float32}); err == nil {
		t.Error("an unknown part was built")
	}
}
