package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"zoomtrain/internal/atomicfile"
)

// sample is a small checkpoint that touches every part of the format: a scalar, an
// empty tensor, special float values, bytes in the config that are not UTF-8.
func sample() *Checkpoint {
	return &Checkpoint{
		ConfigYAML: []byte("train:\n  epochs: 3\n# \xff raw byte\n"),
		Classes:    []string{"zero", "one", "zwei ü"},
		Epoch:      2,
		Step:       123,
		Weights: []Tensor{
			{Name: "saliency/conv1/w", Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), float32(math.NaN()), float32(math.Copysign(0, -1))}},
			{Name: "task/fc/b", Shape: []int{}, Data: []float32{0.25}},
			{Name: "task/empty", Shape: []int{0, 4}, Data: []float32{}},
		},
		Buffers:   []Tensor{{Name: "task/bn1/mean", Shape: []int{3}, Data: []float32{0.1, 0.2, 0.3}}},
		Optimizer: []Tensor{{Name: "saliency/conv1/w/m", Shape: []int{2, 3}, Data: []float32{1e-8, 2, 3, 4, 5, 6}}},
		Extra:     map[string]string{"best_top1": "0.75", "history": `[{"epoch":1}]`},
	}
}

// sameTensors compares by bits, so NaN and -0 count as round-tripped only if exact.
func sameTensors(t *testing.T, what string, got, want []Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d tensors, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || !reflect.DeepEqual(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
			t.Errorf("%s[%d]: got %q %v (%d values), want %q %v (%d values)", what, i, g.Name, g.Shape, len(g.Data), w.Name, w.Shape, len(w.Data))
			continue
		}
		for j := range w.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Errorf("%s %q [%d]: got %v, want %v", what, w.Name, j, g.Data[j], w.Data[j])
			}
		}
	}
}

func sameCheckpoint(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if got.Version != FormatVersion {
		t.Errorf("Version: got %d, want %d", got.Version, FormatVersion)
	}
	if !bytes.Equal(got.ConfigYAML, want.ConfigYAML) {
		t.Errorf("ConfigYAML: got %q, want %q", got.ConfigYAML, want.ConfigYAML)
	}
	if !reflect.DeepEqual(got.Classes, want.Classes) || got.Epoch != want.Epoch || got.Step != want.Step {
		t.Errorf("classes, epoch, step: got %q %d %d, want %q %d %d", got.Classes, got.Epoch, got.Step, want.Classes, want.Epoch, want.Step)
	}
	if !reflect.DeepEqual(got.Extra, want.Extra) {
		t.Errorf("Extra: got %v, want %v", got.Extra, want.Extra)
	}
	sameTensors(t, "weights", got.Weights, want.Weights)
	sameTensors(t, "buffers", got.Buffers, want.Buffers)
	sameTensors(t, "optimizer", got.Optimizer, want.Optimizer)
}

func encoded(t testing.TB, c *Checkpoint) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := encode(&buf, c); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// framed wraps a payload in a frame with a valid checksum, to build files that pass
// the checksum but lie elsewhere.
func framed(version uint32, plen uint64, payload []byte) []byte {
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, plen)
	b = append(b, payload...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// payloadOf builds a payload from a JSON header, config and raw data.
func payloadOf(js string, rest []byte) []byte {
	p := binary.LittleEndian.AppendUint32(nil, uint32(len(js)))
	return append(append(p, js...), rest...)
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.ckpt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    *Checkpoint
	}{
		{"everything", sample()},
		{"empty", &Checkpoint{}},
		{"weights only", &Checkpoint{Weights: []Tensor{{Name: "w", Shape: []int{1}, Data: []float32{7}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run.ckpt")
			if err := Save(path, tt.c); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			sameCheckpoint(t, got, tt.c)

			peek, err := Peek(path)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			head := *tt.c
			for _, sec := range sections(&head) {
				ts := make([]Tensor, len(*sec.ts))
				for i, x := range *sec.ts {
					ts[i] = Tensor{Name: x.Name, Shape: x.Shape}
				}
				*sec.ts = ts
			}
			sameCheckpoint(t, peek, &head)
			for _, x := range peek.Weights {
				if x.Data != nil {
					t.Errorf("Peek: %q has data, want nil", x.Name)
				}
			}
		})
	}
}

// TestHeaderReadable keeps the promise that the start of a file says what it holds.
func TestHeaderReadable(t *testing.T) {
	b := encoded(t, sample())
	if !bytes.HasPrefix(b, []byte("ZTCKPT\n\x01\x00\x00\x00")) {
		t.Errorf("file starts %q, want the magic and version 1", b[:12])
	}
	if !bytes.Contains(b[:400], []byte(`"name":"saliency/conv1/w","shape":[2,3]`)) {
		t.Errorf("header JSON not found near the start: %q", b[:400])
	}
}

// errKind names which sentinel an error wraps, to check that each damage is reported
// as what it is.
func errKind(err error) string {
	var ve *VersionError
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, ErrNotCheckpoint):
		return "not a checkpoint"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrDamaged):
		return "damaged"
	case errors.As(err, &ve):
		return "version"
	}
	return "other: " + err.Error()
}

func TestEveryByteFlipDetected(t *testing.T) {
	good := encoded(t, sample())
	dir := t.TempDir()
	path := filepath.Join(dir, "x.ckpt")
	for i := range good {
		for _, mask := range []byte{0x01, 0xff} {
			b := bytes.Clone(good)
			b[i] ^= mask
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			for name, read := range map[string]func(string) (*Checkpoint, error){"Load": Load, "Peek": Peek} {
				c, err := read(path)
				if k := errKind(err); k == "nil" || strings.HasPrefix(k, "other") {
					t.Fatalf("%s after flipping byte %d with %#x: got %v (%s), want a format error", name, i, mask, c, k)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("%s error is not one line: %q", name, err)
				}
			}
		}
	}
}

func TestEveryTruncationDetected(t *testing.T) {
	good := encoded(t, sample())
	dir := t.TempDir()
	path := filepath.Join(dir, "x.ckpt")
	for n := range len(good) {
		if err := os.WriteFile(path, good[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if k := errKind(err); k != "truncated" {
			t.Fatalf("Load of the first %d of %d bytes: got %v (%s), want truncated", n, len(good), err, k)
		}
		if _, err := Peek(path); errKind(err) != "truncated" {
			t.Fatalf("Peek of the first %d bytes: got %v, want truncated", n, err)
		}
	}
	if err := os.WriteFile(path, append(bytes.Clone(good), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); errKind(err) != "damaged" {
		t.Errorf("Load with a trailing byte: got %v, want damaged", err)
	}
}

func TestRejects(t *testing.T) {
	big := payloadOf(`{"weights":[{"name":"w","shape":[1099511627776]}]}`, make([]byte, 8))
	tests := []struct {
		name    string
		content []byte
		kind    string
		msg     string
	}{
		{"text file", []byte("hello, this is not a checkpoint at all, honestly\n"), "not a checkpoint", "not a zoomtrain checkpoint"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "not a checkpoint", "not a zoomtrain checkpoint"},
		{"empty", nil, "truncated", "truncated checkpoint"},
		{"other version", framed(7, 4, []byte{0, 0, 0, 0}), "version", "checkpoint format version 7, this build reads 1"},
		{"version 0", framed(0, 4, []byte{0, 0, 0, 0}), "version", "checkpoint format version 0, this build reads 1"},
		{"lying payload length", framed(1, 1<<62, payloadOf(`{}`, nil)), "truncated", "header says 4611686018427387904 payload bytes"},
		{"lying header length", framed(1, 6, []byte{0xff, 0xff, 0xff, 0x7f, '{', '}'}), "damaged", "header length"},
		{"lying shape", framed(1, uint64(len(big)), big), "damaged", "does not fit"},
		{"negative shape", framed(1, 50, payloadOf(`{"weights":[{"name":"w","shape":[-1]}]}`, nil)), "damaged", "does not fit"},
		{"lying config length", framed(1, 24, payloadOf(`{"config_bytes":99}`, nil)), "damaged", "config length 99"},
		{"unknown header field", framed(1, 14, payloadOf(`{"zz":1}`, []byte("abcd")[:2])), "damaged", "unknown field"},
		{"values left over", framed(1, 10, payloadOf(`{}`, []byte{1, 2, 3, 4})), "damaged", "1 float32 values beyond"},
		{"partial value", framed(1, 8, payloadOf(`{}`, []byte{1, 2})), "damaged", "not whole float32 values"},
		{"bad json", framed(1, 7, payloadOf(`{"e`, nil)), "damaged", "header"},
		{"trailing json", framed(1, 10, payloadOf(`{} {}`, []byte{1})), "damaged", "trailing"},
		{"negative step", framed(1, 15, payloadOf(`{"step":-1}`, nil)), "damaged", "negative"},
		{"duplicate names", framed(1, 0, payloadOf(`{"buffers":[{"name":"a","shape":[]},{"name":"a","shape":[]}]}`, make([]byte, 8))), "damaged", `buffers: tensor name "a" appears twice`},
		{"empty name", framed(1, 0, payloadOf(`{"optimizer":[{"name":"","shape":[]}]}`, make([]byte, 4))), "damaged", "optimizer: tensor name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Frames built above with a guessed length are fixed to the real one,
			// except where the length itself is the lie.
			b := tt.content
			if bytes.HasPrefix(b, []byte(magic)) && tt.name != "lying payload length" {
				p := b[frameSize : len(b)-sumSize]
				v := binary.LittleEndian.Uint32(b[len(magic):])
				b = framed(v, uint64(len(p)), p)
			}
			path := writeTemp(t, b)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Load(path)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if k := errKind(err); k != tt.kind || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Load: got %v (%s), want %s containing %q", err, k, tt.kind, tt.msg)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("Load allocated %d bytes for a %d-byte file", grew, len(b))
			}
			if _, err := Peek(path); errKind(err) != tt.kind {
				t.Errorf("Peek: got %v, want %s", err, tt.kind)
			}
		})
	}
}

func TestLoadMissingAndDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "absent.ckpt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want a wrapped not-exist error", err)
	}
	if _, err := Load(dir); err == nil {
		t.Errorf("Load(directory) = nil error, want one")
	}
}

func TestSaveRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Checkpoint)
		want   string
	}{
		{"shape mismatch", func(c *Checkpoint) { c.Weights[0].Shape = []int{2, 2} }, `weights "saliency/conv1/w": shape [2 2] holds 4 values, data has 6`},
		{"scalar without value", func(c *Checkpoint) { c.Weights[1].Data = nil }, "holds 1 values, data has 0"},
		{"negative dimension", func(c *Checkpoint) { c.Buffers[0].Shape = []int{-3} }, "negative dimension"},
		{"duplicate name", func(c *Checkpoint) { c.Weights[1].Name = c.Weights[0].Name }, "appears twice"},
		{"empty name", func(c *Checkpoint) { c.Optimizer[0].Name = "" }, "optimizer: tensor name"},
		{"class not utf8", func(c *Checkpoint) { c.Classes[1] = "\xff" }, "class 1 is not valid UTF-8"},
		{"extra not utf8", func(c *Checkpoint) { c.Extra["rng"] = "\xfe" }, `extra "rng" is not valid UTF-8`},
		{"negative step", func(c *Checkpoint) { c.Step = -1 }, "negative epoch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sample()
			tt.mutate(c)
			path := filepath.Join(t.TempDir(), "x.ckpt")
			err := Save(path, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save: got %v, want an error containing %q", err, tt.want)
			}
			if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("Save failed but left %s (stat: %v)", path, statErr)
			}
		})
	}
	if err := Save(filepath.Join(t.TempDir(), "x.ckpt"), nil); err == nil {
		t.Errorf("Save(nil) = nil error, want one")
	}
}

// failAfter lets n bytes through, then fails every write with err, as a disk does
// when it fills or the process dies mid-write.
type failAfter struct {
	w   io.Writer
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return f.w.Write(p)
	}
	k, _ := f.w.Write(p[:f.n])
	f.n = 0
	return k, f.err
}

func TestInterruptedSaveKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last.ckpt")
	old := sample()
	if err := Save(path, old); err != nil {
		t.Fatal(err)
	}
	next := sample()
	next.Step = 999
	next.Weights[0].Data[0] = 42
	size := len(encoded(t, next))
	diskFull := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	for _, n := range []int{0, 1, frameSize, size / 2, size - sumSize, size - 1} {
		for _, cause := range []error{errors.New("killed"), diskFull} {
			t.Run(fmt.Sprintf("%d bytes %v", n, cause), func(t *testing.T) {
				err := save(path, next, func(w io.Writer) io.Writer { return &failAfter{w: w, n: n, err: cause} })
				if err == nil {
					t.Fatalf("save with a writer failing after %d bytes = nil error", n)
				}
				if full := errors.Is(err, atomicfile.ErrDiskFull); full != (cause == diskFull) || full && !strings.Contains(err.Error(), "disk full") {
					t.Errorf("save error %q: disk full = %v, want %v", err, full, cause == diskFull)
				}
				got, err := Load(path)
				if err != nil {
					t.Fatalf("Load after the failed save: %v", err)
				}
				sameCheckpoint(t, got, old)
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 1 {
					t.Errorf("directory holds %d entries after the failed save, want only %s", len(entries), filepath.Base(path))
				}
			})
		}
	}
	if err := Save(path, next); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, next)
}

// bigCheckpoint has about the size of the default model plus Adam state.
func bigCheckpoint(values int) *Checkpoint {
	c := &Checkpoint{ConfigYAML: []byte("seed: 0\n")}
	data := make([]float32, values)
	for i := range data {
		data[i] = float32(i) * 1e-3
	}
	c.Weights = []Tensor{{Name: "w", Shape: []int{values}, Data: data}}
	c.Optimizer = []Tensor{{Name: "w/m", Shape: []int{values}, Data: data}, {Name: "w/v", Shape: []int{values}, Data: data}}
	return c
}

func BenchmarkSave(b *testing.B) {
	c := bigCheckpoint(1 << 20)
	path := filepath.Join(b.TempDir(), "x.ckpt")
	b.SetBytes(int64(len(encoded(b, c))))
	for b.Loop() {
		if err := Save(path, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	c := bigCheckpoint(1 << 20)
	path := filepath.Join(b.TempDir(), "x.ckpt")
	if err := Save(path, c); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(encoded(b, c))))
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}
