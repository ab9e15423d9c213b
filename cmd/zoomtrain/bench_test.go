package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchCommand runs a shrunken benchmark in-process: the JSON is keyed by variant
// with the fields scripts read, the table names every part, and bad flags are usage
// errors.
func TestBenchCommand(t *testing.T) {
	small := []string{"bench", "--in-process", "--steps", "2", "--warmup", "1", "--resolution", "64", "--batch-size", "2"}
	var out, errb bytes.Buffer
	if code := run(append(small, "--json"), streams{In: strings.NewReader(""), Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("bench --json: exit %d, stderr %q", code, errb.String())
	}
	var res map[string]map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out.String(), err)
	}
	for _, v := range []string{"saliency", "uniform"} {
		for _, key := range []string{"ms_per_step", "images_per_s", "peak_rss_mb", "parts", "engine"} {
			if _, ok := res[v][key]; !ok {
				t.Errorf("JSON for %s has no %q: %v", v, key, res[v])
			}
		}
	}
	out.Reset()
	errb.Reset()
	if code := run(append(small, "--variant", "saliency"), streams{In: strings.NewReader(""), Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("bench: exit %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{"saliency_net", "generator", "sampler", "task_net", "downsamples made ahead", "GEMM engine:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table does not mention %q:\n%s", want, out.String())
		}
	}
	for _, bad := range [][]string{{"bench", "--steps", "0"}, {"bench", "--variant", "zoom"}} {
		if code := run(bad, streams{In: strings.NewReader(""), Out: &out, Err: &errb}); code == 0 {
			t.Errorf("%v: exit 0, want a usage error", bad)
		}
	}
}
