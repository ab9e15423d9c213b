package graph

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// TestFrozenGradients: with Options.Frozen the frozen parameters have no gradient
// and their layers build no weight-gradient ops (input gradients stay, since the
// saliency network below the task network still learns through them), while the
// loss and every other parameter's gradient are those of the graph without
// freezing, bit for bit, in float64.
func TestFrozenGradients(t *testing.T) {
	official := tinySpec(SamplerSaliency, TaskResNet18)
	official.Resolution, official.TaskInput, official.SaliencyInput, official.Grid, official.Padding = 40, 32, 32, 5, 4
	official.SaliencyNet, official.SaliencyWidth, official.TaskWidth = SaliencyResNet18Layer3, 2, 2
	official.Normalize = NormalizeImageNet
	for _, tc := range []struct {
		name   string
		spec   Spec
		freeze []string
		// dropped is how many gradient ops of each kind freezing removes.
		dropped map[string]int
	}{
		{"official-resnet18", official, []string{"task.conv1.", "task.layer1.", "task.fc.", "saliency.layer2.0.bn1."},
			map[string]int{"conv2d.dw": 5, "BatchNorm2DGradGamma": 5, "BatchNorm2DGradBeta": 5, "linear.dw": 1, "channelsum": 1, "conv2d.dx": 0, "BatchNorm2DGradX": 0, "linear.dx": 0}},
		{"saliency-resnet", tinySpec(SamplerSaliency, TaskResNet), []string{"task.stem.", "saliency.conv2.b"},
			map[string]int{"conv2d.dw": 1, "BatchNorm2DGradGamma": 1, "BatchNorm2DGradBeta": 1, "channelsum": 1, "conv2d.dx": 0}},
		// The uniform sampler's first convolution reads data: frozen, it gets no
		// gradient op at all.
		{"uniform-reference", tinySpec(SamplerUniform, TaskReference), []string{"task.conv1."},
			map[string]int{"conv2d.dw": 1, "channelsum": 1, "conv2d.dx": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frozen := func(name string) bool {
				return slices.ContainsFunc(tc.freeze, func(pre string) bool { return strings.HasPrefix(name, pre) })
			}
			all, allOps := frozenStep(t, tc.spec, nil)
			some, someOps := frozenStep(t, tc.spec, frozen)
			for kind, n := range tc.dropped {
				if got := allOps[kind] - someOps[kind]; got != n {
					t.Errorf("%s ops: %d without freezing, %d with: %d fewer, want %d", kind, allOps[kind], someOps[kind], got, n)
				}
			}
			nFrozen := 0
			for name, g := range all {
				switch fg, ok := some[name]; {
				case frozen(name):
					nFrozen++
					if ok {
						t.Errorf("frozen %s has a gradient", name)
					}
				case !ok:
					t.Errorf("%s has no gradient", name)
				case !slices.Equal(fg, g):
					t.Errorf("%s: gradient differs with freezing", name)
				}
			}
			if nFrozen == 0 || len(some) != len(all)-nFrozen {
				t.Errorf("%d frozen parameters, %d values with freezing and %d without", nFrozen, len(some), len(all))
			}
		})
	}
}

// frozenStep builds s in float64 at batch 3 with Options.Frozen frozen, runs one
// training step on random inputs on opkit.NewMachine (as the trainer does), and
// returns the loss (as "loss") and each parameter's gradient that the graph has,
// and the number of ops of each kind.
func frozenStep(t *testing.T, s Spec, frozen func(string) bool) (map[string][]float64, map[string]int) {
	t.Helper()
	m, err := Build(s, Options{Batch: 3, Dtype: tensor.Float64, WithLoss: true, Seed: 7, Frozen: frozen})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	let := func(n *G.Node, v []float64) {
		if err := G.Let(n, tensor.New(tensor.WithShape(n.Shape()...), tensor.WithBacking(v))); err != nil {
			t.Fatal(err)
		}
	}
	random := func(n *G.Node) []float64 {
		v := make([]float64, n.Shape().TotalSize())
		for i := range v {
			v[i] = rng.Float64()
		}
		return v
	}
	if m.Images != nil {
		let(m.Images, random(m.Images))
	}
	for _, n := range m.LowResInputs() {
		let(n, random(n))
	}
	onehot := make([]float64, 3*s.Classes)
	for i := range 3 {
		onehot[i*s.Classes+i%s.Classes] = 1
	}
	let(m.OneHot, onehot)
	if _, err := G.Grad(m.Loss, m.Learnables()...); err != nil {
		t.Fatal(err)
	}
	var loss G.Value
	G.Read(m.Loss, &loss)
	vm, _, err := opkit.NewMachine(m.G, new(opkit.Arena), G.BindDualValues(m.Learnables()...))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{"loss": {loss.Data().(float64)}}
	for _, p := range m.Params {
		if g, err := p.Node.Grad(); err == nil {
			out[p.Name] = slices.Clone(g.Data().([]float64))
		} else if !p.Frozen {
			t.Fatalf("%s: %v", p.Name, err)
		}
	}
	ops := map[string]int{}
	for _, n := range m.G.AllNodes() {
		if n.Op() != nil {
			name, _, _ := strings.Cut(n.Op().String(), "[")
			ops[name]++
		}
	}
	return out, ops
}
