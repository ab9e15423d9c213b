package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"zoomtrain/internal/termsafe"
	"zoomtrain/internal/train"
)

// printNextSteps ends a finished training run: the files its directory holds and the
// commands that evaluate it, draw what its sampler does, and plot it against another
// run. The command lines are meant to be copied, so paths are shell-quoted where they
// need it.
func printNextSteps(w io.Writer, dir string) {
	var files []string
	for _, f := range []string{train.ConfigFile, train.MetricsFile, train.BestCheckpoint, train.LastCheckpoint, train.CurvesFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			files = append(files, f)
		}
	}
	fmt.Fprintf(w, "wrote %s: %s\n", termsafe.Quote(dir+string(filepath.Separator)), strings.Join(files, ", "))
	best := shellWord(filepath.Join(dir, train.BestCheckpoint))
	fmt.Fprintf(w, "next:\n")
	fmt.Fprintf(w, "  zoomtrain eval --checkpoint %s\n", best)
	fmt.Fprintf(w, "  zoomtrain visualize --checkpoint %s --out %s -n 8\n", best, shellWord(filepath.Join(dir, "viz")))
	fmt.Fprintf(w, "  zoomtrain plot --run %s   # redraws curves.png; more --run DIR and --out compare.png compare runs\n", shellWord(dir))
}

var plainShellWord = regexp.MustCompile(`^[A-Za-z0-9_./:@%+,=-]+$`)

// shellWord quotes s for a POSIX shell when it holds anything but plain characters,
// and makes it safe to print.
func shellWord(s string) string {
	if plainShellWord.MatchString(s) {
		return s
	}
	return termsafe.Quote("'" + strings.ReplaceAll(s, "'", `'\''`) + "'")
}
