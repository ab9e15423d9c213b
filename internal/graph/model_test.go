package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

func tinySpec(sampler, task string) Spec {
	return Spec{
		Classes: 3, Resolution: 24, Sampler: sampler, TaskInput: 8, SaliencyInput: 16,
		Grid: 7, FWHM: 5, Padding: 6, PaddingMode: "replicate", Temperature: 1,
		TaskNet: task, ResNetWidth: 4, ResNetBlocks: 1,
	}
}

func TestBuildShapes(t *testing.T) {
	for _, sampler := range []string{SamplerSaliency, SamplerUniform} {
		for _, task := range []string{TaskReference, TaskResNet} {
			for _, blur := range []int{0, 2} {
				s := tinySpec(sampler, task)
				s.BlurRadius = blur
				m, err := Build(s, Options{Batch: 3, Dtype: tensor.Float32, WithLoss: true})
				if err != nil {
					t.Fatalf("%s/%s/blur %d: %v", sampler, task, blur, err)
				}
				if got := m.Logits.Shape(); !got.Eq(tensor.Shape{3, 3}) {
					t.Errorf("%s/%s: logits shape %v, want (3, 3)", sampler, task, got)
				}
				if got := m.TaskIn.Shape(); !got.Eq(tensor.Shape{3, 3, 8, 8}) {
					t.Errorf("%s/%s: task input shape %v, want (3, 3, 8, 8)", sampler, task, got)
				}
				if sampler == SamplerSaliency {
					if got := m.Saliency.Shape(); !got.Eq(tensor.Shape{3, 7, 7}) {
						t.Errorf("saliency shape %v, want (3, 7, 7)", got)
					}
					if got := m.Grid.Shape(); !got.Eq(tensor.Shape{3, 8, 8, 2}) {
						t.Errorf("grid shape %v, want (3, 8, 8, 2)", got)
					}
				} else if m.Saliency != nil {
					t.Error("uniform model has a saliency node")
				}
				if !m.Loss.IsScalar() {
					t.Errorf("loss shape %v, want a scalar", m.Loss.Shape())
				}
				hasSal := false
				for _, p := range m.Params {
					hasSal = hasSal || p.Part == PartSaliency
				}
				if hasSal != (sampler == SamplerSaliency) {
					t.Errorf("%s: saliency parameters present = %v", sampler, hasSal)
				}
			}
		}
	}
}

// TestLowResInputs checks that the low-resolution copies of the sources are inputs of
// the sides the spec lists, and that the uniform model takes no full-resolution batch at all.
func TestLowResInputs(t *testing.T) {
	tests := []struct {
		sampler    string
		side       int
		wantImages bool
	}{
		{SamplerSaliency, 16, true},
		{SamplerUniform, 8, false},
	}
	for _, tt := range tests {
		s := tinySpec(tt.sampler, TaskReference)
		m, err := Build(s, Options{Batch: 2, Dtype: tensor.Float32, WithLoss: true})
		if err != nil {
			t.Fatalf("%s: %v", tt.sampler, err)
		}
		in, ins := s.Inputs(), m.LowResInputs()
		sides := in.Sides
		if in.Resolution != s.Resolution {
			t.Errorf("%s: inputs of %d px sources, the spec's are %d px", tt.sampler, in.Resolution, s.Resolution)
		}
		if len(sides) != 1 || sides[0] != tt.side || len(ins) != 1 || ins[0] == nil {
			t.Fatalf("%s: got sides %v and %d inputs, want [%d] and 1", tt.sampler, sides, len(ins), tt.side)
		}
		if got := ins[0].Shape(); !got.Eq(tensor.Shape{2, 3, tt.side, tt.side}) {
			t.Errorf("%s: resized input shape %v, want (2, 3, %d, %d)", tt.sampler, got, tt.side, tt.side)
		}
		if ins[0].Op() != nil {
			t.Errorf("%s: resized input is computed by %v, want an input node", tt.sampler, ins[0].Op())
		}
		if got := m.Images != nil; got != tt.wantImages {
			t.Errorf("%s: has a full-resolution input = %v, want %v", tt.sampler, got, tt.wantImages)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
	}{
		{"one class", func(s *Spec) { s.Classes = 1 }},
		{"task input above source", func(s *Spec) { s.TaskInput = 32 }},
		{"saliency input above source", func(s *Spec) { s.SaliencyInput = 32 }},
		{"unknown sampler", func(s *Spec) { s.Sampler = "zoom" }},
		{"unknown task net", func(s *Spec) { s.TaskNet = "vgg" }},
		{"zero temperature", func(s *Spec) { s.Temperature = 0 }},
		{"reflect too wide", func(s *Spec) { s.PaddingMode = "reflect"; s.Padding = 7 }},
	}
	for _, tt := range tests {
		s := tinySpec(SamplerSaliency, TaskReference)
		tt.edit(&s)
		if _, err := Build(s, Options{Batch: 2, Dtype: tensor.Float32, WithLoss: true}); err == nil {
			t.Errorf("%s: Build succeeded", tt.name)
		}
	}
}

// TestWholeModelGradient checks the gradient of the loss with respect to every
// parameter tensor (a few entries of each) against central finite differences, in
// float64, for the saliency model with blur and both task networks.
func TestWholeModelGradient(t *testing.T) {
	for _, task := range []string{TaskReference, TaskResNet} {
		t.Run(task, func(t *testing.T) {
			s := tinySpec(SamplerSaliency, task)
			s.BlurRadius = 2
			checkModelGradient(t, s, func(m *Model) error { return m.SetBlur(0.8) })
		})
	}
}

// checkModelGradient builds s in float64 with batch 2 and random inputs, runs setup,
// and compares the loss's gradient at three entries of every parameter tensor with
// central finite differences.
func checkModelGradient(t *testing.T, s Spec, setup func(*Model) error) {
	t.Helper()
	{
		{
			m, err := Build(s, Options{Batch: 2, Dtype: tensor.Float64, WithLoss: true, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			r, a := s.Resolution, s.SaliencyInput
			img := make([]float64, 2*3*r*r)
			for i := range img {
				img[i] = rng.Float64()
			}
			if err := G.Let(m.Images, tensor.New(tensor.WithShape(2, 3, r, r), tensor.WithBacking(img))); err != nil {
				t.Fatal(err)
			}
			low := make([]float64, 2*3*a*a)
			for i := range low {
				low[i] = rng.Float64()
			}
			if err := G.Let(m.LowRes, tensor.New(tensor.WithShape(2, 3, a, a), tensor.WithBacking(low))); err != nil {
				t.Fatal(err)
			}
			onehot := make([]float64, 2*s.Classes)
			onehot[1], onehot[s.Classes+s.Classes-1] = 1, 1
			if err := G.Let(m.OneHot, tensor.New(tensor.WithShape(2, s.Classes), tensor.WithBacking(onehot))); err != nil {
				t.Fatal(err)
			}
			if err := setup(m); err != nil {
				t.Fatal(err)
			}
			if _, err := G.Grad(m.Loss, m.Learnables()...); err != nil {
				t.Fatal(err)
			}
			var lossV G.Value
			G.Read(m.Loss, &lossV)
			// The machine the trainer runs: outputs share memory (opkit.ShareOutputs).
			vm, sum, err := opkit.NewMachine(m.G, nil, G.BindDualValues(m.Learnables()...))
			if err != nil {
				t.Fatal(err)
			}
			if sum.Outputs == 0 {
				t.Error("no output shares memory")
			}
			defer vm.Close()
			lossAt := func() float64 {
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				vm.Reset()
				return lossV.Data().(float64)
			}
			lossAt()
			grads := make([][]float64, len(m.Params))
			for i, p := range m.Params {
				g, err := p.Node.Grad()
				if err != nil {
					t.Fatal(err)
				}
				grads[i] = append([]float64(nil), g.Data().([]float64)...)
			}
			const h = 1e-6
			checked := 0
			for i, p := range m.Params {
				w := p.Node.Value().Data().([]float64)
				for _, j := range []int{0, len(w) / 2, len(w) - 1} {
					orig := w[j]
					w[j] = orig + h
					up := lossAt()
					w[j] = orig - h
					down := lossAt()
					w[j] = orig
					num := (up - down) / (2 * h)
					got := grads[i][j]
					if d := math.Abs(num - got); d > 1e-6*math.Max(1, math.Abs(num)) && d > 1e-8 {
						t.Errorf("%s[%d]: gradient %.10g, finite difference %.10g", p.Name, j, got, num)
					}
					checked++
				}
			}
			if checked < 3*len(m.Params) {
				t.Fatalf("checked %d entries", checked)
			}
		}
	}
}
