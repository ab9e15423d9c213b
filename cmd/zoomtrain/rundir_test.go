package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/metrics"
)

// zt runs zoomtrain: the built binary, or with -short the command in this process.
func zt(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if testing.Short() {
		return runCmd(args...)
	}
	c := start(t, args...)
	code = c.wait(t, runTimeout)
	return code, c.stdout.String(), c.log()
}

// snapshot maps each file under dir to its bytes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s was removed", what, p)
		} else if g != want[p] {
			t.Errorf("%s: %s was changed", what, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s was written", what, p)
		}
	}
}

func epochsOf(t *testing.T, path string) []int {
	t.Helper()
	recs, err := metrics.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var e []int
	for _, r := range recs {
		e = append(e, r.Epoch)
	}
	return e
}

// TestRunDirectoryLock starts two trainings on one run directory at the same moment,
// round after round, both with --force and both with --resume: each time exactly one
// runs and the other exits 1 naming the holder (pid, host, start, command), and the
// directory's metrics come from one run only.
func TestRunDirectoryLock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 40 training processes")
	}
	tmp := t.TempDir()
	// Runs long enough (25 steps) that the two processes of a round always overlap.
	cfg := relConfig(t, tmp, 1, 25)
	dir := filepath.Join(tmp, "run")
	if code, _, stderr := zt(t, "train", "--config", cfg, "--out", tmp, "--name", "run", "--no-plot"); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	const rounds = 10
	pair := func(t *testing.T, round int, args []string) {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		logs := make([]string, 2)
		cs := []*child{start(t, args...), start(t, args...)}
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = c.wait(t, runTimeout)
				logs[i] = c.log()
			}()
		}
		wg.Wait()
		ran, refused := 0, 0
		for i := range cs {
			checkNoPanic(t, logs[i])
			switch {
			case codes[i] == 0:
				ran++
			case codes[i] == 1 && strings.Contains(logs[i], "zoomtrain: run directory in use: "+dir+" is held by pid ") &&
				strings.Contains(logs[i], " on host ") && strings.Contains(logs[i], " since ") && strings.Contains(logs[i], "zoomtrain "+strings.Join(args[:2], " ")):
				refused++
			}
		}
		if ran != 1 || refused != 1 {
			t.Fatalf("round %d (%v): exits %v, want one run and one refusal naming the holder; stderr:\n%s\n---\n%s\nstdout %q %q", round, args, codes, logs[0], logs[1], cs[0].stdout.String(), cs[1].stdout.String())
		}
	}
	for r := range rounds {
		pair(t, r, []string{"train", "--config", cfg, "--out", tmp, "--name", "run", "--force", "--no-plot"})
		if e := epochsOf(t, filepath.Join(dir, "metrics.jsonl")); len(e) != 1 || e[0] != 1 {
			t.Fatalf("round %d: metrics epochs %v after two --force starts, want one run's [1]", r, e)
		}
	}
	for r := range rounds {
		pair(t, r, []string{"train", "--resume", dir, "--epochs", fmt.Sprint(r + 2), "--no-plot"})
		if e := epochsOf(t, filepath.Join(dir, "metrics.jsonl")); len(e) != r+2 || e[r+1] != r+2 {
			t.Fatalf("round %d: metrics epochs %v after two resumes, want 1..%d once", r, e, r+2)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".zoomtrain.lock")); !os.IsNotExist(err) {
		t.Errorf("lock file left after the runs: %v", err)
	}
}

// TestFailedStartLeavesNoRunDirectory: a start that fails before its first checkpoint
// removes the run directory it made, so the same command fails the same way again
// (not with "exists: use --resume"), and draws no curves from missing metrics.
func TestFailedStartLeavesNoRunDirectory(t *testing.T) {
	tmp := t.TempDir()
	small := writeFile(t, filepath.Join(tmp, "small.yaml"), []byte("data:\n  workers: 1\n  cache_mb: 16\n  needle:\n    canvas: 48\n    digit_min: 14\n    digit_max: 18\n    train: 4\n    val: 8\n"+
		smallModelYAML+"train:\n  epochs: 1\n  batch_size: 8\n  eval_batch_size: 8\n"))
	oneClass := filepath.Join(tmp, "one")
	for i := range 4 {
		writeFile(t, filepath.Join(oneClass, "train", "a", fmt.Sprintf("%d.png", i)), pngBytes(t, 40, 36))
		writeFile(t, filepath.Join(oneClass, "val", "a", fmt.Sprintf("%d.png", i)), pngBytes(t, 40, 36))
	}
	folderCfg := writeFile(t, filepath.Join(tmp, "folder.yaml"), []byte("data:\n  resolution: 32\n  workers: 1\n  cache_mb: 16\n"+smallModelYAML+
		"train:\n  epochs: 1\n  batch_size: 2\n  eval_batch_size: 2\n"))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"batch larger than the data", []string{"train", "--config", small}, "holds no full batch of 8"},
		{"one class", []string{"train", "--config", folderCfg, "--data", oneClass}, "class"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(tc.args, "--out", out, "--name", "run")
			for attempt := range 2 {
				code, _, stderr := zt(t, args...)
				checkNoPanic(t, stderr)
				if code != 1 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
					t.Fatalf("attempt %d: exit %d, stderr %q; want one error line containing %q", attempt+1, code, stderr, tc.want)
				}
				if _, err := os.Stat(filepath.Join(out, "run")); !os.IsNotExist(err) {
					t.Fatalf("attempt %d: the failed start left its run directory (stat: %v)", attempt+1, err)
				}
			}
			if code, _, stderr := zt(t, "train", "--resume", filepath.Join(out, "run")); code != 1 || strings.Contains(stderr, "curves") {
				t.Errorf("resume of the failed start: exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// TestStderrPipeCloses: training whose log goes into a reader that exits after one line
// ('2>&1 | head -1') still trains to the end, writes its results and exits 0.
func TestStderrPipeCloses(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in a separate process")
	}
	tmp := t.TempDir()
	cfg := relConfig(t, tmp, 3, 4) // a progress line a step: plenty after the first
	dir := filepath.Join(tmp, "run")
	script := fmt.Sprintf(`"$0" train --config %q --out %q --name run 2>&1 | head -1; exit ${PIPESTATUS[0]}`, cfg, tmp)
	cmd := exec.Command("bash", "-c", script, testBinary(t))
	var out bytes.Buffer
	cmd.Stdout = &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("zoomtrain with its log piped into head -1: %v (output %q)", err, out.String())
		}
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		t.Fatal("zoomtrain with a closed log pipe did not exit")
	}
	if e := epochsOf(t, filepath.Join(dir, "metrics.jsonl")); len(e) != 3 {
		t.Errorf("metrics epochs %v, want 3", e)
	}
	for _, f := range []string{"last.ckpt", "best.ckpt", "curves.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestResumeNeverTouchesOthersFiles covers the resume rows of issue 13: a checkpoint
// file outside its run resumes into a new run directory; a resume with nothing to do
// changes nothing; an edited config.yaml is kept aside; a lost, emptied or torn
// metrics.jsonl is rebuilt from the checkpoint.
func TestResumeNeverTouchesOthersFiles(t *testing.T) {
	tmp := t.TempDir()
	cfg := relConfig(t, tmp, 2, 2)
	dir := filepath.Join(tmp, "run")
	if code, _, stderr := zt(t, "train", "--config", cfg, "--out", tmp, "--name", "run", "--no-plot"); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}

	t.Run("checkpoint file elsewhere", func(t *testing.T) {
		elsewhere := t.TempDir()
		b, err := os.ReadFile(filepath.Join(dir, "best.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(elsewhere, "model.ckpt"), b)
		for _, f := range []string{"metrics.jsonl", "config.yaml", "last.ckpt", "curves.png"} {
			writeFile(t, filepath.Join(elsewhere, f), []byte("the user's own "+f))
		}
		before := snapshot(t, elsewhere)
		out := t.TempDir()
		code, _, stderr := zt(t, "train", "--resume", filepath.Join(elsewhere, "model.ckpt"), "--epochs", "3", "--out", out, "--name", "cont")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		sameSnapshot(t, "the checkpoint's folder", snapshot(t, elsewhere), before)
		// best.ckpt is at epoch 1 or 2: its history, then the epochs after it, are 1, 2, 3.
		if e := epochsOf(t, filepath.Join(out, "cont", "metrics.jsonl")); fmt.Sprint(e) != "[1 2 3]" {
			t.Errorf("new run's metrics epochs %v, want [1 2 3] (the checkpoint's history, then the epochs after it)", e)
		}
		// The checkpoint was its run's best, so the new run starts with it as its best.
		if _, err := checkpoint.Load(filepath.Join(out, "cont", "best.ckpt")); err != nil {
			t.Errorf("new run directory's best.ckpt: %v", err)
		}
		if !strings.Contains(stderr, "in the new run directory "+filepath.Join(out, "cont")) {
			t.Errorf("stderr does not name the new run directory:\n%s", stderr)
		}
	})

	t.Run("nothing to do", func(t *testing.T) {
		before := snapshot(t, dir)
		for _, args := range [][]string{
			{"train", "--resume", filepath.Join(dir, "best.ckpt"), "--epochs", "1"},
			{"train", "--resume", dir, "--epochs", "2"},
			{"train", "--resume", dir, "--epochs", "1"},
		} {
			code, _, stderr := zt(t, args...)
			if code != 0 || !strings.HasPrefix(stderr, "nothing to do: ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%v: exit %d, stderr %q; want 0 and one line saying there is nothing to do", args, code, stderr)
			}
		}
		orig, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		defer writeFile(t, filepath.Join(dir, "config.yaml"), orig)
		writeFile(t, filepath.Join(dir, "config.yaml"), []byte("seed: 99\n")) // an edit --print-config must not move
		before = snapshot(t, dir)
		if code, out, stderr := zt(t, "train", "--resume", dir, "--epochs", "9", "--print-config"); code != 0 || !strings.Contains(out, "epochs: 9") {
			t.Errorf("--resume --print-config: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		sameSnapshot(t, "a resume with nothing to do, or --print-config", snapshot(t, dir), before)
	})

	t.Run("edited config", func(t *testing.T) {
		path := filepath.Join(dir, "config.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(b), "batch_size: 8", "batch_size: 4", 1)
		if edited == string(b) {
			t.Fatalf("config.yaml has no batch_size: 8:\n%s", b)
		}
		writeFile(t, path, []byte(edited))
		code, _, stderr := zt(t, "train", "--resume", dir, "--epochs", "3", "--no-plot")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "warning: "+path+" differs from the config in the checkpoint: the checkpoint's config is used") {
			t.Errorf("no warning about the edit:\n%s", stderr)
		}
		if got, err := os.ReadFile(path + ".edited"); err != nil || string(got) != edited {
			t.Errorf("config.yaml.edited: %v, %q; want the user's edit", err, got)
		}
		if got, _ := os.ReadFile(path); !strings.Contains(string(got), "batch_size: 8") {
			t.Errorf("config.yaml after the resume is not the checkpoint's:\n%s", got)
		}
	})

	epochs := 3
	for _, damage := range []struct {
		name string
		do   func(path string)
	}{
		{"deleted", func(p string) { os.Remove(p) }},
		{"emptied", func(p string) { os.WriteFile(p, nil, 0o644) }},
		{"torn", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}},
	} {
		t.Run("metrics "+damage.name, func(t *testing.T) {
			path := filepath.Join(dir, "metrics.jsonl")
			damage.do(path)
			epochs++
			code, _, stderr := zt(t, "train", "--resume", dir, "--epochs", fmt.Sprint(epochs), "--no-plot")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(stderr, "warning: "+path) || !strings.Contains(stderr, "rebuilt its ") {
				t.Errorf("no warning that metrics.jsonl was rebuilt:\n%s", stderr)
			}
			want := make([]int, epochs)
			for i := range want {
				want[i] = i + 1
			}
			if e := epochsOf(t, path); fmt.Sprint(e) != fmt.Sprint(want) {
				t.Errorf("metrics epochs %v, want %v", e, want)
			}
		})
	}
}

// TestControlCharactersInClassNames: class folders named with ESC and a newline are
// printed quoted by eval and predict, never raw, while their JSON output keeps the
// names exact. Training in skip mode names the unreadable file of each epoch and
// counts it in metrics.jsonl.
func TestControlCharactersInClassNames(t *testing.T) {
	tmp := t.TempDir()
	root := filepath.Join(tmp, "data")
	classes := []string{"a\x1b[2Jred", "b\nforged"}
	good := pngBytes(t, 40, 36)
	for _, c := range classes {
		for i := range 4 {
			writeFile(t, filepath.Join(root, "train", c, fmt.Sprintf("%d.png", i)), good)
		}
		writeFile(t, filepath.Join(root, "val", c, "0.png"), good)
	}
	bad := writeFile(t, filepath.Join(root, "train", classes[0], "bad.png"), good[:len(good)/2])
	cfg := writeFile(t, filepath.Join(tmp, "skip.yaml"), []byte("data:\n  resolution: 32\n  workers: 1\n  cache_mb: 16\n  on_error: skip\n"+smallModelYAML+
		"train:\n  epochs: 2\n  batch_size: 2\n  eval_batch_size: 2\n"))
	code, _, stderr := zt(t, "train", "--config", cfg, "--data", root, "--out", tmp, "--name", "run", "--no-plot")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	for e := 1; e <= 2; e++ {
		if want := fmt.Sprintf("epoch %d skipped 1 unreadable file(s): %q", e, bad); !strings.Contains(stderr, want) {
			t.Errorf("train's log lacks %q:\n%s", want, stderr)
		}
	}
	recs, err := metrics.Read(filepath.Join(tmp, "run", "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Skipped != 1 {
			t.Errorf("metrics epoch %d: skipped %d, want 1", r.Epoch, r.Skipped)
		}
	}
	ckpt := filepath.Join(tmp, "run", "last.ckpt")
	image := filepath.Join(root, "val", classes[1], "0.png")
	raw := func(what, out string) {
		t.Helper()
		if strings.Contains(out, "\x1b") || strings.Contains(out, "\nforged") {
			t.Errorf("%s prints a class name raw:\n%q", what, out)
		}
	}
	code, out, stderr := zt(t, "eval", "--checkpoint", ckpt, "--data", root)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	raw("eval", out)
	if !strings.Contains(out, `"b\nforged"`) {
		t.Errorf("eval does not print the quoted name:\n%s", out)
	}
	code, out, stderr = zt(t, "predict", "--checkpoint", ckpt, image)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	raw("predict", out)
	code, out, _ = zt(t, "eval", "--checkpoint", ckpt, "--data", root, "--json")
	var ev struct{ Classes []string }
	if err := json.Unmarshal([]byte(out), &ev); code != 0 || err != nil || fmt.Sprint(ev.Classes) != fmt.Sprint(classes) {
		t.Errorf("eval --json: exit %d, %v, classes %q; want %q exactly", code, err, ev.Classes, classes)
	}
	code, out, _ = zt(t, "predict", "--checkpoint", ckpt, "--json", image)
	var pr prediction
	if err := json.Unmarshal([]byte(out), &pr); code != 0 || err != nil || pr.Image != image || len(pr.Top) != 2 {
		t.Fatalf("predict --json: exit %d, %v, %+v", code, err, pr)
	}
	for _, cp := range pr.Top {
		if cp.Class != classes[0] && cp.Class != classes[1] {
			t.Errorf("predict --json class %q is not one of %q", cp.Class, classes)
		}
	}
}

// TestPredictManyImages: predict decodes images a chunk at a time but answers for each,
// in order; a file with a bad header anywhere fails before any output, one whose body
// is damaged is named on stderr while the others are answered.
func TestPredictManyImages(t *testing.T) {
	tmp := t.TempDir()
	root := imageFolder(t, filepath.Join(tmp, "data"), nil)
	cfg := writeFile(t, filepath.Join(tmp, "folder.yaml"), []byte("data:\n  resolution: 32\n  workers: 1\n  cache_mb: 16\n"+smallModelYAML+
		"train:\n  epochs: 1\n  batch_size: 2\n  eval_batch_size: 2\n"))
	if code, _, stderr := zt(t, "train", "--config", cfg, "--data", root, "--out", tmp, "--name", "run", "--no-plot"); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	ckpt := filepath.Join(tmp, "run", "last.ckpt")
	var images []string
	for i := range 2*predictChunk + 3 {
		images = append(images, writeFile(t, filepath.Join(tmp, "img", fmt.Sprintf("%02d.png", i)), pngBytes(t, 30+i, 30)))
	}
	code, out, stderr := zt(t, append([]string{"predict", "--checkpoint", ckpt, "--json"}, images...)...)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(images) {
		t.Fatalf("%d lines for %d images", len(lines), len(images))
	}
	for i, l := range lines {
		var pr prediction
		if err := json.Unmarshal([]byte(l), &pr); err != nil || pr.Image != images[i] {
			t.Errorf("line %d: %v, image %q, want %q", i, err, pr.Image, images[i])
		}
	}
	// A file with a good header and a truncated body is named on stderr, in one line;
	// the files before and after it are still answered, and the exit status is 1.
	good := pngBytes(t, 40, 40)
	truncated := writeFile(t, filepath.Join(tmp, "img", "cut.png"), good[:len(good)/2])
	mixed := append(append(append([]string(nil), images[:3]...), truncated), images[3:]...)
	code, out, stderr = zt(t, append([]string{"predict", "--checkpoint", ckpt, "--json"}, mixed...)...)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != len(images) {
		t.Fatalf("truncated file: exit %d, %d lines for %d good images; want 1 and one each (stderr %q)", code, len(lines), len(images), stderr)
	}
	for i, l := range lines {
		var pr prediction
		if err := json.Unmarshal([]byte(l), &pr); err != nil || pr.Image != images[i] {
			t.Errorf("truncated file: line %d: %v, image %q, want %q", i, err, pr.Image, images[i])
		}
	}
	var named []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if strings.Contains(l, "cut.png") {
			named = append(named, l)
		}
	}
	if len(named) != 1 || !strings.HasPrefix(named[0], "zoomtrain: ") || !strings.Contains(stderr, "1 of 20 images could not be read") {
		t.Errorf("truncated file: stderr %q, want one line naming cut.png and the count", stderr)
	}

	notImage := writeFile(t, filepath.Join(tmp, "img", "zz.png"), []byte("not an image"))
	code, out, stderr = zt(t, append([]string{"predict", "--checkpoint", ckpt}, append(images, notImage)...)...)
	if code != 1 || out != "" || !strings.Contains(stderr, "zz.png") {
		t.Errorf("bad last file: exit %d, stdout %q, stderr %q; want 1, nothing, an error naming it", code, out, stderr)
	}
}
