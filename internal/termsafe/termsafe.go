// Package termsafe makes names that come from the file system (class folders, image
// files) safe to print on a terminal: a folder named with ESC or a newline must not be
// able to rewrite the screen or forge lines of output.
package termsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Quote returns s unchanged when it is safe to print as it is: valid UTF-8, not empty,
// not starting with a double quote, and every rune printable (strconv.IsPrint: letters,
// marks, numbers, punctuation, symbols and the ASCII space). Otherwise it returns s as
// a double-quoted Go string literal, in which control characters, other invisible
// characters (such as bidirectional overrides) and invalid bytes appear as escapes, so
// no byte of s reaches the terminal raw and a quoted name cannot pass for a plain one.
func Quote(s string) string {
	if safe(s) {
		return s
	}
	return strconv.Quote(s)
}

func safe(s string) bool {
	if s == "" || strings.HasPrefix(s, `"`) || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}
