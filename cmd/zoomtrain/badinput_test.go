package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"zoomtrain/internal/checkpoint"
	"zoomtrain/internal/membudget"
	"zoomtrain/internal/npyfile"
)

// pngBytes encodes a small RGB test pattern.
func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(7 * x), uint8(5 * y), uint8(x * y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hugePNGHeader is a PNG signature and a valid IHDR chunk claiming w x h RGB pixels,
// with no image data: a decoder that trusts it would allocate w*h*4 bytes.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)-4))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// imageFolder writes ROOT/train/{a,b}/*.png and ROOT/val/{a,b}/0.png, with bad (if
// not nil) as one more training image of class a.
func imageFolder(t *testing.T, root string, bad []byte) string {
	t.Helper()
	good := pngBytes(t, 40, 36)
	for _, c := range []string{"a", "b"} {
		for i := 0; i < 4; i++ {
			writeFile(t, filepath.Join(root, "train", c, fmt.Sprintf("%d.png", i)), good)
		}
		writeFile(t, filepath.Join(root, "val", c, "0.png"), good)
	}
	if bad != nil {
		writeFile(t, filepath.Join(root, "train", "a", "bad.png"), bad)
	}
	return root
}

const smallModelYAML = `model:
  task_input: 16
  saliency_input: 24
  grid: 9
  padding: 8
  fwhm: 5
`

// mountTmpfs mounts a tmpfs of size bytes (read-only if ro) at a new folder, or skips
// the test where mounting is not allowed (not root, or in a container without it).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestBadInputs feeds each kind of bad input to the real binary (with -short, to the
// command run in this process, which needs no build: a crash then fails the test
// binary as a whole): every one must end with one line "zoomtrain: ..." on stderr
// naming the problem, a non-zero exit, and no stack trace. Run with -v to see each
// message.
func TestBadInputs(t *testing.T) {
	tmp := t.TempDir()
	p := func(name string) string { return filepath.Join(tmp, name) }
	goodPNG := pngBytes(t, 40, 36)
	truncPNG := goodPNG[:len(goodPNG)/2]
	writeFile(t, p("image.png"), goodPNG)
	writeFile(t, p("trunc.png"), truncPNG)
	writeFile(t, p("empty.png"), nil)
	writeFile(t, p("huge.png"), hugePNGHeader(100000, 100000))
	sal := make([]float32, 9*9)
	for i := range sal {
		sal[i] = 1
	}
	if err := npyfile.WriteFile(p("good.npy"), sal, 9, 9); err != nil {
		t.Fatal(err)
	}
	var lying bytes.Buffer
	if err := npyfile.Write(&lying, sal[:4], 2, 2); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p("lying.npy"), bytes.Replace(lying.Bytes(), []byte("(2, 2), }    "), []byte("(300, 300), }"), 1))
	writeFile(t, p("huge.npy"), bytes.Replace(lying.Bytes(), []byte("(2, 2), }"+strings.Repeat(" ", 18)), []byte("(4000000000, 4000000000), }"), 1))

	folderCfg := writeFile(t, p("folder.yaml"), []byte("data:\n  resolution: 32\n  workers: 1\n  cache_mb: 16\n"+smallModelYAML+
		"train:\n  epochs: 1\n  batch_size: 2\n  eval_batch_size: 2\n"))
	needleCfg := writeFile(t, p("needle.yaml"), []byte("data:\n  workers: 1\n  cache_mb: 16\n  needle:\n    canvas: 48\n    digit_min: 14\n    digit_max: 18\n    train: 16\n    val: 8\n"+
		smallModelYAML+"train:\n  epochs: 2\n  batch_size: 8\n  eval_batch_size: 8\n"))
	nanCfg := writeFile(t, p("nan.yaml"), []byte("data:\n  workers: 1\n  cache_mb: 16\n  needle:\n    canvas: 48\n    digit_min: 14\n    digit_max: 18\n    train: 16\n    val: 8\n"+
		smallModelYAML+"train:\n  epochs: 2\n  batch_size: 8\n  eval_batch_size: 8\n  optimizer: sgd\n  momentum: 0\n  lr: 1e30\n"))
	writeFile(t, p("wrongtype.yaml"), []byte("train:\n  epochs: many\n"))
	writeFile(t, p("unknown.yaml"), []byte("train:\n  epocs: 3\n"))
	writeFile(t, p("notyaml.yaml"), []byte("train: [1, 2\n"))

	ck := &checkpoint.Checkpoint{ConfigYAML: []byte("seed: 1\n"), Classes: []string{"a", "b"},
		Weights: []checkpoint.Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}}
	if err := checkpoint.Save(p("good.ckpt"), ck); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p("good.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	v2 := bytes.Clone(raw)
	binary.LittleEndian.PutUint32(v2[7:], 2) // the version field after the magic
	writeFile(t, p("v2.ckpt"), v2)
	writeFile(t, p("trunc.ckpt"), raw[:len(raw)-10])
	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 0x10
	writeFile(t, p("flipped.ckpt"), flipped)
	writeFile(t, p("empty.ckpt"), nil)

	type bad struct {
		name     string
		args     func(t *testing.T) []string
		wantCode int
		want     string // in the error line
		// memKB, when set, runs the binary under ulimit -v memKB (in process, with
		// ZOOMTRAIN_MEMORY_LIMIT instead): a setting too large for it must be refused
		// by the estimate, never end in a runtime out-of-memory crash.
		memKB int
	}
	fixed := func(args ...string) func(*testing.T) []string { return func(*testing.T) []string { return args } }
	folderRun := func(b []byte) func(*testing.T) []string {
		return func(t *testing.T) []string {
			root := imageFolder(t, filepath.Join(t.TempDir(), "data"), b)
			return []string{"train", "--config", folderCfg, "--data", root, "--out", t.TempDir(), "--no-plot"}
		}
	}
	warpArgs := func(image, saliency string) func(*testing.T) []string {
		return func(t *testing.T) []string {
			return []string{"warp", "--image", image, "--saliency", saliency, "--size", "16x16", "--out", filepath.Join(t.TempDir(), "out.png")}
		}
	}
	bigNeedleCfg := writeFile(t, p("bigneedle.yaml"), []byte("data:\n  workers: 1\n  cache_mb: 16\n  needle:\n    train: 1000000000\n"))
	res4096Cfg := writeFile(t, p("res4096.yaml"), []byte("data:\n  resolution: 4096\n"))
	maxPixelsCfg := writeFile(t, p("maxpixels.yaml"), []byte("data:\n  resolution: 32\n  workers: 1\n  cache_mb: 16\n  max_pixels: 1000\n"+smallModelYAML+
		"train:\n  epochs: 1\n  batch_size: 2\n  eval_batch_size: 2\n"))
	bigEvalCfg := writeFile(t, p("bigeval.yaml"), []byte("data:\n  workers: 1\n  cache_mb: 16\n  needle:\n    canvas: 48\n    digit_min: 14\n    digit_max: 18\n    train: 16\n    val: 8\n"+
		smallModelYAML+"train:\n  epochs: 2\n  batch_size: 8\n  eval_batch_size: 100000000\n"))
	const memKB = 4 << 20 // 4 GiB of address space
	cases := []bad{
		{"truncated PNG in the training data", folderRun(truncPNG), 1, "epoch 1: example 4: ", 0},
		{"zero-byte file in the training data", folderRun([]byte{}), 1, "bad.png", 0},
		{"PNG header claiming 100000x100000 in the training data", folderRun(hugePNGHeader(100000, 100000)), 1, "larger than the limit", 0},
		{"truncated PNG to warp", warpArgs(p("trunc.png"), p("good.npy")), 1, "trunc.png: decode: png: invalid format: not enough pixel data", 0},
		{"zero-byte PNG to warp", warpArgs(p("empty.png"), p("good.npy")), 1, "not a PNG or JPEG", 0},
		{"PNG header claiming 100000x100000 to warp", warpArgs(p("huge.png"), p("good.npy")), 1, "larger than the limit", 0},
		{".npy whose header says 300x300 over 4 values", warpArgs(p("image.png"), p("lying.npy")), 1, "needs 360000 bytes of data, the file holds 16", 0},
		{".npy whose header says 4e9 x 4e9", warpArgs(p("image.png"), p("huge.npy")), 1, "larger than the limit", 0},
		{"YAML with a wrong type", fixed("train", "--config", p("wrongtype.yaml"), "--print-config"), 1, "train.epochs", 0},
		{"YAML with an unknown key", fixed("train", "--config", p("unknown.yaml"), "--print-config"), 1, "epocs", 0},
		{"YAML that does not parse", fixed("train", "--config", p("notyaml.yaml"), "--print-config"), 1, "notyaml.yaml", 0},
		{"checkpoint of format version 2 (resume)", fixed("train", "--resume", p("v2.ckpt")), 1, "checkpoint format version 2, this build reads 1", 0},
		{"checkpoint of format version 2 (eval)", fixed("eval", "--checkpoint", p("v2.ckpt")), 1, "checkpoint format version 2, this build reads 1", 0},
		{"truncated checkpoint", fixed("train", "--resume", p("trunc.ckpt")), 1, "truncated checkpoint", 0},
		{"checkpoint with one flipped byte", fixed("eval", "--checkpoint", p("flipped.ckpt")), 1, "checksum mismatch", 0},
		{"zero-byte checkpoint", fixed("train", "--resume", p("empty.ckpt")), 1, "truncated checkpoint", 0},
		{"missing run directory", fixed("train", "--resume", p("no-such-run")), 1, "no such file or directory", 0},
		{"absurd learning rate (the loss blows up)", func(t *testing.T) []string {
			return []string{"train", "--config", nanCfg, "--out", t.TempDir(), "--no-plot"}
		}, 1, "training stopped, no checkpoint was written yet", 0},
		{"read-only output folder", func(t *testing.T) []string {
			return []string{"train", "--config", needleCfg, "--out", mountTmpfs(t, "ro,size=1m"), "--no-plot"}
		}, 1, "read-only file system", 0},
		{"full disk (1 MiB tmpfs)", func(t *testing.T) []string {
			return []string{"train", "--config", needleCfg, "--out", mountTmpfs(t, "size=1m"), "--name", "run", "--no-plot"}
		}, 1, "disk full", 0},
		{"image larger than data.max_pixels", func(t *testing.T) []string {
			root := imageFolder(t, filepath.Join(t.TempDir(), "data"), nil)
			return []string{"train", "--config", maxPixelsCfg, "--data", root, "--out", t.TempDir(), "--no-plot"}
		}, 1, "image of 40x36 is larger than the limit of 1000 pixels", 0},
		{"run name of one space", func(t *testing.T) []string {
			return []string{"train", "--config", needleCfg, "--out", t.TempDir(), "--name", " ", "--no-plot"}
		}, 1, "name must be a plain folder name", 0},
		{"training batch size 1e8", func(t *testing.T) []string {
			return []string{"train", "--config", needleCfg, "--batch-size", "100000000", "--out", t.TempDir(), "--no-plot"}
		}, 1, "not enough memory: training at batch size 100000000", memKB},
		{"eval --batch-size 1e8", fixed("eval", "--checkpoint", p("good.ckpt"), "--batch-size", "100000000"),
			1, "not enough memory: evaluation at batch size 100000000", memKB},
		{"data.needle.train 1e9", func(t *testing.T) []string {
			return []string{"train", "--config", bigNeedleCfg, "--out", t.TempDir(), "--no-plot"}
		}, 1, "on 1000001000 images needs an estimated", memKB},
		{"bench --resolution 100000", fixed("bench", "--resolution", "100000", "--steps", "1", "--warmup", "0", "--variant", "uniform"),
			1, "resolution 100000", memKB},
		{"folder data at resolution 4096 with the default batch", func(t *testing.T) []string {
			root := imageFolder(t, filepath.Join(t.TempDir(), "data"), nil)
			return []string{"train", "--config", res4096Cfg, "--data", root, "--out", t.TempDir(), "--no-plot"}
		}, 1, "resolution 4096", memKB},
	}
	// A train.eval_batch_size far beyond memory is not an error: the trainer evaluates
	// in batches whose values fit infer.EvalMemoryBytes, and the start-up estimate
	// counts those. The run completes under the same address-space limit.
	t.Run("train.eval_batch_size 1e8 evaluates in batches that fit", func(t *testing.T) {
		if testing.Short() {
			t.Skip("trains under a ulimit")
		}
		c := startLimited(t, memKB, "train", "--config", bigEvalCfg, "--out", t.TempDir(), "--no-plot")
		code, stderr := c.wait(t, runTimeout), c.log()
		checkNoPanic(t, stderr)
		if code != 0 {
			t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args(t)
			var code int
			var stderr string
			switch {
			case testing.Short():
				if tc.memKB > 0 {
					t.Setenv(membudget.EnvVar, fmt.Sprint(tc.memKB<<10))
				}
				code, _, stderr = runCmd(args...)
			case tc.memKB > 0:
				c := startLimited(t, tc.memKB, args...)
				code, stderr = c.wait(t, runTimeout), c.log()
			default:
				code, stderr = runBinary(t, runTimeout, args...)
			}
			checkNoPanic(t, stderr)
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			t.Logf("exit %d: %s", code, last)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if n := strings.Count(stderr, "zoomtrain: "); n != 1 || !strings.HasPrefix(last, "zoomtrain: ") {
				t.Errorf("want exactly one error line, the last; stderr:\n%s", stderr)
			}
			if !strings.Contains(last, tc.want) {
				t.Errorf("error line %q does not contain %q", last, tc.want)
			}
			if tc.name == "full disk (1 MiB tmpfs)" {
				// The checkpoint that fitted is intact.
				dir := filepath.Join(args[4], "run")
				if _, err := checkpoint.Load(filepath.Join(dir, "best.ckpt")); err != nil {
					t.Errorf("best.ckpt after the disk filled: %v", err)
				}
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if strings.Contains(e.Name(), ".tmp-") {
						t.Errorf("failed write left %s behind", e.Name())
					}
				}
			}
		})
	}
}
