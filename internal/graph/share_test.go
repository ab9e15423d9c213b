package graph

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// TestSharedOutputsMatchPlain: training steps (the loss, the logits and every weight's
// gradient) and, between them, an evaluation by a second graph of the same weights
// give the same values bit for bit whether the graphs' outputs share one arena of
// memory (as the trainer runs them) or each op keeps its own.
func TestSharedOutputsMatchPlain(t *testing.T) {
	official := tinySpec(SamplerSaliency, TaskResNet18)
	official.Resolution, official.TaskInput, official.SaliencyInput, official.Grid, official.Padding = 40, 32, 32, 5, 4
	official.SaliencyNet, official.SaliencyWidth, official.TaskWidth = SaliencyResNet18Layer3, 2, 2
	official.Normalize, official.GridHalfPixel, official.ResolutionDrop = NormalizeImageNet, true, true
	blurred := tinySpec(SamplerSaliency, TaskResNet)
	blurred.BlurRadius = 2
	for name, s := range map[string]Spec{
		"saliency-resnet-blur": blurred,
		"uniform-reference":    tinySpec(SamplerUniform, TaskReference),
		"official-resnet18":    official,
	} {
		t.Run(name, func(t *testing.T) {
			want, _ := runSteps(t, s, false)
			got, sum := runSteps(t, s, true)
			if sum.Outputs == 0 || sum.Bytes >= sum.Apart {
				t.Errorf("sharing %+v: no memory saved", sum)
			}
			if len(got) != len(want) {
				t.Fatalf("%d values shared, %d plain", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("value %d: %g shared, %g plain", i, got[i], want[i])
				}
			}
		})
	}
}

// runSteps builds s at batch 3 with an evaluation graph at batch 2 sharing its
// weights, binds random inputs, and runs three training steps with an evaluation
// after each, returning every loss, logit and gradient and every evaluation logit.
// With shared, both graphs run on opkit.NewMachine in one arena.
func runSteps(t *testing.T, s Spec, shared bool) ([]float32, opkit.Sharing) {
	t.Helper()
	m, err := Build(s, Options{Batch: 3, Dtype: tensor.Float32, WithLoss: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	em, err := Build(s, Options{Batch: 2, Dtype: tensor.Float32, Seed: 3, Share: m})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	let := func(n *G.Node) {
		v := make([]float32, n.Shape().TotalSize())
		for i := range v {
			v[i] = rng.Float32()
		}
		if err := G.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(v))); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []*Model{m, em} {
		if g.Images != nil {
			let(g.Images)
		}
		for _, n := range g.LowResInputs() {
			let(n)
		}
		if err := g.SetBlur(0.8 * float64(min(s.BlurRadius, 1))); err != nil {
			t.Fatal(err)
		}
		if g.Drop != nil {
			g.Drop.Size = 20
		}
	}
	onehot := make([]float32, 3*s.Classes)
	for i := range 3 {
		onehot[i*s.Classes+i%s.Classes] = 1
	}
	if err := G.Let(m.OneHot, tensor.New(tensor.WithShape(3, s.Classes), tensor.WithBacking(onehot))); err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(m.Loss, m.Learnables()...); err != nil {
		t.Fatal(err)
	}
	var loss, logits, evalLogits G.Value
	G.Read(m.Loss, &loss)
	G.Read(m.Logits, &logits)
	G.Read(em.Logits, &evalLogits)
	var (
		vm, evm G.VM
		sum     opkit.Sharing
	)
	if shared {
		arena := new(opkit.Arena)
		if evm, _, err = opkit.NewMachine(em.G, arena); err != nil {
			t.Fatal(err)
		}
		if vm, sum, err = opkit.NewMachine(m.G, arena, G.BindDualValues(m.Learnables()...)); err != nil {
			t.Fatal(err)
		}
	} else {
		evm = G.NewTapeMachine(em.G)
		vm = G.NewTapeMachine(m.G, G.BindDualValues(m.Learnables()...))
	}
	defer vm.Close()
	defer evm.Close()
	var out []float32
	for range 3 {
		m.SetTraining(true)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Reset()
		out = append(out, loss.Data().(float32))
		out = append(out, logits.Data().([]float32)...)
		for _, p := range m.Params {
			g, err := p.Node.Grad()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, g.Data().([]float32)...)
		}
		m.SetTraining(false)
		if err := evm.RunAll(); err != nil {
			t.Fatal(err)
		}
		evm.Reset()
		out = append(out, evalLogits.Data().([]float32)...)
	}
	return out, sum
}
