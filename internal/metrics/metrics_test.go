package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func rec(epoch int, loss float64) Record {
	r := NewRecord(epoch, epoch*100)
	r.TrainLoss, r.TrainAcc = loss, 0.5
	r.ValLoss, r.ValTop1, r.ValTop5 = loss+0.1, 0.4, 0.9
	r.Seconds, r.ImagesPerS, r.BlurSigma = 12.5, 800, 3
	r.LR = map[string]float64{"task": 0.01, "saliency": 0.001}
	r.Time = "2025-01-02T03:04:05Z"
	return r
}

// same compares records treating NaN as equal to NaN.
func same(a, b Record) bool {
	eq := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	if a.Epoch != b.Epoch || a.Step != b.Step || a.Time != b.Time || len(a.LR) != len(b.LR) {
		return false
	}
	for k, v := range a.LR {
		if w, ok := b.LR[k]; !ok || w != v {
			return false
		}
	}
	return eq(a.TrainLoss, b.TrainLoss) && eq(a.TrainAcc, b.TrainAcc) && eq(a.ValLoss, b.ValLoss) &&
		eq(a.ValTop1, b.ValTop1) && eq(a.ValTop5, b.ValTop5) && eq(a.Seconds, b.Seconds) &&
		eq(a.ImagesPerS, b.ImagesPerS) && eq(a.BlurSigma, b.BlurSigma)
}

func TestAppendReadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	noVal := rec(2, 1.5)
	noVal.ValLoss, noVal.ValTop1, noVal.ValTop5 = math.NaN(), math.NaN(), math.NaN()
	zero := Record{Epoch: 3, Time: "2025-01-02T03:04:05Z"} // zeros are values, not missing
	want := []Record{rec(1, 2.0), noVal, zero}
	for _, r := range want {
		if err := Append(path, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("file has %d lines, want 3:\n%s", len(lines), raw)
	}
	if strings.Contains(lines[1], "val_loss") {
		t.Errorf("line for a record without validation = %s, want no val_loss key", lines[1])
	}
	for _, key := range []string{`"epoch":1`, `"train_loss":2`, `"val_top5":0.9`, `"images_per_s":800`,
		`"blur_sigma":3`, `"lr":{"saliency":0.001,"task":0.01}`, `"time":"2025-01-02T03:04:05Z"`} {
		if !strings.Contains(lines[0], key) {
			t.Errorf("line 0 = %s, want it to contain %s", lines[0], key)
		}
	}
}

func TestAppendFillsTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.jsonl")
	if err := Append(path, NewRecord(1, 1)); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Time == "" {
		t.Fatalf("records = %+v, want one with a time", got)
	}
}

func TestAppendRejects(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Record)
	}{
		{"infinite loss", func(r *Record) { r.TrainLoss = math.Inf(1) }},
		{"nan lr", func(r *Record) { r.LR["task"] = math.NaN() }},
		{"bad time", func(r *Record) { r.Time = "yesterday" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.jsonl")
			r := rec(1, 1)
			tt.mod(&r)
			if err := Append(path, r); err == nil {
				t.Fatal("Append = nil error, want one")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stat after rejected append = %v, want not exist", err)
			}
		})
	}
}

const (
	line1 = `{"epoch":1,"step":10,"train_loss":2.5,"val_top1":0.3}`
	line2 = `{"epoch":2,"step":20,"train_loss":1.5,"val_top1":0.6}`
)

func TestReadTolerance(t *testing.T) {
	tests := []struct {
		name    string
		content string
		epochs  []int // nil with wantErr
		wantErr bool
	}{
		{"clean", line1 + "\n" + line2 + "\n", []int{1, 2}, false},
		{"empty file", "", []int{}, false},
		{"blank lines", "\n" + line1 + "\n\n" + line2 + "\n", []int{1, 2}, false},
		{"complete last line without newline", line1 + "\n" + line2, []int{1, 2}, false},
		{"torn last line", line1 + "\n" + line2[:17], []int{1}, false},
		{"torn first and only line", line1[:5], []int{}, false},
		{"corrupt middle line", line1 + "\n" + line2[:17] + "\n" + line2 + "\n", nil, true},
		{"corrupt last line with newline", line1 + "\n{oops\n", nil, true},
		{"missing epoch", `{"step":3}` + "\n", nil, true},
		{"wrong type", `{"epoch":"one"}` + "\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Read(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Read = %+v, nil error; want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var epochs []int
			for _, r := range got {
				epochs = append(epochs, r.Epoch)
			}
			if len(epochs) != len(tt.epochs) {
				t.Fatalf("epochs = %v, want %v", epochs, tt.epochs)
			}
			for i := range epochs {
				if epochs[i] != tt.epochs[i] {
					t.Fatalf("epochs = %v, want %v", epochs, tt.epochs)
				}
			}
		})
	}
}

func TestReadMissingFieldsAreNaN(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(path, []byte(line1+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.TrainLoss != 2.5 || r.ValTop1 != 0.3 || r.Step != 10 {
		t.Errorf("present fields = %+v, want train_loss 2.5, val_top1 0.3, step 10", r)
	}
	for name, v := range map[string]float64{"val_loss": r.ValLoss, "train_acc": r.TrainAcc, "blur_sigma": r.BlurSigma} {
		if !math.IsNaN(v) {
			t.Errorf("missing %s = %v, want NaN", name, v)
		}
	}
}

func TestReadMissingFile(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "absent.jsonl"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read of a missing file = %v, want an error wrapping os.ErrNotExist", err)
	}
}

// A crash mid-append leaves a fragment; the next Append must not glue onto it.
func TestAppendAfterTornLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		epochs  []int
	}{
		{"fragment is cut", line1 + "\n" + line2[:20], []int{1, 3}},
		{"whole record without newline is kept", line1 + "\n" + line2, []int{1, 2, 3}},
		{"only a fragment", line2[:9], []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Append(path, rec(3, 0.5)); err != nil {
				t.Fatal(err)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			var epochs []int
			for _, r := range got {
				epochs = append(epochs, r.Epoch)
			}
			if len(epochs) != len(tt.epochs) {
				t.Fatalf("epochs = %v, want %v", epochs, tt.epochs)
			}
			for i := range epochs {
				if epochs[i] != tt.epochs[i] {
					t.Fatalf("epochs = %v, want %v", epochs, tt.epochs)
				}
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	extra := `{"epoch":3,"step":30,"future_field":[1,2]}`
	content := line1 + "\n" + line2 + "\n" + extra + "\n" + `{"epoch":4}` + "\n"
	tests := []struct {
		epoch  int
		epochs []int
	}{
		{0, nil},
		{1, []int{1}},
		{3, []int{1, 2, 3}},
		{10, []int{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "m.jsonl")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Truncate(path, tt.epoch); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		var epochs []int
		for _, r := range got {
			epochs = append(epochs, r.Epoch)
		}
		if len(epochs) != len(tt.epochs) {
			t.Fatalf("Truncate(%d): epochs = %v, want %v", tt.epoch, epochs, tt.epochs)
		}
		for i := range epochs {
			if epochs[i] != tt.epochs[i] {
				t.Fatalf("Truncate(%d): epochs = %v, want %v", tt.epoch, epochs, tt.epochs)
			}
		}
		raw, _ := os.ReadFile(path)
		if tt.epoch >= 3 && !strings.Contains(string(raw), `"future_field":[1,2]`) {
			t.Errorf("Truncate(%d) dropped an unknown field: %s", tt.epoch, raw)
		}
	}
}

func TestTruncateMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := Truncate(filepath.Join(dir, "absent.jsonl"), 3); err != nil {
		t.Errorf("Truncate of a missing file = %v, want nil", err)
	}
	path := filepath.Join(dir, "bad.jsonl")
	content := "{bad\n" + line1 + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Truncate(path, 3); err == nil {
		t.Error("Truncate of a corrupt file = nil, want an error")
	}
	raw, _ := os.ReadFile(path)
	if string(raw) != content {
		t.Errorf("corrupt file after failed Truncate = %q, want it untouched", raw)
	}
}

func TestMarshalOmitsNaN(t *testing.T) {
	b, err := json.Marshal(NewRecord(5, 7))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"epoch":5,"step":7}`; got != want {
		t.Errorf("marshal of an empty record = %s, want %s", got, want)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(line1 + "\n" + line2))
	f.Add([]byte("{\"epoch\":1}\n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "m.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, err := Read(path)
		if err != nil {
			return
		}
		// Whatever Read accepts, an Append must extend by exactly one record.
		if err := Append(path, NewRecord(99, 0)); err != nil {
			t.Fatal(err)
		}
		again, err := Read(path)
		if err != nil {
			t.Fatalf("Read after Append: %v (file %q)", err, data)
		}
		if len(again) != len(recs)+1 || again[len(again)-1].Epoch != 99 {
			t.Fatalf("after Append: %d records, want %d ending in epoch 99", len(again), len(recs)+1)
		}
	})
}
