package membudget

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAvailable(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := write("meminfo", "MemTotal:       24000000 kB\nMemAvailable:    8000000 kB\n")
	cgMax := write("max", "4000000000\n")
	cgCur := write("current", "1000000000\n")
	cgNone := write("none", "max\n")
	none := filepath.Join(dir, "missing")
	cases := []struct {
		name      string
		env       []string
		files     Files
		wantBytes int64
		wantSrc   string
	}{
		{"meminfo", nil, Files{Meminfo: meminfo, CgroupMax: none, CgroupCurrent: none}, 8000000 << 10, "MemAvailable"},
		{"cgroup tighter", nil, Files{Meminfo: meminfo, CgroupMax: cgMax, CgroupCurrent: cgCur}, 3000000000, "cgroup memory.max"},
		{"cgroup without limit", nil, Files{Meminfo: meminfo, CgroupMax: cgNone, CgroupCurrent: cgCur}, 8000000 << 10, "MemAvailable"},
		{"override", []string{"PATH=/bin", EnvVar + "=2GiB"}, Files{Meminfo: meminfo}, 2 << 30, EnvVar},
		{"off", []string{EnvVar + "=off"}, Files{Meminfo: meminfo}, 0, EnvVar + "=off"},
		{"nothing readable", nil, Files{Meminfo: none, CgroupMax: none, CgroupCurrent: none, SelfStatus: none}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Available(tc.env, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			// A ulimit -v on the test process could be tighter still.
			if l.Source == "ulimit -v" {
				t.Skip("the test runs under an address-space limit")
			}
			if l.Bytes != tc.wantBytes || l.Source != tc.wantSrc {
				t.Errorf("got %d from %q, want %d from %q", l.Bytes, l.Source, tc.wantBytes, tc.wantSrc)
			}
		})
	}
	if _, err := Available([]string{EnvVar + "=lots"}, Files{}); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf("bad override: error %v, want one naming %s", err, EnvVar)
	}
}

func TestCheck(t *testing.T) {
	l := Limit{Bytes: 2e9, Source: "MemAvailable"}
	if err := l.Check("x", 2e9); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	err := l.Check("training at batch size 100000000", 75.2e12)
	want := "not enough memory: training at batch size 100000000 needs an estimated 75.2 TB, more than the 2 GB available (MemAvailable; ZOOMTRAIN_MEMORY_LIMIT overrides it)"
	if !errors.Is(err, ErrTooMuch) || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := (Limit{}).Check("x", 1<<62); err != nil {
		t.Errorf("no limit: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"8GiB", 8 << 30, true}, {"800MB", 800e6, true}, {"5e9", 5e9, true}, {"12 kB", 12000, true},
		{"1.5GiB", 3 << 29, true}, {"0", 0, false}, {"-1GB", 0, false}, {"lots", 0, false}, {"1e30", 0, false}, {"NaN", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
