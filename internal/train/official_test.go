package train

import (
	"math"
	"path/filepath"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
	"zoomtrain/internal/kernels"
	"zoomtrain/internal/torchfile"
)

// officialFixture is torchfile's official-model fixture (scripts/make-torch-fixtures.py):
// a state_dict of the official Saliency_Sampler at width 8 with 5 classes, random
// weights, calibrated batch norm and a strongly peaked saliency map, and PyTorch's
// forward pass on three 96 x 96 images (saliency input 64, task input 48).
var officialFixture = filepath.Join("..", "torchfile", "testdata", "official")

func officialOptions() OfficialOptions {
	return OfficialOptions{
		TaskNet: "resnet18", Classes: []string{"a", "b", "c", "d", "e"}, Resolution: 96,
		TaskInput: 48, SaliencyInput: 64, Grid: 31, Padding: 30, FWHM: 13,
	}
}

func maxAbs32(got, want []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

// TestImportOfficialParity: the official model imported as zoomtrain import official
// does gives PyTorch's class probabilities within 1e-4, and its saliency maps, grids
// and warped images agree with PyTorch's along the way.
func TestImportOfficialParity(t *testing.T) {
	c, notes, err := ImportOfficial(filepath.Join(officialFixture, "official_w8.pth"), officialOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 {
		t.Errorf("notes %q, want one line (no re-initialisation)", notes)
	}
	path := filepath.Join(t.TempDir(), "official.ckpt")
	if err := checkpoint.Save(path, c); err != nil {
		t.Fatal(err)
	}
	io, err := torchfile.ReadFile(filepath.Join(officialFixture, "official_w8_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) *torchfile.Tensor {
		x, ok := io.Tensor(name)
		if !ok {
			t.Fatalf("fixture has no %s", name)
		}
		return x
	}
	img := get("image")
	n := img.Shape[0]
	ld, err := infer.LoadForward(path, n, true)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := data.NewBatch(img.Data, make([]int, n), ld.Model.Spec.Inputs())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ld.Run(batch)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  []float32
		tol  float64
	}{
		{"saliency", out.Saliency, 1e-5},
		{"grid", out.Grid, 1e-4},
		{"warped", normalizedImageNet(out.TaskIn, 48*48), 1e-3},
		{"probs", rowSoftmax(out.Logits, 5), 1e-4},
	}
	for _, ck := range checks {
		want := get(ck.name).Data
		if len(ck.got) != len(want) {
			t.Fatalf("%s: %d values, PyTorch's %d", ck.name, len(ck.got), len(want))
		}
		d, at := maxAbs32(ck.got, want)
		t.Logf("%s: max difference %.3g", ck.name, d)
		if !(d < ck.tol) {
			t.Errorf("%s[%d] = %v, PyTorch's %v: differs by %.3g, want < %g", ck.name, at, ck.got[at], want[at], d, ck.tol)
		}
	}
}

// normalizedImageNet is x (N x 3 maps of area values) normalised as the networks
// see it.
func normalizedImageNet(x []float32, area int) []float32 {
	mean, std := kernels.ImageNetStats()
	out := make([]float32, len(x))
	for i, v := range x {
		c := (i / area) % 3
		out[i] = float32((float64(v) - mean[c]) / std[c])
	}
	return out
}

// rowSoftmax is Softmax of each row of k logits.
func rowSoftmax(logits []float32, k int) []float32 {
	var out []float32
	for i := 0; i+k <= len(logits); i += k {
		for _, p := range infer.Softmax(logits[i : i+k]) {
			out = append(out, float32(p))
		}
	}
	return out
}

// TestImportOfficialOtherClasses: importing for another class count keeps all but the
// classifier and says so.
func TestImportOfficialOtherClasses(t *testing.T) {
	o := officialOptions()
	o.Classes = []string{"x", "y", "z"}
	c, notes, err := ImportOfficial(filepath.Join(officialFixture, "official_w8.pth"), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[1] != "task network fc re-initialised: the file has 5 classes, the model 3" {
		t.Errorf("notes %q", notes)
	}
	if len(c.Classes) != 3 {
		t.Errorf("checkpoint classes %q", c.Classes)
	}
}
