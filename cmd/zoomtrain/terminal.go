package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// isTerminal says whether w is a terminal: progress bars are drawn only there, and a
// file or pipe gets plain lines instead.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
