package checkpoint

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad writes arbitrary bytes to a file and loads it: Load and Peek must never
// panic, must agree, and must accept only what round-trips. Each input is also tried
// as a payload inside a frame with a valid checksum, so that the decoder behind the
// checksum gets fuzzed too.
func FuzzLoad(f *testing.F) {
	f.Add(encoded(f, sample()))
	f.Add(encoded(f, &Checkpoint{}))
	f.Add(payloadOf(`{"weights":[{"name":"w","shape":[2]}]}`, make([]byte, 8)))
	// One folder per worker process; the fuzz function runs sequentially in each, and
	// a fresh t.TempDir per input would dominate the run time.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		for i, content := range [][]byte{b, framed(FormatVersion, uint64(len(b)), b)} {
			path := filepath.Join(dir, "x.ckpt")
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			_, peekErr := Peek(path)
			if (err == nil) != (peekErr == nil) {
				t.Fatalf("input %d: Load error %v but Peek error %v", i, err, peekErr)
			}
			if err != nil {
				continue
			}
			// Whatever loads must encode and load back the same. (encode, not Save:
			// Save's fsyncs would slow the fuzzer to a crawl.)
			if err := check(c); err != nil {
				t.Fatalf("input %d: a loaded checkpoint fails Save's checks: %v", i, err)
			}
			again := filepath.Join(dir, "again.ckpt")
			if err := os.WriteFile(again, encoded(t, c), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Load(again)
			if err != nil {
				t.Fatalf("input %d: Load after Save: %v", i, err)
			}
			sameCheckpoint(t, got, c)
		}
	})
}

// TestFuzzCorpusHasValidCheckpoint keeps a loadable checkpoint in the seed corpus, so
// the fuzzer starts from inputs that reach the decoder.
func TestFuzzCorpusHasValidCheckpoint(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLoad", "valid-small"))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	if !ok || !strings.HasPrefix(lit, "[]byte(") || !strings.HasSuffix(lit, ")") {
		t.Fatalf("corpus file is not in the fuzz format: %q", raw)
	}
	b, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(writeTemp(t, []byte(b)))
	if err != nil {
		t.Fatalf("Load(valid-small seed): %v", err)
	}
	if len(c.Weights) != 1 || len(c.Optimizer) != 1 || c.Step != 4 {
		t.Errorf("valid-small seed holds %+v, want one weight, one optimizer tensor, step 4", c)
	}
}
