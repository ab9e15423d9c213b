package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetTrainingGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	tests := []struct {
		env  []string
		want int
	}{
		{[]string{"HOME=/x"}, trainingGCPercent},
		{[]string{"GOGC=200"}, 100},
		{[]string{"GOMEMLIMIT=1GiB"}, 100},
	}
	for _, tc := range tests {
		restore := setTrainingGC(tc.env)
		got := debug.SetGCPercent(100) // reads the setting; restore puts it back
		debug.SetGCPercent(got)
		restore()
		if got != tc.want {
			t.Errorf("env %v: GOGC %d during training, want %d", tc.env, got, tc.want)
		}
		if after := debug.SetGCPercent(100); after != 100 {
			t.Errorf("env %v: GOGC %d after restore, want 100", tc.env, after)
		}
	}
}

func TestMemProfilerWritesEachStageOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "heap.prof")
	var errs []error
	m := &memProfiler{path: p, warnings: func(err error) { errs = append(errs, err) }}
	m.at(1) // evaluation before the steps' profile: nothing yet
	if _, err := os.Stat(p + ".eval"); err == nil {
		t.Fatal("wrote the evaluation profile before the steps' profile")
	}
	m.at(0)
	m.at(0) // a second epoch's steps: no new profile
	m.at(1)
	for _, f := range []string{p, p + ".eval"} {
		st, err := os.Stat(f)
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size %v), want a profile", f, err, st)
		}
	}
	if m.wrote != 2 || len(errs) != 0 {
		t.Errorf("wrote %d profiles with errors %v, want 2 and none", m.wrote, errs)
	}
	bad := &memProfiler{path: filepath.Join(dir, "missing", "heap.prof"), warnings: func(err error) { errs = append(errs, err) }}
	bad.at(0)
	if len(errs) != 1 {
		t.Errorf("an unwritable profile path gave %d warnings, want 1", len(errs))
	}
	var none *memProfiler
	none.at(0) // no --memprofile: nothing happens
}
