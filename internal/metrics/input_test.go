package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"zoomtrain/internal/inputfile"
	"zoomtrain/internal/inputfile/inputfiletest"
)

// TestRefusesNonRegularAndHuge: a FIFO or a directory named metrics.jsonl, or a file
// over MaxFileBytes, is an error from Read, Truncate and Append, in bounded time.
func TestRefusesNonRegularAndHuge(t *testing.T) {
	dir := t.TempDir()
	fifo := inputfiletest.FIFO(t, dir, "fifo.jsonl")
	huge := filepath.Join(dir, "huge.jsonl")
	if err := Append(huge, rec(1, 1)); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(huge)
	if err != nil {
		t.Fatal(err)
	}
	inputfiletest.Sparse(t, huge, body, MaxFileBytes+1)
	inputfiletest.CheckRefused(t, map[string]func(string) error{
		"Read":     func(p string) error { _, err := Read(p); return err },
		"Truncate": func(p string) error { return Truncate(p, 0) },
		"Append":   func(p string) error { return Append(p, rec(2, 1)) },
	}, []inputfiletest.Case{
		{Path: fifo, Want: inputfile.ErrNotRegular, Text: "is a FIFO"},
		{Path: dir, Want: inputfile.ErrNotRegular, Text: "is a directory"},
		{Path: huge, Want: inputfile.ErrTooLarge, Text: "67108865 bytes, the limit is 67108864"},
	})
	if st, err := os.Stat(huge); err != nil || st.Size() != MaxFileBytes+1 {
		t.Errorf("the refused file was changed: %v, %v", st, err)
	}
}

// TestRecordSize backs MaxFileBytes's estimate of a record's size.
func TestRecordSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	// Every float at full precision, as a real run writes them.
	r := rec(12345, 0.12345678901234567)
	r.TrainAcc, r.ValTop1, r.ValTop5 = 0.1234567890123456, 0.9876543210987654, 0.9999999999999999
	r.Seconds, r.ImagesPerS, r.BlurSigma = 1234.5678901234567, 812.34567890123456, 2.7182818284590452
	r.LR = map[string]float64{"task": 0.0012345678901234567, "saliency": 0.00012345678901234567}
	if err := Append(p, r); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one full-precision record: %d bytes", st.Size())
	if st.Size() > 400 {
		t.Errorf("a record takes %d bytes, MaxFileBytes assumes under 400", st.Size())
	}
}
