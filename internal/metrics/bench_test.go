package metrics

import (
	"path/filepath"
	"testing"
)

// go test ./internal/metrics -run '^$' -bench . -benchtime 200x

// Append is dominated by fsync; this shows what one epoch's bookkeeping costs.
func BenchmarkAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.jsonl")
	r := rec(1, 1)
	for b.Loop() {
		if err := Append(path, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead1000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.jsonl")
	for i := range 1000 {
		if err := Append(path, rec(i, 1)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := Read(path); err != nil {
			b.Fatal(err)
		}
	}
}
