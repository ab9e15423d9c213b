package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The official-model and reader fixtures are torchfile's.
var torchFixtures = filepath.Join("..", "..", "internal", "torchfile", "testdata")

func officialArgs(weights, out string, extra ...string) []string {
	args := []string{"import", "official", "--weights", weights, "--task-net", "resnet18", "--classes", "a,b,c,d,e",
		"--resolution", "96", "--task-input", "48", "--saliency-input", "64", "--out", out}
	return append(args, extra...)
}

// TestImportOfficial: the official fixture imports; predict, eval and visualize run
// the checkpoint, and train --init fine-tunes it.
func TestImportOfficial(t *testing.T) {
	tmp := t.TempDir()
	ckpt := filepath.Join(tmp, "official.ckpt")
	code, stdout, stderr := runCmd(officialArgs(filepath.Join(torchFixtures, "official", "official_w8.pth"), ckpt)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "wrote " + ckpt + ": 5 classes, resnet18 task network, 96 x 96 sources\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if !strings.Contains(stderr, "task network of width 8, resnet18-layer3 saliency network of width 8") {
		t.Errorf("stderr %q does not report the widths", stderr)
	}
	img := writeFile(t, filepath.Join(tmp, "img.png"), pngBytes(t, 120, 100))
	code, stdout, stderr = runCmd("predict", "--checkpoint", ckpt, "--top", "2", img)
	if code != exitOK || !strings.Contains(stdout, "img.png") {
		t.Errorf("predict: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCmd("visualize", "--checkpoint", ckpt, "--image", img, "--out", filepath.Join(tmp, "viz"))
	if code != exitOK {
		t.Errorf("visualize: exit %d, stderr %q", code, stderr)
	}
	// train --init fine-tunes it on other classes: the model settings are the
	// checkpoint's, the classifier is re-initialised.
	root := imageFolder(t, filepath.Join(tmp, "data"), nil)
	// Its classes are a .. e: the folder's a and b are among them.
	code, stdout, stderr = runCmd("eval", "--checkpoint", ckpt, "--data", filepath.Join(root, "val"), "--json")
	if code != exitOK || !strings.Contains(stdout, `"top1"`) {
		t.Errorf("eval: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	cfg := writeFile(t, filepath.Join(tmp, "ft.yaml"), []byte("data:\n  workers: 1\ntrain:\n  epochs: 1\n  batch_size: 4\n  eval_batch_size: 2\n"))
	code, stdout, stderr = runCmd("train", "--config", cfg, "--data", root, "--init", ckpt, "--out", filepath.Join(tmp, "runs"), "--no-plot")
	if code != exitOK {
		t.Fatalf("train --init: exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"resnet18 task net", "weights from the --init checkpoint", "task.fc re-initialised: the checkpoint has 5 classes, the data 2"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("train --init: stderr does not say %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr = runCmd("train", "--resume", filepath.Join(tmp, "runs", "x"), "--init", ckpt); code != exitUsage || !strings.Contains(stderr, "--init cannot be combined with --resume") {
		t.Errorf("--init with --resume: exit %d, stderr %q", code, stderr)
	}
}

// TestImportOfficialBadInput: each bad input is one error line, a non-zero exit
// and no checkpoint.
func TestImportOfficialBadInput(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(torchFixtures, "official", "official_w8.pth")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	trunc := writeFile(t, filepath.Join(tmp, "trunc.pth"), raw[:len(raw)/2])
	text := writeFile(t, filepath.Join(tmp, "text.pth"), []byte("not a torch file at all\n"))
	reader := func(name string) string { return filepath.Join(torchFixtures, "reader", name) }
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown network", officialArgs(good, "X", "--task-net", "resnet152"), exitError, `unknown task network "resnet152"`},
		{"task network of another depth", officialArgs(good, "X", "--task-net", "resnet34"), exitError, "task network (hi_res.*): state_dict does not match the model: 80 missing (layer1.2.conv1.weight"},
		{"bottleneck task network", officialArgs(good, "X", "--task-net", "resnet50"), exitError, "missing (layer1.0.conv3.weight"},
		{"another fwhm", officialArgs(good, "X", "--fwhm", "11"), exitError, "filter.weight is not the Gaussian of fwhm 11"},
		{"another padding", officialArgs(good, "X", "--padding", "20"), exitError, "filter.weight has shape [1 1 61 61], want [1 1 41 41] for padding 20"},
		{"too small an input", officialArgs(good, "X", "--saliency-input", "8"), exitError, "model.saliency_input 8 is smaller than the resnet18-layer3's stride of 16"},
		{"truncated file", officialArgs(trunc, "X"), exitError, "trunc.pth"},
		{"not a torch file", officialArgs(text, "X"), exitError, "neither a torch.save file nor safetensors"},
		{"not a state_dict", officialArgs(reader("not_state_dict.pth"), "X"), exitError, "not a state_dict"},
		{"TorchScript archive", officialArgs(reader("torchscript.pt"), "X"), exitError, "TorchScript"},
		{"forbidden global", officialArgs(reader("forbidden_os_system.pth"), "X"), exitError, "refusing global"},
		{"a torchvision ResNet, not the official model", officialArgs(filepath.Join(torchFixtures, "resnet", "resnet18_w8.pth"), "X"), exitError, `tensor "conv1.weight" is not part of the official Saliency-Sampler model`},
		{"missing file", officialArgs(filepath.Join(tmp, "none.pth"), "X"), exitError, "no such file"},
		{"one class", officialArgs(good, "X", "--classes", "1"), exitUsage, "need at least 2 classes"},
		{"class named twice", officialArgs(good, "X", "--classes", "a,b,a"), exitUsage, `class "a" is named twice`},
		{"no --out", officialArgs(good, ""), exitUsage, "--out is required"},
		{"no --resolution", officialArgs(good, "X", "--resolution", "0"), exitUsage, "--resolution is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "model.ckpt")
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "X" {
					args[i] = out
				}
			}
			code, stdout, stderr := runCmd(args...)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			t.Logf("exit %d: %s", code, lines[len(lines)-1])
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
			if tc.code == exitError && (len(lines) != 1 || !strings.HasPrefix(lines[0], "zoomtrain: ")) {
				t.Errorf("want one error line; stderr %q", stderr)
			}
			if stdout != "" && tc.code != exitUsage {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a checkpoint was written (%v)", err)
			}
		})
	}
}

// TestTrainPretrainedWeights: model.task_weights and model.saliency_weights load a
// torchvision state_dict (the classifier re-initialised for the data's classes, said on
// stderr); a file that is not one, or does not fit, is one error line and leaves no
// run directory.
func TestTrainPretrainedWeights(t *testing.T) {
	root := imageFolder(t, filepath.Join(t.TempDir(), "data"), nil)
	r18 := filepath.Join(torchFixtures, "resnet", "resnet18_w8.pth")
	config := func(t *testing.T, weights string) string {
		return writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), []byte(`data:
  resolution: 64
  workers: 1
  normalize: imagenet
model:
  task_net: resnet18
  task_width: 8
  saliency_net: resnet18-layer3
  saliency_width: 8
  task_input: 32
  saliency_input: 32
  grid: 9
  padding: 8
  fwhm: 5
  task_weights: `+weights+`
  saliency_weights: `+r18+`
train:
  epochs: 1
  batch_size: 4
  eval_batch_size: 2
`))
	}
	t.Run("loads", func(t *testing.T) {
		out := t.TempDir()
		code, _, stderr := runCmd("train", "--config", config(t, r18), "--data", root, "--out", out, "--no-plot")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{"model.task_weights: 100 tensors from " + r18 + "; fc re-initialised: the file has 10 classes, the model 2",
			"model.saliency_weights: 75 tensors from " + r18} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
	})
	reader := func(name string) string { return filepath.Join(torchFixtures, "reader", name) }
	for _, tc := range []struct{ name, weights, want string }{
		{"not a state_dict", reader("not_state_dict.pth"), "not a state_dict"},
		{"TorchScript", reader("torchscript.pt"), "TorchScript"},
		{"forbidden global", reader("forbidden_os_system.pth"), "refusing global"},
		{"truncated", reader("truncated.pth"), "truncated.pth"},
		{"another network", filepath.Join(torchFixtures, "resnet", "resnet50_w8.pth"), "state_dict does not match the model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, _, stderr := runCmd("train", "--config", config(t, tc.weights), "--data", root, "--out", out, "--no-plot")
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			t.Logf("exit %d: %s", code, lines[len(lines)-1])
			if code != exitError || len(lines) != 1 || !strings.Contains(stderr, "model.task_weights") || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want one line naming model.task_weights and %q", code, stderr, tc.want)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("left %d entries in --out (%s)", len(ents), ents[0].Name())
			}
		})
	}
}
