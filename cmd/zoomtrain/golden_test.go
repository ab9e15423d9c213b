package main

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the output the tests get")

// checkGolden compares got with the file testdata/name, or writes it there with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// transcript records commands run in this process, their exit status and their stderr
// (and stdout where asked) for a golden file, with the temporary folder dir written
// as $TMP so the text does not change from run to run.
type transcript struct {
	dir string
	b   strings.Builder
}

func (tr *transcript) add(name string, code int, stdout, stderr string) {
	tr.b.WriteString("## " + name + "\n")
	tr.b.WriteString("exit " + strconv.Itoa(code) + "\n")
	if stdout != "" {
		tr.b.WriteString("stdout:\n" + stdout)
	}
	if stderr != "" {
		tr.b.WriteString("stderr:\n" + stderr)
	}
	tr.b.WriteString("\n")
}

func (tr *transcript) String() string {
	s := tr.b.String()
	if tr.dir != "" {
		s = strings.ReplaceAll(s, tr.dir, "$TMP")
	}
	return s
}
