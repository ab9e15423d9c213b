package main

import (
	"fmt"
	"runtime/debug"
)

// version describes the binary from its build info: the module version (a tag with
// `go install module@version`, "(devel)" from a checkout) and the VCS revision, time and
// whether the tree had uncommitted changes, when the build recorded them (`go build` in
// a git checkout does; `go run` and `go test` do not).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build info)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, when, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return fmt.Sprintf("%s, no VCS revision recorded, %s", v, bi.GoVersion)
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += " with uncommitted changes"
	}
	if when != "" {
		rev += " of " + when
	}
	return fmt.Sprintf("%s, revision %s, %s", v, rev, bi.GoVersion)
}
