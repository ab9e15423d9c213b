package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"

	"zoomtrain/internal/imageio"
	"zoomtrain/internal/sampler"
)

// warpVectorsDir is the repository's copy of the shared warp test vectors
// (testdata/warp at the repository root; see testdata/README.md).
const warpVectorsDir = "../../testdata/warp"

type warpCase struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
}

func readNpy(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var v []float32
	if err := r.Read(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v, r.Header.Descr.Shape
}

func readPNG(t *testing.T, path string) *imageio.Image {
	t.Helper()
	m, err := imageio.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestWarpTestVectors(t *testing.T) {
	base := warpVectorsDir
	b, err := os.ReadFile(filepath.Join(base, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []warpCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("cases.json lists no cases")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			in := filepath.Join(base, tc.Name)
			tmp := t.TempDir()
			outPath, gridPath := filepath.Join(tmp, "out.png"), filepath.Join(tmp, "grid.npy")
			args := append([]string{"warp", "--image", filepath.Join(in, "image.png"),
				"--saliency", filepath.Join(in, "saliency.npy"), "--out", outPath, "--grid-out", gridPath}, tc.Args...)
			code, _, stderr := runCmd(args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}

			gotGrid, gotShape := readNpy(t, gridPath)
			wantGrid, wantShape := readNpy(t, filepath.Join(in, "grid.npy"))
			if !equalInts(gotShape, wantShape) {
				t.Fatalf("grid shape %v, want %v", gotShape, wantShape)
			}
			if d := maxDiff(gotGrid, wantGrid); d > 1e-4 {
				t.Errorf("grid differs by up to %g, want under 1e-4", d)
			}

			// The float output, from the code the command runs before it quantises to 8 bits.
			opts := warpOptions{Image: filepath.Join(in, "image.png"), Saliency: filepath.Join(in, "saliency.npy")}
			for i := 0; i+1 < len(tc.Args); i += 2 {
				v := tc.Args[i+1]
				var err error
				switch tc.Args[i] {
				case "--size":
					opts.Size = v
				case "--fwhm":
					opts.FWHM, err = strconv.ParseFloat(v, 64)
				case "--padding":
					opts.Padding, err = strconv.Atoi(v)
				case "--padding-mode":
					opts.PaddingMode = v
				default:
					t.Fatalf("cases.json: unknown flag %s", tc.Args[i])
				}
				if err != nil {
					t.Fatalf("cases.json: %s %s: %v", tc.Args[i], v, err)
				}
			}
			wo, ho, err := parseSize(opts.Size)
			if err != nil {
				t.Fatal(err)
			}
			res, err := computeWarp(opts, sampler.PaddingMode(opts.PaddingMode), wo, ho)
			if err != nil {
				t.Fatal(err)
			}
			wantOut, outShape := readNpy(t, filepath.Join(in, "out.npy")) // H x W x 3
			if !equalInts(outShape, []int{ho, wo, 3}) {
				t.Fatalf("out.npy shape %v, want [%d %d 3]", outShape, ho, wo)
			}
			var worst float64
			for y := range ho {
				for x := range wo {
					for c := range 3 {
						worst = max(worst, math.Abs(float64(res.out.At(c, y, x)-wantOut[(y*wo+x)*3+c])))
					}
				}
			}
			if worst > 1e-3 {
				t.Errorf("output differs from out.npy by up to %g, want under 1e-3", worst)
			}

			got, want := readPNG(t, outPath), readPNG(t, filepath.Join(in, "out.png"))
			if got.W != want.W || got.H != want.H {
				t.Fatalf("PNG is %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
			}
			if d := maxDiff(got.Pix, want.Pix) * 255; d > 1+1e-3 {
				t.Errorf("PNG differs by up to %.1f levels, want at most 1", d)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func writeNpy(t *testing.T, path string, v any) {
	t.Helper()
	var b bytes.Buffer
	if err := npyio.Write(&b, v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeTestPNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mapOf(h, w int, f func(i, j int) float32) [][]float32 {
	m := make([][]float32, h)
	for i := range m {
		m[i] = make([]float32, w)
		for j := range m[i] {
			m[i][j] = f(i, j)
		}
	}
	return m
}

// warpInputs writes a test image and saliency maps of several kinds into dir.
func warpInputs(t *testing.T, dir string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 100, 255})
		}
	}
	writeTestPNG(t, filepath.Join(dir, "image.png"), img)
	if err := os.WriteFile(filepath.Join(dir, "garbage.png"), []byte("this is not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	peak := func(i, j int) float32 { return float32(1 + 10*math.Exp(-float64((i-3)*(i-3)+(j-6)*(j-6))/4)) }
	writeNpy(t, filepath.Join(dir, "good.npy"), mapOf(9, 11, peak))
	writeNpy(t, filepath.Join(dir, "nan.npy"), mapOf(9, 11, func(i, j int) float32 {
		if i == 4 && j == 4 {
			return float32(math.NaN())
		}
		return 1
	}))
	writeNpy(t, filepath.Join(dir, "negative.npy"), mapOf(9, 11, func(i, j int) float32 { return float32(i - 2) }))
	writeNpy(t, filepath.Join(dir, "zero.npy"), mapOf(9, 11, func(i, j int) float32 { return 0 }))
	writeNpy(t, filepath.Join(dir, "1d.npy"), []float32{1, 2, 3, 4})
	writeNpy(t, filepath.Join(dir, "3d.npy"), [][][]float32{mapOf(4, 4, peak), mapOf(4, 4, peak)})
	writeNpy(t, filepath.Join(dir, "int.npy"), [][]int32{{1, 2}, {3, 4}})
	gray := image.NewGray(image.Rect(0, 0, 11, 9))
	for i := range 9 {
		for j := range 11 {
			gray.SetGray(j, i, color.Gray{uint8(math.Round(float64(peak(i, j)) * 20))})
		}
	}
	writeTestPNG(t, filepath.Join(dir, "gray.png"), gray)
	writeTestPNG(t, filepath.Join(dir, "colour.png"), img)
}

func TestWarpGrayscalePNGMap(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	warpInputs(t, in)
	common := []string{"warp", "--image", filepath.Join(in, "image.png"), "--size", "20x16", "--padding", "8", "--fwhm", "4"}
	code, stdout, stderr := runCmd(append(common, "--saliency", filepath.Join(in, "gray.png"),
		"--out", filepath.Join(out, "a.png"), "--grid-out", filepath.Join(out, "a.npy"))...)
	if code != 0 {
		t.Fatalf("gray PNG map: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "a.png") {
		t.Errorf("stdout %q does not name the output", stdout)
	}
	code, _, stderr = runCmd(append(common, "--saliency", filepath.Join(in, "good.npy"),
		"--out", filepath.Join(out, "b.png"), "--grid-out", filepath.Join(out, "b.npy"))...)
	if code != 0 {
		t.Fatalf("npy map: exit %d, stderr %q", code, stderr)
	}
	// The PNG holds round(20 v) / 255: the same map up to scale and rounding.
	a, shape := readNpy(t, filepath.Join(out, "a.npy"))
	b, _ := readNpy(t, filepath.Join(out, "b.npy"))
	if !equalInts(shape, []int{16, 20, 2}) {
		t.Fatalf("grid shape %v, want [16 20 2]", shape)
	}
	if d := maxDiff(a, b); d > 0.02 {
		t.Errorf("grids from the PNG and the .npy map differ by %g, want under 0.02", d)
	}
	ident := 0.0
	for i := range 16 {
		for j := range 20 {
			ident = max(ident, math.Abs(float64(b[(i*20+j)*2])-(-1+2*float64(j)/19)))
		}
	}
	if ident < 0.05 {
		t.Errorf("a peaked map gave a grid within %g of the identity: the map had no effect", ident)
	}
}

func TestWarpBadInput(t *testing.T) {
	in := t.TempDir()
	warpInputs(t, in)
	p := func(name string) string { return filepath.Join(in, name) }
	// A valid map whose generator would need 2 x 200000^2 matrix entries.
	writeNpy(t, p("long.npy"), mapOf(2, 200000, func(i, j int) float32 { return 1 }))
	tests := []struct {
		name    string
		args    []string // replacing the defaults below
		usage   bool
		wantMsg string
	}{
		{"missing image", []string{"--image", p("nope.png")}, false, "no such file"},
		{"unreadable image", []string{"--image", p("garbage.png")}, false, "not a PNG or JPEG"},
		{"missing map", []string{"--saliency", p("nope.npy")}, false, "no such file"},
		{"size 0x10", []string{"--size", "0x10"}, true, "--size"},
		{"size 64", []string{"--size", "64"}, true, "not WxH"},
		{"size letters", []string{"--size", "axb"}, true, "not WxH"},
		{"nan map", []string{"--saliency", p("nan.npy")}, false, "non-finite"},
		{"negative map", []string{"--saliency", p("negative.npy")}, false, "negative"},
		{"zero map", []string{"--saliency", p("zero.npy")}, false, "all zero"},
		{"1-D map", []string{"--saliency", p("1d.npy")}, false, "want 2-D"},
		{"3-D map", []string{"--saliency", p("3d.npy")}, false, "want 2-D"},
		{"integer map", []string{"--saliency", p("int.npy")}, false, "want float32 or float64"},
		{"colour PNG map", []string{"--saliency", p("colour.png")}, false, "not grayscale"},
		{"2 x 200000 map", []string{"--saliency", p("long.npy")}, false, "long.npy: invalid grid generator parameters: grid 200000x2 (w x h) has a side longer than 2048"},
		{"reflect too wide", []string{"--padding-mode", "reflect", "--padding", "9"}, false, "reflect padding 9"},
		{"unknown mode", []string{"--padding-mode", "zeros"}, true, "padding-mode"},
		{"no output", []string{"--out", ""}, true, "--out is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outDir := t.TempDir()
			flags := map[string]string{
				"--image": p("image.png"), "--saliency": p("good.npy"), "--size": "16x12",
				"--out": filepath.Join(outDir, "out.png"), "--grid-out": filepath.Join(outDir, "grid.npy"),
				"--padding": "8", "--fwhm": "4",
			}
			for i := 0; i+1 < len(tt.args); i += 2 {
				flags[tt.args[i]] = tt.args[i+1]
			}
			args := []string{"warp"}
			for k, v := range flags {
				args = append(args, k, v)
			}
			code, stdout, stderr := runCmd(args...)
			wantCode := exitError
			if tt.usage {
				wantCode = exitUsage
			}
			if code != wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, wantCode, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if !strings.HasPrefix(lines[0], "zoomtrain: ") || !strings.Contains(lines[0], tt.wantMsg) {
				t.Errorf("first stderr line %q, want a 'zoomtrain: ' error containing %q", lines[0], tt.wantMsg)
			}
			if max := 1 + btoi(tt.usage); len(lines) > max {
				t.Errorf("stderr has %d lines, want at most %d: %q", len(lines), max, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			entries, err := os.ReadDir(outDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("left %s behind", e.Name())
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestWarpWriteFailureLeavesNoGrid checks that when the image cannot be written the grid
// written before it is removed too.
func TestWarpWriteFailureLeavesNoGrid(t *testing.T) {
	in, outDir := t.TempDir(), t.TempDir()
	warpInputs(t, in)
	gridPath := filepath.Join(outDir, "grid.npy")
	code, _, stderr := runCmd("warp", "--image", filepath.Join(in, "image.png"), "--saliency", filepath.Join(in, "good.npy"),
		"--size", "16x12", "--padding", "8", "--fwhm", "4", "--grid-out", gridPath,
		"--out", filepath.Join(outDir, "missing-dir", "out.png"))
	if code == 0 {
		t.Fatal("writing into a missing directory succeeded")
	}
	if !strings.Contains(stderr, "write image") {
		t.Errorf("stderr %q, want it to name the image write", stderr)
	}
	if _, err := os.Stat(gridPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("grid file left behind (stat error %v)", err)
	}
}
