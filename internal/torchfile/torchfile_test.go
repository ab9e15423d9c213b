package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// manifestEntry is what scripts/make-torch-fixtures.py wrote beside each fixture:
// PyTorch's own account of every tensor.
type manifestEntry struct {
	Name   string    `json:"name"`
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	First  []float64 `json:"first"`
	Sum    float64   `json:"sum"`
	AbsSum float64   `json:"abs_sum"`
	WSum   float64   `json:"wsum"`
}

func readManifest(t *testing.T, path string) []manifestEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m []manifestEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func values(tn *Tensor) []float64 {
	var v []float64
	for _, x := range tn.Data {
		v = append(v, float64(x))
	}
	for _, x := range tn.Ints {
		v = append(v, float64(x))
	}
	return v
}

// TestManifests reads every fixture that has a manifest and checks each tensor
// against what PyTorch wrote: name and order, dtype, shape, leading values, and
// three sums, one of them position-weighted so that a wrong stride shows.
func TestManifests(t *testing.T) {
	manifests, err := filepath.Glob("testdata/*/*.json")
	if err != nil || len(manifests) < 9 {
		t.Fatalf("found %d manifests (%v), want at least 9", len(manifests), err)
	}
	for _, mpath := range manifests {
		path := strings.TrimSuffix(mpath, ".json")
		t.Run(path, func(t *testing.T) {
			want := readManifest(t, mpath)
			sd, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var wantNames []string
			for _, e := range want {
				wantNames = append(wantNames, e.Name)
			}
			if got := sd.Names(); !slices.Equal(got, wantNames) {
				t.Fatalf("names %v, want %v", got, wantNames)
			}
			for _, e := range want {
				tn, _ := sd.Tensor(e.Name)
				if tn.DType.String() != e.DType || !slices.Equal(tn.Shape, e.Shape) {
					t.Errorf("%s: %s %v, want %s %v", e.Name, tn.DType, tn.Shape, e.DType, e.Shape)
					continue
				}
				v := values(tn)
				if len(v) != tn.Len() {
					t.Errorf("%s: %d values for shape %v", e.Name, len(v), tn.Shape)
					continue
				}
				// float32 storage is exact; float64 is rounded to float32.
				tol := func(x float64) float64 { return 1e-6 * (1 + math.Abs(x)) }
				for i, f := range e.First {
					if math.Abs(v[i]-f) > tol(f) {
						t.Errorf("%s[%d] = %g, want %g", e.Name, i, v[i], f)
					}
				}
				var sum, abs, wsum float64
				for i, x := range v {
					sum += x
					abs += math.Abs(x)
					wsum += x * float64(i%7+1)
				}
				scale := 1e-6 * (1 + abs*7)
				if math.Abs(sum-e.Sum) > scale || math.Abs(abs-e.AbsSum) > scale || tn.DType.IsFloat() && math.Abs(wsum-e.WSum) > scale {
					t.Errorf("%s: sums %g %g %g, want %g %g %g", e.Name, sum, abs, wsum, e.Sum, e.AbsSum, e.WSum)
				}
			}
		})
	}
}

// TestBasicValues checks every value of the reader fixture against the formula
// the script made it from, in the zip, legacy and safetensors formats.
func TestBasicValues(t *testing.T) {
	base := func(i, j int) float32 { return 0.5*float32(4*i+j) - 1 }
	type want struct {
		dtype DType
		shape []int
		data  []float32
		ints  []int64
	}
	var transposed, slice, row []float32
	for i := range 4 {
		for j := range 3 {
			transposed = append(transposed, base(j, i))
		}
	}
	for i := range 2 {
		for j := range 2 {
			slice = append(slice, base(1+i, 2*j))
		}
	}
	for j := range 4 {
		row = append(row, base(2, j))
	}
	var all []float32
	for i := range 3 {
		for j := range 4 {
			all = append(all, base(i, j))
		}
	}
	wants := map[string]want{
		"base":                {Float32, []int{3, 4}, all, nil},
		"transposed":          {Float32, []int{4, 3}, transposed, nil},
		"slice":               {Float32, []int{2, 2}, slice, nil},
		"row":                 {Float32, []int{4}, row, nil},
		"scalar":              {Float32, []int{}, []float32{2.5}, nil},
		"num_batches_tracked": {Int64, []int{}, nil, []int64{7}},
		"ints":                {Int64, []int{4}, nil, []int64{-3, 0, 5, 1 << 40}},
		"f64":                 {Float64, []int{2, 2}, []float32{1.0 / 3, -2, 1e-3, 4}, nil},
		"f16":                 {Float16, []int{4}, []float32{1, -0.5, 65504, 5.9604645e-08}, nil},
		"bf16":                {BFloat16, []int{3}, []float32{1, -3, 0.15625}, nil},
		"mask":                {Bool, []int{3}, nil, []int64{1, 0, 1}},
		"empty":               {Float32, []int{0, 3}, []float32{}, nil},
	}
	for _, file := range []string{"basic.pth", "basic_legacy.pth", "basic.safetensors"} {
		t.Run(file, func(t *testing.T) {
			sd, err := ReadFile(filepath.Join("testdata", "reader", file))
			if err != nil {
				t.Fatal(err)
			}
			if sd.Len() < 10 {
				t.Fatalf("%d tensors, want at least 10", sd.Len())
			}
			for _, name := range sd.Names() {
				w, ok := wants[name]
				if !ok {
					t.Errorf("unexpected tensor %q", name)
					continue
				}
				tn, _ := sd.Tensor(name)
				if tn.DType != w.dtype || !slices.Equal(tn.Shape, w.shape) {
					t.Errorf("%s: %s %v, want %s %v", name, tn.DType, tn.Shape, w.dtype, w.shape)
				}
				if w.ints != nil && (tn.Data != nil || !slices.Equal(tn.Ints, w.ints)) {
					t.Errorf("%s: ints %v (data %v), want %v", name, tn.Ints, tn.Data, w.ints)
				}
				if w.data != nil && (tn.Ints != nil || !slices.Equal(tn.Data, w.data)) {
					t.Errorf("%s: data %v (ints %v), want %v", name, tn.Data, tn.Ints, w.data)
				}
			}
		})
	}
}

func TestStructures(t *testing.T) {
	cases := []struct {
		file  string
		names []string
	}{
		{"nested.pth", []string{"encoder.conv.weight", "head.bias"}},
		// The official main.py's checkpoint: epoch, arch, state_dict, best_prec1, optimizer.
		{"checkpoint.pth", []string{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"}},
		{"module.pth", []string{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "4.weight", "4.bias"}},
	}
	for _, c := range cases {
		sd, err := ReadFile(filepath.Join("testdata", "reader", c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if got := sd.Names(); !slices.Equal(got, c.names) {
			t.Errorf("%s: names %v, want %v", c.file, got, c.names)
		}
	}
	sd, err := ReadFile("testdata/official/official_w8.pth")
	if err != nil {
		t.Fatal(err)
	}
	task := sd.Sub("hi_res.")
	if n := task.Names(); len(n) != 122 || n[0] != "conv1.weight" || n[len(n)-1] != "fc.bias" {
		t.Errorf("Sub(hi_res.): %d names %v ... %v", len(n), n[:1], n[len(n)-1:])
	}
	io, err := ReadFile("testdata/official/official_w8_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if m := io.Metadata(); m["fwhm"] != "13" || m["task_input"] != "48" {
		t.Errorf("metadata %v", m)
	}
	f, _ := sd.Tensor("filter.weight")
	if f == nil || !slices.Equal(f.Shape, []int{1, 1, 61, 61}) || f.Data[30*61+30] != 1 {
		t.Errorf("filter.weight: %+v", f)
	}
}

// TestBadFiles checks each bad-input fixture's error: its kind and that it says
// what is wrong in one line.
func TestBadFiles(t *testing.T) {
	cases := []struct {
		file string
		kind error
		says string
	}{
		{"torchscript.pt", ErrTorchScript, "torch.save(model.state_dict(), path)"},
		{"whole_model.pth", ErrForbidden, `whole pickled model: refusing global "torch.nn.modules.container.Sequential"`},
		{"whole_model.pth", ErrNotStateDict, "torch.save(model.state_dict(), path)"},
		{"whole_model_legacy.pth", ErrForbidden, `"torch.nn.modules.container.Sequential"`},
		{"forbidden_os_system.pth", ErrForbidden, `"posix.system"`},
		{"forbidden_eval.pth", ErrForbidden, `"__builtin__.eval"`},
		{"not_state_dict.pth", ErrNotStateDict, `"epoch" is of type int`},
		{"complex.pth", ErrDType, "torch.ComplexFloatStorage"},
		{"truncated.pth", ErrFormat, "truncated or damaged zip"},
	}
	for _, c := range cases {
		path := filepath.Join("testdata", "reader", c.file)
		sd, err := ReadFile(path)
		if err == nil {
			t.Errorf("%s: read %d tensors, want an error", c.file, sd.Len())
			continue
		}
		msg := err.Error()
		if !errors.Is(err, c.kind) || !strings.Contains(msg, c.says) || !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want %v naming %s", c.file, msg, c.kind, c.says)
		}
	}
}

// zipTorch builds a torch.save-style zip archive by hand.
func zipTorch(t testing.TB, records map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	names := make([]string, 0, len(records))
	for n := range records {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f, err := w.CreateHeader(&zip.FileHeader{Name: "archive/" + n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(records[n])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pickle assembles a protocol-2 pickle from pieces; helpers below write opcodes.
func pickle(parts ...string) []byte { return []byte("\x80\x02" + strings.Join(parts, "") + ".") }

func global(module, name string) string { return "c" + module + "\n" + name + "\n" }
func ustr(s string) string {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	return "X" + string(n[:]) + s
}

// long is LONG1 of a non-negative value, 8 bytes and a zero sign byte.
func long(v uint64) string {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], v)
	return "\x8a\x09" + string(n[:]) + "\x00"
}

// tensorPickle is {name: _rebuild_tensor_v2(storage(key, numel), offset, shape, stride, False, OrderedDict())}.
func tensorPickle(name, storageType, key string, numel uint64, offset uint64, shape, stride []uint64) []byte {
	return pickle("}", ustr(name), tensorExpr(storageType, key, numel, offset, shape, stride), "s")
}

// tensorExpr pushes one tensor.
func tensorExpr(storageType, key string, numel uint64, offset uint64, shape, stride []uint64) string {
	tuple := func(v []uint64) string {
		s := "("
		for _, x := range v {
			s += long(x)
		}
		return s + "t"
	}
	return global("torch._utils", "_rebuild_tensor_v2") +
		"((" + ustr("storage") + global("torch", storageType) + ustr(key) + ustr("cpu") + long(numel) + "tQ" +
		long(offset) + tuple(shape) + tuple(stride) + "\x89" + global("collections", "OrderedDict") + ")R" + "tR"
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestHandMadePth(t *testing.T) {
	six := f32bytes(0, 1, 2, 3, 4, 5)
	good := tensorPickle("w", "FloatStorage", "0", 6, 1, []uint64{2, 2}, []uint64{1, 2})
	sd, err := Parse(zipTorch(t, map[string][]byte{"data.pkl": good, "data/0": six}))
	if err != nil {
		t.Fatal(err)
	}
	// Offset 1, strides (1, 2): [[1 3] [2 4]].
	if w, _ := sd.Tensor("w"); !slices.Equal(w.Data, []float32{1, 3, 2, 4}) {
		t.Errorf("strided view: %v, want [1 3 2 4]", w.Data)
	}
	big := zipTorch(t, map[string][]byte{"data.pkl": good, "data/0": six, "byteorder": []byte("big")})
	if sd, err := Parse(big); err != nil {
		t.Error(err)
	} else if w, _ := sd.Tensor("w"); w.Data[0] == 1 {
		t.Errorf("byteorder big ignored")
	}

	cases := []struct {
		name    string
		records map[string][]byte
		kind    error
		says    string
	}{
		{"view past the storage", map[string][]byte{"data.pkl": tensorPickle("w", "FloatStorage", "0", 6, 3, []uint64{2, 2}, []uint64{1, 2}), "data/0": six}, ErrFormat, "reaches beyond its storage"},
		{"view larger than the storage", map[string][]byte{"data.pkl": tensorPickle("w", "FloatStorage", "0", 6, 0, []uint64{7}, []uint64{0}), "data/0": six}, ErrFormat, "larger than its storage"},
		{"storage record too short", map[string][]byte{"data.pkl": tensorPickle("w", "FloatStorage", "0", 6, 0, []uint64{6}, []uint64{1}), "data/0": six[:20]}, ErrFormat, "has 20 bytes"},
		// A header claiming 2^32-1 values must be refused before anything is allocated.
		{"lying storage size", map[string][]byte{"data.pkl": tensorPickle("w", "FloatStorage", "0", math.MaxUint32, 0, []uint64{math.MaxUint32}, []uint64{1}), "data/0": six}, ErrFormat, "more than the file holds"},
		// numel * 4 wraps to 0 in 64 bits: an empty record must not pass for it.
		{"overflowing storage size", map[string][]byte{"data.pkl": tensorPickle("w", "FloatStorage", "0", 1<<62, 1<<40, []uint64{1}, []uint64{1}), "data/0": nil}, ErrFormat, "more than the file holds"},
		{"storage record missing", map[string][]byte{"data.pkl": good}, ErrFormat, "data/0 is missing"},
		{"no data.pkl", map[string][]byte{"data/0": six}, ErrFormat, "without data.pkl"},
		{"torchscript", map[string][]byte{"data.pkl": good, "data/0": six, "constants.pkl": pickle(")")}, ErrTorchScript, "TorchScript"},
		{"unknown storage type", map[string][]byte{"data.pkl": tensorPickle("w", "QInt8Storage", "0", 6, 0, []uint64{6}, []uint64{1}), "data/0": six}, ErrDType, "torch.QInt8Storage"},
		{"stack global", map[string][]byte{"data.pkl": pickle(ustr("os"), ustr("system"), "\x93", ustr("id"), "\x85R")}, ErrForbidden, `"os.system"`},
		{"builtins eval", map[string][]byte{"data.pkl": pickle(global("builtins", "eval"), ustr("1"), "\x85R")}, ErrForbidden, `"builtins.eval"`},
		{"getattr", map[string][]byte{"data.pkl": pickle(global("builtins", "getattr"))}, ErrForbidden, `"builtins.getattr"`},
		{"INST opcode", map[string][]byte{"data.pkl": pickle("(", "ios\nsystem\n")}, ErrFormat, "opcode 0x69 is not allowed"},
		{"calling a storage type", map[string][]byte{"data.pkl": pickle(global("torch", "FloatStorage"), ")R")}, ErrForbidden, "cannot be called"},
		{"list", map[string][]byte{"data.pkl": pickle("]")}, ErrNotStateDict, "holds a list"},
		{"empty dict", map[string][]byte{"data.pkl": pickle("}")}, ErrNotStateDict, "no tensors"},
		{"int key", map[string][]byte{"data.pkl": pickle("}", "K\x01", ustr("x"), "s")}, ErrNotStateDict, "key 1 of type int"},
		{"unterminated", map[string][]byte{"data.pkl": []byte("\x80\x02}")}, ErrFormat, "no STOP"},
		{"long string", map[string][]byte{"data.pkl": []byte("\x80\x02X\xff\xff\xff\x7f")}, ErrFormat, "exceeds"},
		{"compressed record", nil, ErrFormat, "compressed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(nil)
			if c.records != nil {
				data = zipTorch(t, c.records)
			} else {
				var b bytes.Buffer
				w := zip.NewWriter(&b)
				f, _ := w.Create("archive/data.pkl") // Deflate
				f.Write(good)
				w.Close()
				data = b.Bytes()
			}
			_, err := Parse(data)
			if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want %v saying %q", err, c.kind, c.says)
			}
		})
	}
}

func TestLegacyLies(t *testing.T) {
	data, err := os.ReadFile("testdata/reader/basic_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	// The first storage's 8-byte count follows the keys pickle; find it by the
	// count PyTorch wrote for "base"'s storage (12 values) and make it lie.
	i := bytes.Index(data, []byte("\x0c\x00\x00\x00\x00\x00\x00\x00"))
	if i < 0 {
		t.Fatal("storage count not found")
	}
	for _, lie := range []uint64{13, 1 << 40, math.MaxUint64} {
		bad := slices.Clone(data)
		binary.LittleEndian.PutUint64(bad[i:], lie)
		if _, err := Parse(bad); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "holds") {
			t.Errorf("count %d: error %v", lie, err)
		}
	}
}

func safetensorsFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestSafetensorsBad(t *testing.T) {
	d := f32bytes(1, 2, 3, 4)
	good := `{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`
	if sd, err := Parse(safetensorsFile(good, d)); err != nil {
		t.Fatal(err)
	} else if a, _ := sd.Tensor("a"); !slices.Equal(a.Data, []float32{1, 2, 3, 4}) {
		t.Fatalf("a = %v", a.Data)
	}
	cases := []struct {
		name string
		file []byte
		kind error
		says string
	}{
		{"unknown dtype", safetensorsFile(`{"a":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}`, d), ErrDType, `"F8_E4M3" of tensor "a"`},
		{"shape lies", safetensorsFile(`{"a":{"dtype":"F32","shape":[4000000000,4000000000],"data_offsets":[0,16]}}`, d), ErrFormat, "more than the 4 values"},
		{"shape too small", safetensorsFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, d), ErrFormat, "needs 3"},
		{"offsets past the end", safetensorsFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,1600000000000]}}`, d), ErrFormat, "outside"},
		{"gap", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, d), ErrFormat, "starts at data byte 8"},
		{"overlap", safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d), ErrFormat, "previous one ends at 16"},
		{"trailing bytes", safetensorsFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}`, d), ErrFormat, "cover 12 of the 16"},
		{"duplicate name", safetensorsFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, d), ErrFormat, "twice"},
		{"unknown field", safetensorsFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":1}}`, d), ErrFormat, "unknown field"},
		{"header length lies", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, `{"a":1}`...), ErrFormat, "header of"},
		{"not an object", safetensorsFile(`{"a" 1`, d), ErrFormat, "safetensors"},
		{"no tensors", safetensorsFile(`{"__metadata__":{"k":"v"}}`, nil), ErrNotStateDict, "no tensors"},
		{"odd bytes", safetensorsFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,5]}}`, append(d, 0)), ErrFormat, "whole"},
		{"neither format", []byte("hello, world"), ErrFormat, "neither"},
	}
	for _, c := range cases {
		_, err := Parse(c.file)
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want %v saying %q", c.name, err, c.kind, c.says)
		}
	}
}

// TestTruncations cuts each reader fixture at many lengths: each must give an
// error, never a panic or a partial result.
func TestTruncations(t *testing.T) {
	for _, file := range []string{"basic.pth", "basic_legacy.pth", "basic.safetensors", "checkpoint.pth"} {
		data, err := os.ReadFile(filepath.Join("testdata", "reader", file))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(data); n += 1 + n/64 {
			if sd, err := Parse(data[:n]); err == nil {
				t.Errorf("%s cut to %d of %d bytes: read %d tensors", file, n, len(data), sd.Len())
			}
		}
	}
}

// TestLiesDoNotAllocate: headers that claim huge tensors cost memory in
// proportion to the file, not the claim.
func TestLiesDoNotAllocate(t *testing.T) {
	inputs := [][]byte{
		safetensorsFile(`{"a":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8000000000]}}`, nil),
		zipTorch(t, map[string][]byte{"data.pkl": tensorPickle("w", "DoubleStorage", "0", math.MaxUint32, 0, []uint64{math.MaxUint32}, []uint64{1}), "data/0": f32bytes(1, 2)}),
		[]byte("\x80\x02\x8b\xff\xff\xff\x7f"),                 // LONG4 of 2 GiB
		[]byte("\x80\x02\x96\xff\xff\xff\xff\xff\xff\xff\x7f"), // BYTEARRAY8 of 2^63 bytes
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, in := range inputs {
		if _, err := Parse(in); err == nil {
			t.Errorf("input %d parsed", i)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("lying inputs allocated %d bytes", d)
	}
}

func TestHalfToFloat(t *testing.T) {
	for h := range 1 << 16 {
		sign, exp, frac := h>>15, (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && frac == 0:
			want = math.Inf(1)
		case exp == 0x1f:
			want = math.NaN()
		case exp == 0:
			want = math.Ldexp(float64(frac), -24)
		default:
			want = math.Ldexp(1+float64(frac)/1024, exp-15)
		}
		if sign == 1 {
			want = -want
		}
		got := float64(halfToFloat(uint16(h)))
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("half %#04x: %g, want %g", h, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	sd, err := ReadFile("testdata/reader/module.pth")
	if err != nil {
		t.Fatal(err)
	}
	exact := []Spec{
		{"0.weight", []int{3, 2, 3, 3}, false}, {"0.bias", []int{3}, false},
		{"1.weight", []int{3}, false}, {"1.bias", []int{3}, false},
		{"1.running_mean", []int{3}, false}, {"1.running_var", []int{3}, false},
		{"1.num_batches_tracked", []int{}, true},
		{"4.weight", []int{2, 3}, false}, {"4.bias", []int{2}, false},
	}
	if err := Compare(sd, exact).Err(); err != nil {
		t.Fatalf("exact specs: %v", err)
	}
	wrong := slices.Clone(exact)
	wrong[7] = Spec{"4.weight", []int{10, 3}, false}         // misshapen
	wrong[6] = Spec{"1.num_batches_tracked", []int{}, false} // wrong kind
	wrong = append(wrong[:1], wrong[2:]...)                  // 0.bias unexpected
	wrong = append(wrong, Spec{"5.weight", []int{1}, false}) // missing
	m := Compare(sd, wrong)
	if !slices.Equal(m.Missing, []string{"5.weight"}) || !slices.Equal(m.Unexpected, []string{"0.bias"}) || len(m.Misshapen) != 2 {
		t.Fatalf("mismatch %+v", m)
	}
	want := "state_dict does not match the model: 1 missing (5.weight); 1 unexpected (0.bias); 2 misshapen (1.num_batches_tracked is int64 [], the model wants float [], 4.weight is float32 [2 3], the model wants float [10 3])"
	if err := m.Err(); err == nil || err.Error() != want || !errors.Is(err, ErrMismatch) {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	var many []Spec
	for i := range 7 {
		many = append(many, Spec{fmt.Sprintf("x%d", i), nil, false})
	}
	if err := Compare(sd, append(slices.Clone(exact), many...)).Err(); err == nil || !strings.Contains(err.Error(), "7 missing (x0, x1, x2, x3 and 3 more)") {
		t.Errorf("long list: %v", err)
	}
}

// TestPython2Strings: Python 2 pickles (PyTorch 0.4 checkpoints) write names and
// storage keys as byte strings (SHORT_BINSTRING); they read as names.
func TestPython2Strings(t *testing.T) {
	bstr := func(s string) string { return "U" + string(rune(len(s))) + s }
	pkl := pickle("}", bstr("w"), global("torch._utils", "_rebuild_tensor_v2"),
		"(", "(", bstr("storage"), global("torch", "FloatStorage"), bstr("0"), bstr("cpu"), "K\x02", "tQ",
		"K\x00", "K\x02\x85", "K\x01\x85", "\x89", global("collections", "OrderedDict"), "]\x85R", "tR", "s")
	sd, err := Parse(zipTorch(t, map[string][]byte{"data.pkl": pkl, "data/0": f32bytes(7, 8)}))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sd.Float32("w", 2); err != nil || !slices.Equal(v, []float32{7, 8}) {
		t.Errorf("w = %v, %v", v, err)
	}
}

func TestFloat32(t *testing.T) {
	sd, err := ReadFile("testdata/reader/module.pth")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := sd.Float32("4.bias", 2); err != nil || len(v) != 2 {
		t.Errorf("4.bias: %v, %v", v, err)
	}
	for _, c := range []struct {
		name  string
		shape []int
		says  string
	}{
		{"4.bias", []int{3}, `tensor "4.bias" has shape [2], want [3]`},
		{"1.num_batches_tracked", nil, `tensor "1.num_batches_tracked" is int64, not floating point`},
		{"fc.weight", []int{1}, `tensor "fc.weight" is missing`},
	} {
		if _, err := sd.Float32(c.name, c.shape...); err == nil || err.Error() != c.says {
			t.Errorf("%s: %v, want %s", c.name, err, c.says)
		}
	}
}

// TestSharedDicts: a dict that contains itself, or one shared under two keys at
// every level (2^20 names in a few hundred bytes), or a long key shared at every
// level, is refused quickly; so are dicts nested too deep.
func TestSharedDicts(t *testing.T) {
	self := pickle("}q\x00", ustr("a"), "h\x00", "s")
	shared := "\x80\x02" + tensorExpr("FloatStorage", "0", 2, 0, []uint64{2}, []uint64{1}) + "q\x00"
	for i := range 20 {
		shared += "0}(" + ustr("a") + "h" + string(byte(i)) + ustr("b") + "h" + string(byte(i)) + "uq" + string(byte(i+1))
	}
	// One 10 kB key, memoised, at each of 31 levels: a 310 kB name.
	long := "\x80\x02" + tensorExpr("FloatStorage", "0", 2, 0, []uint64{2}, []uint64{1}) + "q\x00" + ustr(strings.Repeat("k", 10000)) + "q\x01"
	for i := range 30 { // dict i, memo i+2, holds dict i-1 (memo i+1), dict 0 the tensor (memo 0)
		prev := byte(i + 1)
		if i == 0 {
			prev = 0
		}
		long += "0}h\x01h" + string(prev) + "sq" + string(byte(i+2))
	}
	long += "0}h\x01h\x1fs"
	deep := "\x80\x02" + strings.Repeat("}"+ustr("a"), 40) + tensorExpr("FloatStorage", "0", 2, 0, []uint64{2}, []uint64{1}) + strings.Repeat("s", 40) + "."
	for name, pkl := range map[string][]byte{"self": self, "shared": []byte(shared + "."), "long": []byte(long + "."), "deep": []byte(deep)} {
		_, err := Parse(zipTorch(t, map[string][]byte{"data.pkl": pkl, "data/0": f32bytes(1, 2)}))
		want := map[string]string{"self": "more or longer names", "shared": "more or longer names", "long": "more or longer names", "deep": "nested more than 32 deep"}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

func BenchmarkReadResNet50(b *testing.B) {
	data, err := os.ReadFile("testdata/resnet/resnet50_w8.pth")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOldTar(t *testing.T) {
	tar := make([]byte, 1024)
	copy(tar[257:], "ustar")
	if _, err := Parse(tar); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "tar format") {
		t.Errorf("tar: %v", err)
	}
}
