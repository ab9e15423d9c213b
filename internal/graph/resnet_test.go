package graph

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// torchvisionKeys reads testdata/<arch>.keys: the state_dict keys and shapes of
// torchvision 0.14's model of that name with 5 classes, one "key d0,d1,..." a line
// (scripts/make-torchvision-keys.py writes them).
func torchvisionKeys(t *testing.T, arch string) (names []string, shapes [][]int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", arch+".keys"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, dims, _ := strings.Cut(sc.Text(), " ")
		var shape []int
		for d := range strings.SplitSeq(dims, ",") {
			if d == "" {
				continue
			}
			n, err := strconv.Atoi(d)
			if err != nil {
				t.Fatalf("%s: %q: %v", arch, sc.Text(), err)
			}
			shape = append(shape, n)
		}
		names, shapes = append(names, key), append(shapes, shape)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names, shapes
}

// scaledShape is a torchvision shape at stem width w instead of 64: every channel
// count (a multiple of 64 in the first two dimensions) scales.
func scaledShape(shape []int, w int) []int {
	out := append([]int(nil), shape...)
	for i := 0; i < len(out) && i < 2; i++ {
		if out[i]%64 == 0 {
			out[i] = out[i] * w / 64
		}
	}
	return out
}

// modelKeys lists a built model's tensors as torchvision would name them under
// prefix: parameters, then each batch-norm layer's running statistics.
func modelKeys(m *Model, prefix string) map[string]string {
	keys := map[string]string{}
	for _, p := range m.Params {
		if k, ok := strings.CutPrefix(p.Name, prefix); ok {
			keys[k] = fmt.Sprint([]int(p.Node.Shape()))
		}
	}
	for _, b := range m.Buffers {
		if k, ok := strings.CutPrefix(b.Name, prefix); ok {
			c := fmt.Sprint([]int{len(b.BN.Mean)})
			keys[k+".running_mean"], keys[k+".running_var"], keys[k+".num_batches_tracked"] = c, c, "[]"
		}
	}
	return keys
}

// TestTorchvisionNames: the task networks have exactly torchvision's state_dict
// keys and shapes (at a reduced width), and the saliency network those of
// ResNet-18 up to layer3 plus conv_last.
func TestTorchvisionNames(t *testing.T) {
	const width = 8
	for _, arch := range []string{TaskResNet18, TaskResNet34, TaskResNet50, TaskResNet101} {
		t.Run(arch, func(t *testing.T) {
			s := tinySpec(SamplerUniform, arch)
			s.Classes, s.Resolution, s.TaskInput, s.TaskWidth = 5, 32, 32, width
			m, err := Build(s, Options{Batch: 1, Dtype: tensor.Float32})
			if err != nil {
				t.Fatal(err)
			}
			compareKeys(t, modelKeys(m, "task."), arch, width, func(string) bool { return true })
			if got := m.Logits.Shape(); !got.Eq(tensor.Shape{1, 5}) {
				t.Errorf("logits shape %v, want (1, 5)", got)
			}
		})
	}
	t.Run("saliency", func(t *testing.T) {
		s := tinySpec(SamplerSaliency, TaskReference)
		s.SaliencyNet, s.SaliencyWidth, s.Resolution, s.SaliencyInput = SaliencyResNet18Layer3, width, 64, 32
		m, err := Build(s, Options{Batch: 2, Dtype: tensor.Float32})
		if err != nil {
			t.Fatal(err)
		}
		keys := modelKeys(m, "saliency.")
		if got, want := keys["conv_last.weight"], fmt.Sprint([]int{1, 4 * width, 1, 1}); got != want {
			t.Errorf("conv_last.weight shape %s, want %s", got, want)
		}
		if keys["conv_last.bias"] != "[1]" {
			t.Errorf("conv_last.bias shape %q, want [1]", keys["conv_last.bias"])
		}
		delete(keys, "conv_last.weight")
		delete(keys, "conv_last.bias")
		compareKeys(t, keys, TaskResNet18, width, func(k string) bool {
			return !strings.HasPrefix(k, "layer4.") && !strings.HasPrefix(k, "fc.")
		})
		for _, p := range m.Params {
			want := PartSaliency
			if strings.HasPrefix(p.Name, "saliency.conv_last.") {
				want = PartSaliencyHead
			}
			if p.Part != want && strings.HasPrefix(p.Name, "saliency.") {
				t.Errorf("%s is in part %q, want %q", p.Name, p.Part, want)
			}
		}
		if got := m.Saliency.Shape(); !got.Eq(tensor.Shape{2, 7, 7}) {
			t.Errorf("saliency shape %v, want (2, 7, 7)", got)
		}
	})
}

func compareKeys(t *testing.T, got map[string]string, arch string, width int, keep func(string) bool) {
	t.Helper()
	names, shapes := torchvisionKeys(t, arch)
	want := map[string]bool{}
	for i, k := range names {
		if !keep(k) {
			continue
		}
		want[k] = true
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no tensor %s", arch, k)
			continue
		}
		ws := scaledShape(shapes[i], width)
		if ws == nil {
			ws = []int{}
		}
		if w := fmt.Sprint(ws); g != w {
			t.Errorf("%s: %s has shape %s, want %s", arch, k, g, w)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: tensor %s is not torchvision's", arch, k)
		}
	}
}

// TestOfficialModelGradient: the whole model with the official settings (the
// resnet18-layer3 saliency network and its bilinear resize to the grid, ImageNet
// normalisation, the half-pixel grid upsample, the resolution drop) and torchvision
// task networks, by finite differences in float64. Batch norm in training mode over
// the few values per channel a test this small has (batch 2, layer4 at 1 x 1) is
// ill-conditioned enough that finite differences fail on the Bottleneck network,
// which is checked with batch norm on running statistics instead.
func TestOfficialModelGradient(t *testing.T) {
	for _, tc := range []struct {
		task     string
		training bool
	}{{TaskResNet18, true}, {TaskResNet18, false}, {TaskResNet50, false}} {
		t.Run(fmt.Sprintf("%s/training=%v", tc.task, tc.training), func(t *testing.T) {
			if testing.Short() && tc.task == TaskResNet50 {
				t.Skip("5 s; run without -short")
			}
			s := tinySpec(SamplerSaliency, tc.task)
			s.Resolution, s.TaskInput, s.SaliencyInput, s.Grid, s.Padding = 40, 32, 32, 5, 4
			s.SaliencyNet, s.SaliencyWidth, s.TaskWidth = SaliencyResNet18Layer3, 2, 2
			s.Normalize, s.GridHalfPixel, s.ResolutionDrop = NormalizeImageNet, true, true
			checkModelGradient(t, s, func(m *Model) error {
				m.Drop.Size = 20
				if tc.training {
					return nil
				}
				rng := rand.New(rand.NewPCG(8, 9))
				for _, b := range m.Buffers {
					for i := range b.BN.Mean {
						b.BN.Mean[i], b.BN.Var[i] = 0.2*rng.Float64()-0.1, 0.5+rng.Float64()
					}
				}
				m.SetTraining(false)
				return nil
			})
		})
	}
}

// TestResNetFLOPs: the counted forward cost of the task networks at 224 x 224 is
// torchvision's published multiply-adds (1.81 G for ResNet-18, 3.66 G for ResNet-34,
// 4.09 G for ResNet-50, 7.80 G for ResNet-101) times two, within 1%.
func TestResNetFLOPs(t *testing.T) {
	for _, tc := range []struct {
		arch string
		macs float64
	}{{TaskResNet18, 1.814e9}, {TaskResNet34, 3.664e9}, {TaskResNet50, 4.089e9}, {TaskResNet101, 7.801e9}} {
		s := tinySpec(SamplerUniform, tc.arch)
		s.Classes, s.Resolution, s.TaskInput = 1000, 224, 224
		m, err := Build(s, Options{Batch: 1, Dtype: tensor.Float32})
		if err != nil {
			t.Fatal(err)
		}
		fwd, _ := m.FLOPs()
		if r := fwd / (2 * tc.macs); r < 0.99 || r > 1.01 {
			t.Errorf("%s: %.4g forward FLOPs, torchvision's %.4g (ratio %.3f)", tc.arch, fwd, 2*tc.macs, r)
		}
	}
}
