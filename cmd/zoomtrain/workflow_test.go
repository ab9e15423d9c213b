package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/metrics"
)

const tinyTestConfig = `
data:
  workers: 1
  cache_mb: 16
  needle:
    canvas: 48
    digit_min: 14
    digit_max: 18
    clutter: 1
    train: 32
    val: 16
` + smallModelYAML + tinyTrainYAML

// tinyTrainYAML is the train section of the tiny test configs: two short epochs.
const tinyTrainYAML = `train:
  epochs: 2
  batch_size: 8
  eval_batch_size: 16
`

// trainedRuns trains one tiny saliency run and one tiny uniform run once for all the
// workflow tests.
var trainedRuns = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "zoomtrain-workflow-")
	if err != nil {
		return nil, err
	}
	workflowDir = dir
	cfg := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(tinyTestConfig), 0o644); err != nil {
		return nil, err
	}
	runs := map[string]string{}
	for _, sampler := range []string{"saliency", "uniform"} {
		code, _, stderr := runCmd("train", "--config", cfg, "--sampler", sampler, "--out", dir, "--name", sampler)
		if code != 0 {
			return nil, &workflowError{"train " + sampler + ": " + stderr}
		}
		runs[sampler] = filepath.Join(dir, sampler)
	}
	runs["config"] = cfg
	return runs, nil
})

// workflowDir is where trainedRuns put its runs, once it has run.
var workflowDir string

// removeTrainedRuns deletes the runs trainedRuns made, if any (called from TestMain).
func removeTrainedRuns() {
	if workflowDir != "" {
		os.RemoveAll(workflowDir)
	}
}

type workflowError struct{ msg string }

func (e *workflowError) Error() string { return e.msg }

func runs(t *testing.T) map[string]string {
	t.Helper()
	r, err := trainedRuns()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTrainWritesRunDirectory(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		dir := runs(t)[sampler]
		for _, f := range []string{"config.yaml", "metrics.jsonl", "last.ckpt", "best.ckpt", "curves.png"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v", sampler, err)
			}
		}
		recs, err := metrics.Read(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[1].Epoch != 2 || recs[1].Step != 8 {
			t.Fatalf("%s: metrics = %+v, want 2 epochs ending at step 8", sampler, recs)
		}
		c, err := checkpoint.Load(filepath.Join(dir, "last.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Classes) != 10 || c.Step != 8 || !strings.Contains(string(c.ConfigYAML), "sampler: "+sampler) {
			t.Errorf("%s: checkpoint classes %v step %d, config lacks the sampler", sampler, c.Classes, c.Step)
		}
	}
}

func TestTrainRefusesExistingRunDirectory(t *testing.T) {
	r := runs(t)
	dir := filepath.Dir(r["saliency"])
	code, _, stderr := runCmd("train", "--config", r["config"], "--out", dir, "--name", "saliency")
	if code != 1 || !strings.Contains(stderr, "exists") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("code %d, stderr %q: want one line saying the run directory exists", code, stderr)
	}
}

func TestEvalJSON(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		code, stdout, stderr := runCmd("eval", "--checkpoint", filepath.Join(runs(t)[sampler], "best.ckpt"), "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", sampler, code, stderr)
		}
		var got struct {
			N         int       `json:"n"`
			Top1      float64   `json:"top1"`
			Top5      float64   `json:"top5"`
			Loss      float64   `json:"loss"`
			Confusion [][]int   `json:"confusion"`
			PerClass  []float64 `json:"per_class_accuracy"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%s: stdout %q: %v", sampler, stdout, err)
		}
		total := 0
		for _, row := range got.Confusion {
			for _, v := range row {
				total += v
			}
		}
		if got.N != 16 || total != 16 || got.Top1 < 0 || got.Top1 > got.Top5 || got.Top5 > 1 || !(got.Loss > 0) || len(got.PerClass) != 10 {
			t.Errorf("%s: eval = %+v", sampler, got)
		}
	}
}

func TestEvalText(t *testing.T) {
	code, stdout, stderr := runCmd("eval", "--checkpoint", filepath.Join(runs(t)["saliency"], "last.ckpt"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"top-1", "confusion matrix", "class"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("eval output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestPredict(t *testing.T) {
	// Write a canvas with the needle generator and classify it.
	dir := t.TempDir()
	if code, _, stderr := runCmd("data", "needle", "--out", filepath.Join(dir, "n"), "--canvas", "48", "--digit", "14", "18", "--train", "1", "--val", "1", "--clutter", "1"); code != 0 {
		t.Fatalf("data needle: %s", stderr)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "n", "val", "*", "*.png"))
	if len(imgs) == 0 {
		t.Fatal("no image written")
	}
	code, stdout, stderr := runCmd("predict", "--checkpoint", filepath.Join(runs(t)["saliency"], "best.ckpt"), "--json", imgs[0])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p prediction
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	sum := 0.0
	for i, c := range p.Top {
		sum += c.Prob
		if i > 0 && c.Prob > p.Top[i-1].Prob {
			t.Errorf("top classes not sorted: %+v", p.Top)
		}
	}
	if len(p.Top) != 5 || sum > 1+1e-9 || sum <= 0 {
		t.Errorf("prediction = %+v", p)
	}
	code, _, stderr = runCmd("predict", "--checkpoint", filepath.Join(runs(t)["saliency"], "best.ckpt"), filepath.Join(dir, "missing.png"))
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "missing.png") {
		t.Errorf("missing image: code %d stderr %q", code, stderr)
	}
}

func TestVisualize(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		out := filepath.Join(t.TempDir(), "viz")
		code, _, stderr := runCmd("visualize", "--checkpoint", filepath.Join(runs(t)[sampler], "best.ckpt"), "--out", out, "-n", "3", "--tile", "64")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", sampler, code, stderr)
		}
		for _, f := range []string{"index.png", "000.png", "002.png"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %v", sampler, err)
			}
		}
		_, err := os.Stat(filepath.Join(out, "000-saliency.npy"))
		if (err == nil) != (sampler == "saliency") {
			t.Errorf("%s: saliency.npy present = %v", sampler, err == nil)
		}
		// A second visualisation into the same folder is refused, not mixed in.
		code, _, stderr = runCmd("visualize", "--checkpoint", filepath.Join(runs(t)[sampler], "best.ckpt"), "--out", out, "-n", "1")
		if code != 1 || !strings.Contains(stderr, "already holds") {
			t.Errorf("%s: rerun into the same folder: code %d stderr %q", sampler, code, stderr)
		}
	}
}

func TestVisualizeBadInput(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(runs(t)["saliency"], "best.ckpt")
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	damaged := filepath.Join(dir, "damaged.ckpt")
	b, _ := os.ReadFile(ckpt)
	b[len(b)/2] ^= 0xff
	os.WriteFile(damaged, b, 0o644)
	// A checkpoint of a future format: the version follows the 7-byte magic.
	future := filepath.Join(dir, "future.ckpt")
	b, _ = os.ReadFile(ckpt)
	binary.LittleEndian.PutUint32(b[7:11], 7)
	os.WriteFile(future, b, 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing checkpoint", []string{"--checkpoint", filepath.Join(dir, "none.ckpt"), "--out", filepath.Join(dir, "o1")}, "none.ckpt"},
		{"damaged checkpoint", []string{"--checkpoint", damaged, "--out", filepath.Join(dir, "o2")}, "damaged"},
		{"checkpoint from another version", []string{"--checkpoint", future, "--out", filepath.Join(dir, "o4")}, "version 7"},
		{"unreadable image", []string{"--checkpoint", ckpt, "--image", bad, "--out", filepath.Join(dir, "o3")}, "bad.png"},
		{"output not a folder", []string{"--checkpoint", ckpt, "--out", bad}, "bad.png"},
	}
	for _, tt := range tests {
		code, _, stderr := runCmd(append([]string{"visualize"}, tt.args...)...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: code %d, stderr %q (want one line naming %q)", tt.name, code, stderr, tt.want)
		}
		if tt.name != "output not a folder" {
			if _, err := os.Stat(filepath.Join(tt.args[len(tt.args)-1], "index.png")); err == nil {
				t.Errorf("%s: index.png written", tt.name)
			}
		}
	}
	// Bad flags are usage errors, found before the output folder is made.
	for _, flags := range [][]string{{"--cols", "0"}, {"--cols", "-3"}, {"--tile", "0"}, {"--tile", "100000"}, {"-n", "0"}} {
		out := filepath.Join(dir, "flags"+strings.Join(flags, ""))
		code, _, stderr := runCmd(append([]string{"visualize", "--checkpoint", ckpt, "--out", out}, flags...)...)
		if code != exitUsage || !strings.HasPrefix(stderr, "zoomtrain: ") || !strings.Contains(stderr, strings.TrimLeft(flags[0], "-")) {
			t.Errorf("visualize %v: code %d, stderr %q; want a usage error naming the flag", flags, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("visualize %v: output folder %s was made", flags, out)
		}
	}
}

func TestPlotCompare(t *testing.T) {
	r := runs(t)
	out := filepath.Join(t.TempDir(), "cmp.png")
	code, _, stderr := runCmd("plot", "--run", r["saliency"], "--run", r["uniform"], "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Size() < 1000 {
		t.Errorf("compare plot: %v", err)
	}
	code, _, stderr = runCmd("plot", "--run", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "metrics.jsonl") {
		t.Errorf("run without metrics: code %d stderr %q", code, stderr)
	}
}

// TestPrintConfig: the resolved config (file, then flags) and the error of a bad flag
// value, exactly.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte(tinyTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := transcript{dir: dir}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"file and flags", []string{"--config", cfg, "--epochs", "7", "--sampler", "uniform"}},
		{"unknown sampler", []string{"--config", cfg, "--sampler", "zoom"}},
	} {
		code, stdout, stderr := runCmd(append(append([]string{"train"}, tc.args...), "--print-config")...)
		tr.add(tc.name, code, stdout, stderr)
	}
	checkGolden(t, "print-config.golden", tr.String())
}

func TestTrainBadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notCkpt := write("notckpt.ckpt", "hello")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown key", []string{"--config", write("a.yaml", "train:\n  lrate: 0.1\n")}, 1, "train.lrate"},
		{"wrong type", []string{"--config", write("b.yaml", "train:\n  epochs: many\n")}, 1, "train.epochs"},
		{"negative size", []string{"--config", write("c.yaml", "train:\n  batch_size: -4\n")}, 1, "train.batch_size"},
		{"task input larger than the source", []string{"--config", write("d.yaml", "model:\n  task_input: 256\n")}, 1, "task_input"},
		{"missing data folder", []string{"--data", filepath.Join(dir, "nowhere"), "--out", dir}, 1, "nowhere"},
		{"missing config file", []string{"--config", filepath.Join(dir, "none.yaml")}, 1, "none.yaml"},
		{"resume with another config", []string{"--resume", notCkpt, "--config", write("e.yaml", "")}, 2, "--config"},
		{"resume from a file that is not a checkpoint", []string{"--resume", notCkpt}, 1, "notckpt.ckpt"},
		{"resume from a missing run", []string{"--resume", filepath.Join(dir, "norun")}, 1, "norun"},
	}
	tr := transcript{dir: dir}
	for _, tt := range tests {
		code, stdout, stderr := runCmd(append([]string{"train"}, tt.args...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != tt.code || !strings.Contains(lines[0], tt.want) || (tt.code == 1 && len(lines) != 1) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and one line naming %q", tt.name, code, stderr, tt.code, tt.want)
		}
		tr.add(tt.name, code, stdout, stderr)
	}
	// The messages themselves, exactly.
	checkGolden(t, "train-bad-config.golden", tr.String())
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("a failed run left the directory %s behind", e.Name())
		}
	}
}
