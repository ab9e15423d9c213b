package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zoomtrain/internal/config"
)

// TestRelativeDataMovedAndResumed trains on a folder given by a relative path, then
// from another directory evaluates and resumes the run, before and after the folder
// moves; the end of training names the run's files and commands that work as printed.
func TestRelativeDataMovedAndResumed(t *testing.T) {
	work := t.TempDir()
	t.Chdir(work)
	cfg := filepath.Join(work, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(tinyTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd("data", "needle", "--out", "imgs", "--canvas", "48", "--digit", "14,18", "--train", "32", "--val", "16"); code != 0 {
		t.Fatalf("data needle: %s", stderr)
	}
	code, _, stderr := runCmd("train", "--config", cfg, "--data", "imgs", "--epochs", "1", "--name", "r")
	if code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	if !strings.Contains(stderr, "at 48 px (data.resolution auto: the largest side of the 32 training images)") {
		t.Errorf("first line does not state the auto resolution:\n%s", stderr)
	}
	saved, err := config.Load(filepath.Join("runs", "r", "config.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "imgs"); saved.Data.Path != want || saved.Data.Resolution != 48 {
		t.Errorf("saved data.path %q resolution %d, want %q and 48", saved.Data.Path, saved.Data.Resolution, want)
	}
	// The commands the run suggests, run as printed (from the run's parent folder).
	_, next, ok := strings.Cut(stderr, "next:\n")
	if !strings.Contains(stderr, "wrote runs/r/: config.yaml, metrics.jsonl, best.ckpt, last.ckpt, curves.png") || !ok {
		t.Fatalf("the end of train lists no files or no next commands:\n%s", stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(next), "\n") {
		words, err := splitWords(l)
		if err != nil || len(words) < 2 || words[0] != "zoomtrain" {
			t.Fatalf("suggested line %q is not a zoomtrain command (%v)", l, err)
		}
		if code, _, stderr := runCmd(words[1:]...); code != 0 {
			t.Errorf("suggested %q: %s", l, stderr)
		}
	}

	other := filepath.Join(work, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(other)
	ckpt := filepath.Join("..", "runs", "r", "best.ckpt")
	if code, _, stderr := runCmd("eval", "--checkpoint", ckpt); code != 0 {
		t.Fatalf("eval from another directory: %s", stderr)
	}
	if err := os.Rename(filepath.Join(work, "imgs"), filepath.Join(work, "moved")); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd("eval", "--checkpoint", ckpt); code != 1 || !strings.Contains(stderr, "give its new place with --data") {
		t.Errorf("eval of a moved folder: code %d, %q: want a hint to give --data", code, stderr)
	}
	if code, _, stderr := runCmd("eval", "--checkpoint", ckpt, "--data", "../moved"); code != 0 {
		t.Errorf("eval --data at the new place: %s", stderr)
	}
	t.Setenv("ZOOMTRAIN_TRAIN_LR", "0.5")
	code, _, stderr = runCmd("train", "--resume", "../runs/r", "--data", "../moved", "--epochs", "2")
	if code != 0 {
		t.Fatalf("train --resume --data: %s", stderr)
	}
	if !strings.Contains(stderr, "resume: ignoring ZOOMTRAIN_TRAIN_LR: a resumed run keeps the config saved in its checkpoint") {
		t.Errorf("resume does not say it ignores ZOOMTRAIN_TRAIN_LR:\n%s", stderr)
	}
	resumed, err := config.Load(filepath.Join(work, "runs", "r", "config.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "moved"); resumed.Data.Path != want || resumed.Train.Epochs != 2 {
		t.Errorf("resumed config: data.path %q epochs %d, want %q and 2", resumed.Data.Path, resumed.Train.Epochs, want)
	}
	code, _, stderr = runCmd("train", "--resume", "../runs/r")
	if code != 0 || !strings.Contains(stderr, "nothing to do") || !strings.Contains(stderr, "resume: ignoring ZOOMTRAIN_TRAIN_LR") {
		t.Errorf("resuming a finished run: code %d, want the ignored variable and that there is nothing to do:\n%s", code, stderr)
	}
	if code, _, stderr := runCmd("train", "--resume", "../runs/r", "--data", "../moved", "--seed", "3"); code != 2 || !strings.Contains(stderr, "only --epochs and --data may change") {
		t.Errorf("--seed with --resume: code %d, %q", code, stderr)
	}
}

func TestWarpRefusesNonPNGOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.jpg")
	code, _, stderr := runCmd("warp", "--image", warpVectorsDir+"/square/image.png", "--saliency", warpVectorsDir+"/square/saliency.npy", "--size", "64x64", "--out", out)
	if code != 2 || !strings.Contains(stderr, "must end in .png") {
		t.Errorf("code %d, %q: want a usage error about the extension", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written", out)
	}
}

func TestFlagCompletion(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "warp", "--padding-mode", ""}, []string{"replicate", "reflect"}},
		{[]string{"__complete", "train", "--sampler", ""}, []string{"saliency", "uniform"}},
	}
	for _, tc := range cases {
		code, stdout, stderr := runCmd(tc.args...)
		if code != 0 {
			t.Fatalf("%v: code %d, %s", tc.args, code, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w+"\n") {
				t.Errorf("%v: completions %q lack %q", tc.args, stdout, w)
			}
		}
	}
}

// labelled is a data set of labels only, for spreadClasses.
type labelled []int

func (l labelled) Len() int                                { return len(l) }
func (l labelled) Classes() []string                       { return nil }
func (l labelled) Resolution() int                         { return 1 }
func (l labelled) Label(i int) int                         { return l[i] }
func (l labelled) Image(i, epoch int, dst []float32) error { return nil }

func TestSpreadClasses(t *testing.T) {
	cases := []struct {
		labels []int
		n      int
		want   string
	}{
		{[]int{0, 0, 0, 0, 1, 1, 2}, 4, "[0 4 6 1]"},
		{[]int{2, 0, 2, 0}, 3, "[1 0 3]"},
		{[]int{0, 0}, 5, "[0 1]"},
		{[]int{1, 1, 0}, 1, "[2]"},
	}
	for _, tc := range cases {
		if got := fmt.Sprint(spreadClasses(labelled(tc.labels), tc.n)); got != tc.want {
			t.Errorf("labels %v, n %d: got %s, want %s", tc.labels, tc.n, got, tc.want)
		}
	}
}

func TestVisualizeForce(t *testing.T) {
	r := runs(t)
	out := filepath.Join(t.TempDir(), "viz")
	ckpt := filepath.Join(r["saliency"], "best.ckpt")
	if code, _, stderr := runCmd("visualize", "--checkpoint", ckpt, "--out", out, "-n", "3"); code != 0 {
		t.Fatal(stderr)
	}
	notes := filepath.Join(out, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd("visualize", "--checkpoint", ckpt, "--out", out, "-n", "2"); code != 1 || !strings.Contains(stderr, "--force to redraw it") {
		t.Errorf("second visualize without --force: code %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd("visualize", "--checkpoint", ckpt, "--out", out, "-n", "2", "--force"); code != 0 {
		t.Fatal(stderr)
	}
	for name, want := range map[string]bool{"001.png": true, "002.png": false, "002-grid.npy": false, "index.png": true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(out, name)); (err == nil) != want {
			t.Errorf("after --force with -n 2: %s present %v, want %v", name, err == nil, want)
		}
	}
}
