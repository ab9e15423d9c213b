package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/metrics"
	"zoomtrain/internal/train"
)

// binDir is the temporary folder TestMain makes for the zoomtrain binary that the tests
// needing a real process (signals, SIGKILL, exit codes) run; it is set before any test
// runs and never changed.
var binDir string

// buildBinary builds the binary into binDir on first use, once: a run of tests that
// needs none (go test -short, or -run of in-process tests) does not pay for the build.
var buildBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "zoomtrain")
	if out, err := exec.Command(goTool(), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build zoomtrain: %v\n%s", err, out)
	}
	return bin, nil
})

// testBinary returns the built zoomtrain binary.
func testBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "zoomtrain-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	removeTrainedRuns()
	if gazeDir != "" {
		os.RemoveAll(gazeDir)
	}
	os.Exit(code)
}

// goTool finds the go command: on PATH, else under $GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// relConfig is a tiny run with a progress line per step (so a test knows where the
// run is), epochs epochs of batchesPerEpoch batches of 8.
func relConfig(t *testing.T, dir string, epochs, batchesPerEpoch int) string {
	t.Helper()
	cfg := fmt.Sprintf(`data:
  workers: 1
  cache_mb: 16
  needle:
    canvas: 48
    digit_min: 14
    digit_max: 18
    clutter: 1
    train: %d
    val: 8
model:
  task_input: 16
  saliency_input: 24
  grid: 9
  padding: 8
  fwhm: 5
train:
  epochs: %d
  batch_size: 8
  eval_batch_size: 8
  log_every: 1
`, 8*batchesPerEpoch, epochs)
	p := filepath.Join(dir, "rel.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// child is a zoomtrain process whose stderr is read line by line.
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	eof    chan struct{}
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr strings.Builder
}

func start(t *testing.T, args ...string) *child {
	t.Helper()
	return startCmd(t, exec.Command(testBinary(t), args...))
}

// startLimited starts zoomtrain under an address-space limit of kb kilobytes (ulimit -v),
// as a machine without that much memory would run it.
func startLimited(t *testing.T, kb int, args ...string) *child {
	t.Helper()
	return startCmd(t, exec.Command("bash", append([]string{"-c", fmt.Sprintf(`ulimit -v %d && exec "$0" "$@"`, kb), testBinary(t)}, args...)...))
}

func startCmd(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{cmd: cmd, lines: make(chan string, 1<<16), eof: make(chan struct{})}
	c.cmd.Stdout = &c.stdout
	// The caller's ZOOMTRAIN_* settings would change the tests' configs.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZOOMTRAIN_") {
			c.cmd.Env = append(c.cmd.Env, kv)
		}
	}
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill() })
	go func() {
		defer close(c.eof)
		defer close(c.lines)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			select {
			case c.lines <- sc.Text():
			default: // nobody is waiting for lines this late; the log keeps them
			}
		}
	}()
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// waitLine waits for a stderr line matching re.
func (c *child) waitLine(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("zoomtrain exited before printing a line matching %q; stderr:\n%s", re, c.log())
			}
			if re.MatchString(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line matching %q within %v; stderr:\n%s", re, timeout, c.log())
		}
	}
}

// wait waits for the process to exit and returns its exit status.
func (c *child) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.eof:
	case <-time.After(timeout):
		c.cmd.Process.Kill()
		<-c.eof
		c.cmd.Wait()
		t.Fatalf("zoomtrain did not exit within %v; stderr:\n%s", timeout, c.log())
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// runBinary runs zoomtrain to completion.
func runBinary(t *testing.T, timeout time.Duration, args ...string) (code int, stderr string) {
	t.Helper()
	c := start(t, args...)
	code = c.wait(t, timeout)
	return code, c.log()
}

// checkNoPanic fails on a Go stack trace in a child's output.
func checkNoPanic(t *testing.T, stderr string) {
	t.Helper()
	for _, bad := range []string{"panic:", "fatal error:", "goroutine ", "runtime error"} {
		if strings.Contains(stderr, bad) {
			t.Fatalf("stderr holds %q:\n%s", bad, stderr)
		}
	}
}

const (
	runTimeout  = 2 * time.Minute // generous: the machine is shared and loaded
	lineTimeout = time.Minute
)

var stepLine = regexp.MustCompile(`^epoch (\d+) batch (\d+)/(\d+) step (\d+) loss`)

// TestSignalThenResume sends SIGINT, SIGTERM or SIGHUP to a training process mid-epoch:
// it must finish the step, write a checkpoint, say how to resume, and exit 130, 143 or
// 129.
// Resumed to a later epoch, it must end with the weights and metrics of a run that
// was never interrupted.
func TestSignalThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three short runs in separate processes")
	}
	cases := []struct {
		sig      syscall.Signal
		wantCode int
	}{
		{syscall.SIGINT, 130},
		{syscall.SIGTERM, 143},
		{syscall.SIGHUP, 129}, // the ssh session dropped
	}
	for _, tc := range cases {
		t.Run(tc.sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cfg := relConfig(t, tmp, 50, 6)
			dir := filepath.Join(tmp, "run")
			c := start(t, "train", "--config", cfg, "--out", tmp, "--name", "run", "--no-plot")
			c.waitLine(t, regexp.MustCompile(`^epoch 1 batch 3/6 step 3 `), lineTimeout)
			if err := c.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			code := c.wait(t, runTimeout)
			stderr := c.log()
			checkNoPanic(t, stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if want := "; resume with: zoomtrain train --resume " + dir; strings.Count(stderr, "zoomtrain: ") != 1 ||
				!strings.HasPrefix(last, "zoomtrain: training interrupted") || !strings.HasSuffix(last, want) {
				t.Errorf("last line %q is not the one error line ending %q; stderr:\n%s", last, want, stderr)
			}
			ck, err := checkpoint.Load(filepath.Join(dir, "last.ckpt"))
			if err != nil {
				t.Fatalf("checkpoint after %v: %v", tc.sig, err)
			}
			if ck.Step < 3 {
				t.Fatalf("checkpoint at step %d, the run had done 3", ck.Step)
			}
			if !strings.Contains(stderr, fmt.Sprintf("at step %d; checkpoint %s", ck.Step, filepath.Join(dir, "last.ckpt"))) {
				t.Errorf("stderr does not name step %d and the checkpoint:\n%s", ck.Step, stderr)
			}
			// Resume to two epochs past the interrupted one; compare with a run of that
			// many epochs from the start (the schedule is constant, so the total does not
			// change the steps).
			epochs := ck.Epoch + 2
			code, stderr = runBinary(t, runTimeout, "train", "--resume", dir, "--epochs", fmt.Sprint(epochs), "--no-plot")
			if code != 0 {
				t.Fatalf("resume: exit %d; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "resuming at epoch") {
				t.Errorf("resumed run does not say where it resumes:\n%s", stderr)
			}
			code, stderr = runBinary(t, runTimeout, "train", "--config", cfg, "--out", tmp, "--name", "ref", "--epochs", fmt.Sprint(epochs), "--no-plot")
			if code != 0 {
				t.Fatalf("reference run: exit %d; stderr:\n%s", code, stderr)
			}
			sameRun(t, dir, filepath.Join(tmp, "ref"))
		})
	}
}

// sameRun compares two finished run directories: last.ckpt's and best.ckpt's tensors
// bit for bit, and the metrics but for timings.
func sameRun(t *testing.T, got, want string) {
	t.Helper()
	for _, f := range []string{"last.ckpt", "best.ckpt"} {
		g, err := checkpoint.Load(filepath.Join(got, f))
		if err != nil {
			t.Fatal(err)
		}
		w, err := checkpoint.Load(filepath.Join(want, f))
		if err != nil {
			t.Fatal(err)
		}
		if g.Step != w.Step || g.Epoch != w.Epoch {
			t.Errorf("%s at epoch %d step %d, want epoch %d step %d", f, g.Epoch, g.Step, w.Epoch, w.Step)
		}
		for _, sec := range [][2][]checkpoint.Tensor{{g.Weights, w.Weights}, {g.Optimizer, w.Optimizer}} {
			if len(sec[0]) != len(sec[1]) {
				t.Fatalf("%s: %d tensors, want %d", f, len(sec[0]), len(sec[1]))
			}
			for i := range sec[0] {
				a, b := sec[0][i].Data, sec[1][i].Data
				if len(a) != len(b) {
					t.Fatalf("%s: %s: %d values, want %d", f, sec[0][i].Name, len(a), len(b))
				}
				for j := range a {
					if math.Float32bits(a[j]) != math.Float32bits(b[j]) {
						t.Fatalf("%s: %s differs at %d: got %g, want %g", f, sec[0][i].Name, j, a[j], b[j])
					}
				}
			}
		}
		gh, gerr := train.CheckpointHistory(g)
		wh, werr := train.CheckpointHistory(w)
		if gerr != nil || werr != nil {
			t.Fatalf("%s: metrics history: %v, %v", f, gerr, werr)
		}
		sameRecords(t, f+" history", gh, wh)
		ge, we := maps.Clone(g.Extra), maps.Clone(w.Extra)
		delete(ge, "metrics_history") // timings differ; compared above without them
		delete(we, "metrics_history")
		if !reflect.DeepEqual(ge, we) {
			t.Errorf("%s: extra state (batch-norm statistics, position) differs", f)
		}
	}
	gr, err := metrics.Read(filepath.Join(got, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	wr, err := metrics.Read(filepath.Join(want, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "metrics", gr, wr)
}

// sameRecords compares metrics records but for timings.
func sameRecords(t *testing.T, what string, gr, wr []metrics.Record) {
	t.Helper()
	if len(gr) != len(wr) {
		t.Fatalf("%s: %d records, want %d", what, len(gr), len(wr))
	}
	for i := range gr {
		a, b := gr[i], wr[i]
		a.Seconds, a.ImagesPerS, a.Time = 0, 0, ""
		b.Seconds, b.ImagesPerS, b.Time = 0, 0, ""
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s record %d:\n got %+v\nwant %+v", what, i+1, a, b)
		}
	}
}

// TestSecondInterruptExitsAtOnce: two Ctrl-C in a row end the process at once with
// status 130, and the last complete checkpoint still loads.
func TestSecondInterruptExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in a separate process")
	}
	tmp := t.TempDir()
	cfg := relConfig(t, tmp, 50, 6)
	c := start(t, "train", "--config", cfg, "--out", tmp, "--name", "run", "--no-plot")
	c.waitLine(t, regexp.MustCompile(`^epoch +1/50 `), lineTimeout) // epoch 1 is checkpointed
	c.waitLine(t, regexp.MustCompile(`^epoch 2 batch 2/6 `), lineTimeout)
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// The second signal goes out once the first is handled, so they cannot merge;
	// if the graceful stop wins the race the exit status is 130 all the same.
	c.waitLine(t, regexp.MustCompile(`finishing the current step`), lineTimeout)
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	code := c.wait(t, runTimeout)
	stderr := c.log()
	checkNoPanic(t, stderr)
	if code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "again: exiting now") {
		t.Log("the second signal exited at once")
	} else if !strings.Contains(stderr, "resume with:") {
		t.Errorf("neither an immediate exit nor a graceful stop; stderr:\n%s", stderr)
	}
	ck, err := checkpoint.Load(filepath.Join(tmp, "run", "last.ckpt"))
	if err != nil {
		t.Fatalf("last complete checkpoint: %v", err)
	}
	if ck.Step < 6 {
		t.Errorf("checkpoint at step %d, want at least the 6 of epoch 1", ck.Step)
	}
}

// TestKillDuringCheckpointWrite kills training with SIGKILL while a checkpoint is being
// written (its temporary file exists), until a kill lands mid-write; the previous
// checkpoint must still load, and the run must resume from it.
func TestKillDuringCheckpointWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("trains in separate processes until a kill lands mid-write")
	}
	tmp := t.TempDir()
	// One batch an epoch, so checkpoints are written after every step.
	cfg := relConfig(t, tmp, 1000, 1)
	const attempts = 40
	deadline := time.Now().Add(3 * time.Minute)
	hit := false
	for a := 0; a < attempts && !hit && time.Now().Before(deadline); a++ {
		name := fmt.Sprintf("run%d", a)
		dir := filepath.Join(tmp, name)
		c := start(t, "train", "--config", cfg, "--out", tmp, "--name", name, "--no-plot")
		c.waitLine(t, regexp.MustCompile(`^epoch +2/1000 `), lineTimeout) // last.ckpt exists
		tmpFile := ""
		for pollUntil := time.Now().Add(10 * time.Second); tmpFile == "" && time.Now().Before(pollUntil); {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".last.ckpt.tmp-") {
					c.cmd.Process.Kill()
					tmpFile = e.Name()
					break
				}
			}
		}
		c.cmd.Process.Kill()
		c.wait(t, runTimeout)
		checkNoPanic(t, c.log())
		// Whatever the kill interrupted, both checkpoints must load.
		for _, f := range []string{"last.ckpt", "best.ckpt"} {
			if _, err := checkpoint.Load(filepath.Join(dir, f)); err != nil {
				t.Fatalf("attempt %d: %s after SIGKILL: %v", a+1, f, err)
			}
		}
		if tmpFile == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, tmpFile)); err != nil {
			continue // the write finished between the poll and the kill
		}
		hit = true
		t.Logf("attempt %d: killed while writing %s", a+1, tmpFile)
		last, err := checkpoint.Load(filepath.Join(dir, "last.ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		epochs := fmt.Sprint(last.Epoch + 1)
		code, stderr := runBinary(t, runTimeout, "train", "--resume", dir, "--epochs", epochs, "--no-plot")
		if code != 0 {
			t.Fatalf("resume after SIGKILL mid-write: exit %d; stderr:\n%s", code, stderr)
		}
		// The metrics line and best.ckpt of the epoch whose last.ckpt died are redone
		// exactly: the run matches one never killed.
		code, stderr = runBinary(t, runTimeout, "train", "--config", cfg, "--out", tmp, "--name", "ref", "--epochs", epochs, "--no-plot")
		if code != 0 {
			t.Fatalf("reference run: exit %d; stderr:\n%s", code, stderr)
		}
		sameRun(t, dir, filepath.Join(tmp, "ref"))
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("resumed run left the dead write's temporary file %s", e.Name())
			}
		}
	}
	if !hit {
		t.Fatalf("no SIGKILL landed while a checkpoint was being written in %d attempts", attempts)
	}
}
