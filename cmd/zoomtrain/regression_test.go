package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"zoomtrain/internal/data"
	"zoomtrain/internal/infer"
)

// tinyGazeData is the needle-gaze set of the regression command tests, as config keys
// and as the flags of `data needle-gaze` that write the same set.
const tinyGazeData = `
data:
  source: needle-gaze
  workers: 1
  cache_mb: 16
  augment:
    hflip: true
  gaze:
    canvas: 48
    eye_min: 4
    eye_max: 6
    clutter: 1
    train: 32
    val: 16
    seed: 3
`

var tinyGazeFlags = []string{"--canvas", "48", "--eye", "4,6", "--clutter", "1", "--train", "32", "--val", "16", "--seed", "3"}

const tinyGazeConfig = tinyGazeData + smallModelYAML + tinyTrainYAML + "  loss: smooth_l1\n"

// gazeRuns trains a tiny regression run of each sampler once for the tests below.
var gazeRuns = sync.OnceValues(func() (map[string]string, error) {
	dir, err := os.MkdirTemp("", "zoomtrain-gaze-")
	if err != nil {
		return nil, err
	}
	gazeDir = dir
	cfg := filepath.Join(dir, "gaze.yaml")
	if err := os.WriteFile(cfg, []byte(tinyGazeConfig), 0o644); err != nil {
		return nil, err
	}
	runs := map[string]string{"config": cfg}
	for _, sampler := range []string{"saliency", "uniform"} {
		code, stdout, stderr := runCmd("train", "--config", cfg, "--sampler", sampler, "--out", dir, "--name", sampler)
		if code != 0 || !strings.Contains(stdout, "best val MAE") {
			return nil, &workflowError{"train " + sampler + ": " + stdout + stderr}
		}
		runs[sampler] = filepath.Join(dir, sampler)
	}
	return runs, nil
})

// gazeDir is where gazeRuns put its runs (removed by TestMain).
var gazeDir string

func gazeRun(t *testing.T, name string) string {
	t.Helper()
	r, err := gazeRuns()
	if err != nil {
		t.Fatal(err)
	}
	return r[name]
}

// evalJSON is eval --json of a regressor, decoded.
type evalJSON struct {
	N       int                          `json:"n"`
	Loss    float64                      `json:"loss"`
	MAE     float64                      `json:"mae"`
	RMSE    float64                      `json:"rmse"`
	Targets map[string]infer.TargetError `json:"targets"`
}

func regressionEval(t *testing.T, args ...string) (evalJSON, map[string]json.RawMessage) {
	t.Helper()
	code, stdout, stderr := runCmd(append([]string{"eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
	}
	var got evalJSON
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if err := json.Unmarshal([]byte(stdout), &keys); err != nil {
		t.Fatal(err)
	}
	return got, keys
}

// TestRegressionEvalJSON: eval --json of a regressor has n, loss, mae, rmse and per
// target mae and rmse; mae is the mean of the targets' (each target has the same n),
// and the run's own validation set and the same set written by `data needle-gaze` give
// the same figures.
func TestRegressionEvalJSON(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		ckpt := filepath.Join(gazeRun(t, sampler), "best.ckpt")
		got, keys := regressionEval(t, "--checkpoint", ckpt)
		var names []string
		for k := range keys {
			names = append(names, k)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "checkpoint,loss,mae,n,rmse,skipped,targets" {
			t.Errorf("%s: keys %v", sampler, names)
		}
		gx, gy := got.Targets["gx"], got.Targets["gy"]
		if got.N != 16 || len(got.Targets) != 2 || !(got.Loss > 0) || !(got.MAE > 0) || got.RMSE < got.MAE ||
			math.Abs(got.MAE-(gx.MAE+gy.MAE)/2) > 1e-12 || math.Abs(got.RMSE-math.Sqrt((gx.RMSE*gx.RMSE+gy.RMSE*gy.RMSE)/2)) > 1e-12 {
			t.Errorf("%s: eval = %+v", sampler, got)
		}
		if sampler != "saliency" {
			continue
		}
		dir := filepath.Join(t.TempDir(), "g")
		if code, _, stderr := runCmd(append([]string{"data", "needle-gaze", "--out", dir}, tinyGazeFlags...)...); code != 0 {
			t.Fatalf("data needle-gaze: %s", stderr)
		}
		folder, _ := regressionEval(t, "--checkpoint", ckpt, "--data", dir)
		if folder.N != got.N || math.Abs(folder.MAE-got.MAE) > 1e-6 || math.Abs(folder.Loss-got.Loss) > 1e-6 {
			t.Errorf("eval of the written folder %+v, of the run's set %+v", folder, got)
		}
		code, stdout, stderr := runCmd("eval", "--checkpoint", ckpt)
		if code != 0 || !strings.Contains(stdout, "MAE") || !strings.Contains(stdout, "gx") || !strings.Contains(stdout, "smooth_l1") {
			t.Errorf("eval text: code %d stdout %q stderr %q", code, stdout, stderr)
		}
		// A classification folder is no set for a regressor.
		code, _, stderr = runCmd("eval", "--checkpoint", ckpt, "--data", t.TempDir())
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "targets.csv") {
			t.Errorf("eval of a folder without targets: code %d stderr %q", code, stderr)
		}
	}
}

// TestRegressionPredict: predict --json gives one object per image with its targets'
// values, those the model gives the image in eval's batches.
func TestRegressionPredict(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "g")
	if code, _, stderr := runCmd(append([]string{"data", "needle-gaze", "--out", dir}, tinyGazeFlags...)...); code != 0 {
		t.Fatalf("data needle-gaze: %s", stderr)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "val", "images", "*.png"))
	if len(imgs) != 16 {
		t.Fatalf("%d validation images written, want 16", len(imgs))
	}
	ckpt := filepath.Join(gazeRun(t, "saliency"), "best.ckpt")
	code, stdout, stderr := runCmd("predict", "--checkpoint", ckpt, "--json", imgs[0], imgs[1])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %q", len(lines), stdout)
	}
	for k, line := range lines {
		var keys map[string]json.RawMessage
		var p regressionPrediction
		if json.Unmarshal([]byte(line), &keys) != nil || json.Unmarshal([]byte(line), &p) != nil {
			t.Fatalf("line %q is not a prediction", line)
		}
		gx, okx := p.Values["gx"]
		gy, oky := p.Values["gy"]
		if len(keys) != 2 || p.Image != imgs[k] || len(p.Values) != 2 || !okx || !oky || math.IsNaN(gx) || math.IsNaN(gy) {
			t.Errorf("prediction %q", line)
		}
	}
	code, stdout, _ = runCmd("predict", "--checkpoint", ckpt, imgs[0])
	if code != 0 || !strings.Contains(stdout, "gx") || !strings.Contains(stdout, "gy") {
		t.Errorf("predict text: code %d stdout %q", code, stdout)
	}
}

// TestRegressionVisualize draws a regressor's panels; the captions under them carry the
// true and predicted targets.
func TestRegressionVisualize(t *testing.T) {
	for _, sampler := range []string{"saliency", "uniform"} {
		out := filepath.Join(t.TempDir(), "viz")
		code, stdout, stderr := runCmd("visualize", "--checkpoint", filepath.Join(gazeRun(t, sampler), "best.ckpt"), "--out", out, "-n", "2", "--tile", "64")
		if code != 0 || !strings.Contains(stdout, "2 panels") {
			t.Fatalf("%s: exit %d: %s%s", sampler, code, stdout, stderr)
		}
		for _, f := range []string{"index.png", "000.png", "001.png"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("%s: %v", sampler, err)
			}
		}
	}
}

func TestDescribe(t *testing.T) {
	std := &data.Standardiser{Names: []string{"gx", "gy"}, Mean: []float64{0.5, 0}, Std: []float64{2, 1}}
	reg := &infer.Loaded{Standardiser: std}
	cls := &infer.Loaded{Classes: []string{"cat", "dog"}}
	tests := []struct {
		name   string
		ld     *infer.Loaded
		ex     example
		logits []float32
		title  string
		wrong  bool
	}{
		{"regression with truth", reg, example{name: "a.png", targets: []float32{0.25, -0.5}}, []float32{0.5, -0.25},
			"a.png: true gx 0.25 gy -0.50, pred gx 1.50 gy -0.25", false},
		{"regression, truth unknown", reg, example{name: "b.png"}, []float32{0, 0},
			"b.png: pred gx 0.50 gy 0.00", false},
		{"classification, wrong", cls, example{name: "c.png", label: 1}, []float32{0, 0},
			"c.png: true dog, predicted cat (0.50): wrong", true},
		{"classification, right", cls, example{name: "d.png", label: 1}, []float32{0, 1},
			"d.png: true dog, predicted dog (0.73)", false},
	}
	for _, tt := range tests {
		title, wrong, err := describe(tt.ld, tt.ex, tt.logits)
		if err != nil || title != tt.title || wrong != tt.wrong {
			t.Errorf("%s: %q, wrong %v, %v; want %q, %v", tt.name, title, wrong, err, tt.title, tt.wrong)
		}
	}
}

// TestRegressionPlot: a regression run's curves, a comparison of regression runs by
// val MAE, and the refusal to compare a regression run with a classification run.
func TestRegressionPlot(t *testing.T) {
	sal, uni := gazeRun(t, "saliency"), gazeRun(t, "uniform")
	if st, err := os.Stat(filepath.Join(sal, "curves.png")); err != nil || st.Size() < 1000 {
		t.Errorf("curves.png: %v", err)
	}
	out := filepath.Join(t.TempDir(), "cmp.png")
	code, _, stderr := runCmd("plot", "--run", sal, "--run", uni, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Size() < 1000 {
		t.Errorf("compare plot: %v", err)
	}
	code, _, stderr = runCmd("plot", "--run", sal, "--run", runs(t)["uniform"], "--out", filepath.Join(t.TempDir(), "mixed.png"))
	if code != 1 || !strings.Contains(stderr, "common measure") {
		t.Errorf("mixed compare: code %d stderr %q", code, stderr)
	}
}

// TestDataNeedleGaze: the summary, the targets.csv of a tiny set (golden), the files,
// and the refusal of bad flags.
func TestDataNeedleGaze(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "g")
	tr := transcript{dir: dir}
	code, stdout, stderr := runCmd("data", "needle-gaze", "--out", out, "--canvas", "32", "--eye", "3,4", "--train", "4", "--val", "2", "--seed", "1")
	tr.add("write", code, stdout, stderr)
	for _, split := range []string{"train", "val"} {
		b, err := os.ReadFile(filepath.Join(out, split, data.TargetsFile))
		if err != nil {
			t.Fatal(err)
		}
		tr.add(split+"/targets.csv", 0, string(b), "")
	}
	for _, bad := range [][]string{
		{"--out", out},
		{"--out", filepath.Join(dir, "h"), "--eye", "6,4"},
		{"--out", filepath.Join(dir, "h"), "--eye", "a"},
		{"--eye", "4,6"},
	} {
		code, stdout, stderr := runCmd(append([]string{"data", "needle-gaze"}, bad...)...)
		tr.add(strings.Join(bad, " "), code, stdout, stderr)
	}
	code, stdout, stderr = runCmd("data", "needle-gaze", "--out", out, "--force", "--canvas", "32", "--eye", "3", "--train", "1", "--val", "1", "--json")
	tr.add("force, json", code, stdout, stderr)
	checkGolden(t, "data-needle-gaze.golden", tr.String())
	if _, err := os.Stat(filepath.Join(out, data.GazeManifestFile)); err != nil {
		t.Error(err)
	}
}
