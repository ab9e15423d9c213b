package pretrained

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/graph"
	"zoomtrain/internal/torchfile"
)

// The PyTorch fixtures are torchfile's (scripts/make-torch-fixtures.py writes them).
var fixtures = filepath.Join("..", "torchfile", "testdata")

func readFixture(t *testing.T, parts ...string) *torchfile.StateDict {
	t.Helper()
	sd, err := torchfile.ReadFile(filepath.Join(append([]string{fixtures}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func tensorOf(t *testing.T, sd *torchfile.StateDict, name string) *torchfile.Tensor {
	t.Helper()
	x, ok := sd.Tensor(name)
	if !ok {
		t.Fatalf("fixture has no tensor %q", name)
	}
	return x
}

// taskSpec is a uniform-sampler model whose task network takes the fixture's
// 64 x 64 inputs as they are.
func taskSpec(arch string, width, classes int) graph.Spec {
	return graph.Spec{
		Classes: classes, Resolution: 64, Sampler: graph.SamplerUniform, TaskInput: 64,
		SaliencyInput: 64, Grid: 7, FWHM: 5, Padding: 6, PaddingMode: "replicate", Temperature: 1,
		TaskNet: arch, TaskWidth: width,
	}
}

// logitsOf runs m in evaluation mode on x (its task input) and returns the logits.
func logitsOf(t *testing.T, m *graph.Model, x []float32) []float32 {
	t.Helper()
	if err := G.Let(m.Downsampled, tensor.New(tensor.WithShape(m.Downsampled.Shape()...), tensor.WithBacking(x))); err != nil {
		t.Fatal(err)
	}
	var out G.Value
	G.Read(m.Logits, &out)
	vm := G.NewTapeMachine(m.G)
	defer vm.Close()
	m.SetTraining(false)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.Data().([]float32)...)
}

func maxDiff(got, want []float32) float64 {
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	return worst
}

// TestTorchvisionParity: torchvision-layout ResNets at width 8 with calibrated
// batch-norm statistics, loaded by name, give PyTorch's float64 logits within 1e-4.
func TestTorchvisionParity(t *testing.T) {
	for _, arch := range []string{graph.TaskResNet18, graph.TaskResNet50} {
		t.Run(arch, func(t *testing.T) {
			sd := readFixture(t, "resnet", arch+"_w8.pth")
			io := readFixture(t, "resnet", arch+"_w8_io.safetensors")
			in, want := tensorOf(t, io, "input"), tensorOf(t, io, "logits")
			m, err := graph.Build(taskSpec(arch, 8, want.Shape[1]), graph.Options{Batch: in.Shape[0], Dtype: tensor.Float32})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Load(m, sd, Into{Prefix: "task.", Classifier: "fc"})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Reinitialised != "" || rep.Tensors != len(m.Params)+2*len(m.Buffers) {
				t.Errorf("report %+v, want %d tensors and no re-initialisation", rep, len(m.Params)+2*len(m.Buffers))
			}
			got := logitsOf(t, m, in.Data)
			d := maxDiff(got, want.Data)
			t.Logf("max logit difference %.3g", d)
			if !(d < 1e-4) {
				t.Errorf("logits differ from PyTorch's by %.3g, want < 1e-4", d)
			}
		})
	}
}

// TestClassifierReinitialised: a file with another class count loads all but the
// classifier, which keeps its initialisation, and the report says so.
func TestClassifierReinitialised(t *testing.T) {
	sd := readFixture(t, "resnet", "resnet18_w8.pth")
	m, err := graph.Build(taskSpec(graph.TaskResNet18, 8, 3), graph.Options{Batch: 1, Dtype: tensor.Float32})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]float32{}
	for _, p := range m.Params {
		before[p.Name] = append([]float32(nil), p.Node.Value().Data().([]float32)...)
	}
	rep, err := Load(m, sd, Into{Prefix: "task.", Classifier: "fc"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "fc re-initialised: the file has 10 classes, the model 3"; rep.Reinitialised != want {
		t.Errorf("note %q, want %q", rep.Reinitialised, want)
	}
	for _, p := range m.Params {
		got := p.Node.Value().Data().([]float32)
		fc := strings.HasPrefix(p.Name, "task.fc.")
		if same := slices.Equal(got, before[p.Name]); same != fc {
			t.Errorf("%s: unchanged = %v, want %v", p.Name, same, fc)
		}
	}
	// Without Classifier the same file is refused.
	if _, err := Load(m, sd, Into{Prefix: "task."}); err == nil || !strings.Contains(err.Error(), "fc.weight is float32 [10 64], the model wants float [3 64]") {
		t.Errorf("without a classifier: err = %v", err)
	}
}

// TestLoadMismatch: every kind of difference is one line naming the tensors, and
// nothing is copied.
func TestLoadMismatch(t *testing.T) {
	sd := readFixture(t, "resnet", "resnet18_w8.pth")
	tests := []struct {
		name string
		spec graph.Spec
		into Into
		want string
	}{
		{"missing", taskSpec(graph.TaskResNet34, 8, 10), Into{Prefix: "task."}, "missing (layer1.2.conv1.weight"},
		{"misshapen", taskSpec(graph.TaskResNet18, 16, 10), Into{Prefix: "task."}, "misshapen (conv1.weight is float32 [8 3 7 7], the model wants float [16 3 7 7]"},
		{"bottleneck", taskSpec(graph.TaskResNet50, 8, 10), Into{Prefix: "task."}, "missing (layer1.0.conv3.weight"},
		{"nothing under prefix", taskSpec(graph.TaskResNet18, 8, 10), Into{Prefix: "saliency."}, `no tensors under "saliency."`},
	}
	sal := taskSpec(graph.TaskReference, 8, 10)
	sal.Sampler, sal.SaliencyNet, sal.SaliencyWidth = graph.SamplerSaliency, graph.SaliencyResNet18Layer3, 8
	tests = append(tests, struct {
		name string
		spec graph.Spec
		into Into
		want string
	}{"unexpected", sal, Into{Prefix: "saliency.", Skip: []string{"conv_last."}}, "unexpected (layer4.0.conv1.weight"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := graph.Build(tc.spec, graph.Options{Batch: 1, Dtype: tensor.Float32})
			if err != nil {
				t.Fatal(err)
			}
			before := append([]float32(nil), m.Params[0].Node.Value().Data().([]float32)...)
			_, err = Load(m, sd, tc.into)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
			if !slices.Equal(before, m.Params[0].Node.Value().Data().([]float32)) {
				t.Error("a failed load changed the model")
			}
		})
	}
	// Ignoring layer4 and fc, the saliency network loads from the same file.
	m, err := graph.Build(sal, graph.Options{Batch: 1, Dtype: tensor.Float32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(m, sd, Into{Prefix: "saliency.", Skip: []string{"conv_last."}, Ignore: []string{"layer4.", "fc."}}); err != nil {
		t.Errorf("saliency network from a ResNet-18: %v", err)
	}
}

// safetensorsOf writes sd's floating tensors, each name prefixed, as a safetensors
// file: an 8-byte little-endian header length, the JSON header, the float32 data.
func safetensorsOf(t *testing.T, sd *torchfile.StateDict, prefix string) []byte {
	t.Helper()
	header := map[string]any{}
	var body []byte
	for _, n := range sd.Names() {
		x, _ := sd.Tensor(n)
		if x.Data == nil {
			continue // num_batches_tracked
		}
		start := len(body)
		for _, v := range x.Data {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(v))
		}
		shape := x.Shape
		if shape == nil {
			shape = []int{}
		}
		header[prefix+n] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int{start, len(body)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), body...)
}

// TestSafetensorsDataParallel: the same weights as a safetensors file whose names
// carry torch.nn.DataParallel's "module." prefix load after StripDataParallel and
// give PyTorch's logits.
func TestSafetensorsDataParallel(t *testing.T) {
	sd := readFixture(t, "resnet", "resnet18_w8.pth")
	st, err := torchfile.Parse(safetensorsOf(t, sd, "module."))
	if err != nil {
		t.Fatal(err)
	}
	if got := StripDataParallel(st).Names()[0]; strings.HasPrefix(got, "module.") {
		t.Fatalf("first name after stripping: %q", got)
	}
	if got := StripDataParallel(sd); got != sd {
		t.Error("a state_dict without the prefix was changed")
	}
	io := readFixture(t, "resnet", "resnet18_w8_io.safetensors")
	in, want := tensorOf(t, io, "input"), tensorOf(t, io, "logits")
	m, err := graph.Build(taskSpec(graph.TaskResNet18, 8, want.Shape[1]), graph.Options{Batch: in.Shape[0], Dtype: tensor.Float32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(m, StripDataParallel(st), Into{Prefix: "task.", Classifier: "fc"}); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logitsOf(t, m, in.Data), want.Data); !(d < 1e-4) {
		t.Errorf("logits differ from PyTorch's by %.3g", d)
	}
}
