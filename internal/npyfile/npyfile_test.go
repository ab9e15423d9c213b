package npyfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
)

// npyBytes builds a .npy file by hand (version 1) from a header dictionary and raw
// data, independently of Write.
func npyBytes(dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)+1))
	b.WriteString(dict + "\n")
	b.Write(data)
	return b.Bytes()
}

func le32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func be64(v ...float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.BigEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func TestRead2DLayouts(t *testing.T) {
	// The 2 x 3 array [[1 2 3] [4 5 6]] in each layout the reader accepts.
	want := []float32{1, 2, 3, 4, 5, 6}
	cases := []struct {
		name string
		file []byte
	}{
		{"C order float32", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le32(1, 2, 3, 4, 5, 6))},
		{"Fortran order float32", npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", le32(1, 4, 2, 5, 3, 6))},
		{"big-endian float64", npyBytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", be64(1, 2, 3, 4, 5, 6))},
		{"double quotes, no trailing comma", npyBytes(`{"shape": (2,3), "fortran_order": False, "descr": "<f4"}`, le32(1, 2, 3, 4, 5, 6))},
		{"version 2 header", func() []byte {
			dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"
			var b bytes.Buffer
			b.WriteString("\x93NUMPY\x02\x00")
			binary.Write(&b, binary.LittleEndian, uint32(len(dict)))
			b.WriteString(dict)
			b.Write(le32(1, 2, 3, 4, 5, 6))
			return b.Bytes()
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, h, w, err := Read2D(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if h != 2 || w != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v (%dx%d), want %v (2x3)", got, h, w, want)
			}
		})
	}
}

// TestReadSharedTestVectors reads the NumPy-written test vectors and compares with
// npyio, an independent reader.
func TestReadSharedTestVectors(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/warp/*/saliency.npy")
	grids, _ := filepath.Glob("../../testdata/warp/*/grid.npy")
	if len(paths) == 0 || len(grids) == 0 {
		t.Fatal("no test vectors under testdata/warp at the repository root")
	}
	for _, p := range append(paths, grids...) {
		ndim := 2
		if strings.HasSuffix(p, "grid.npy") {
			ndim = 3
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, shape, err := Read(f, ndim)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want, wantShape := readWithNpyio(t, p)
		if fmt.Sprint(shape) != fmt.Sprint(wantShape) {
			t.Errorf("%s: shape %v, want %v", p, shape, wantShape)
		}
		if d := firstDiff(got, want); d >= 0 {
			t.Errorf("%s: value %d is %g, want %g", p, d, got[d], want[d])
		}
	}
}

func readWithNpyio(t *testing.T, path string) ([]float32, []int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := npyio.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var v []float32
	if err := r.Read(&v); err != nil {
		t.Fatal(err)
	}
	return v, r.Header.Descr.Shape
}

func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestWriteReadsBackWithNpyio: what Write produces, npyio reads as the same array, and
// so does Read.
func TestWriteReadsBackWithNpyio(t *testing.T) {
	cases := []struct {
		shape []int
	}{{[]int{3}}, {[]int{2, 5}}, {[]int{4, 3, 2}}, {[]int{0, 7}}}
	for _, tc := range cases {
		n := 1
		for _, d := range tc.shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i)*0.25 - 1
		}
		path := filepath.Join(t.TempDir(), "a.npy")
		if err := WriteFile(path, v, tc.shape...); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if (len(raw)-4*n)%64 != 0 {
			t.Errorf("shape %v: data starts at byte %d, not on a 64-byte boundary", tc.shape, len(raw)-4*n)
		}
		got, shape := readWithNpyio(t, path)
		if fmt.Sprint(shape) != fmt.Sprint(tc.shape) || firstDiff(got, v) >= 0 && n > 0 {
			t.Errorf("npyio reads %v %v, want %v %v", shape, got, tc.shape, v)
		}
		back, shape2, err := Read(bytes.NewReader(raw), len(tc.shape))
		if err != nil || fmt.Sprint(shape2) != fmt.Sprint(tc.shape) || firstDiff(back, v) >= 0 && n > 0 {
			t.Errorf("Read gives %v %v, %v; want %v %v", shape2, back, err, tc.shape, v)
		}
	}
}

func TestWriteChecksShape(t *testing.T) {
	cases := []struct {
		shape   []int
		wantErr bool
	}{{[]int{5}, false}, {[]int{1, 5}, false}, {[]int{2, 2}, true}, {[]int{-1, -5}, true}, {nil, true}}
	for _, tc := range cases {
		err := Write(&bytes.Buffer{}, make([]float32, 5), tc.shape...)
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("shape %v for 5 values: error %v, want error %v", tc.shape, err, tc.wantErr)
		}
	}
}

func TestReadRejects(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
	data := le32(1, 2, 3, 4)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "fewer than"},
		{"no magic", []byte("P6 not numpy at all"), "no .npy magic"},
		{"version 9", []byte("\x93NUMPY\x09\x00\x10\x00"), "format version 9.0"},
		{"truncated header", npyBytes(good, data)[:30], "truncated"},
		{"header not a dict", npyBytes("['descr']", data), "not a dictionary"},
		{"int dtype", npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", data), "dtype \"<i4\""},
		{"object dtype", npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", data), "want float32"},
		{"1-D", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data), "want 2-D"},
		{"3-D", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", data), "want 2-D"},
		{"negative dimension", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -2), }", data), "shape is not a tuple"},
		{"lying shape, short data", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }", data), "needs 36 bytes of data, the file holds 16"},
		{"lying shape, long data", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", data), "continues past"},
		{"huge shape", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 100000000), }", data), "larger than the limit"},
		{"overflowing dimension", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }", data), "shape is not a tuple"},
		{"missing key", npyBytes("{'descr': '<f4', 'shape': (2, 2), }", data), "no \"fortran_order\""},
		{"unknown key", npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", data), "unknown header key"},
		{"duplicate key", npyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}", data), "appears twice"},
		{"fortran_order 1", npyBytes("{'descr': '<f4', 'fortran_order': 1, 'shape': (2, 2), }", data), "not True or False"},
		{"junk after dict", npyBytes(good+" junk", data), "after the dictionary"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := Read2D(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one wrapping ErrFormat and containing %q", err, tc.want)
			}
		})
	}
}

func TestReadFile2DNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.npy")
	if err := os.WriteFile(path, []byte("nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := ReadFile2D(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("error %v, want one starting with the path", err)
	}
	if _, _, _, err := ReadFile2D(filepath.Join(t.TempDir(), "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want not-exist", err)
	}
}

// FuzzRead2D: no input panics, and whatever reads back writes and reads again the same.
func FuzzRead2D(f *testing.F) {
	f.Add(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", le32(1, 2, 3, 4)))
	f.Add(npyBytes("{'descr': '>f8', 'fortran_order': True, 'shape': (1, 2), }", be64(1, 2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, h, w, err := Read2D(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if len(v) != h*w {
			t.Fatalf("%d values for %dx%d", len(v), h, w)
		}
		var buf bytes.Buffer
		if err := Write(&buf, v, h, w); err != nil {
			t.Fatal(err)
		}
		again, h2, w2, err := Read2D(&buf)
		if err != nil || h2 != h || w2 != w || firstDiff(again, v) >= 0 && len(v) > 0 {
			t.Fatalf("round trip: %dx%d %v, want %dx%d", h2, w2, err, h, w)
		}
	})
}
