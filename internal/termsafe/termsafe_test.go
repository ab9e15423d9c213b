package termsafe

import (
	"strconv"
	"testing"
	"unicode/utf8"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cat", "cat"},
		{"golden retriever", "golden retriever"},
		{"café", "café"},
		{"猫", "猫"},
		{"a'b", "a'b"},
		{`a"b`, `a"b`},
		{`a\x1b`, `a\x1b`}, // a backslash is printable
		{"", `""`},
		{"\x1b[2J\x1b[31mcat", `"\x1b[2J\x1b[31mcat"`},
		{"cat\ndog 100%", `"cat\ndog 100%"`},
		{"cr\r", `"cr\r"`},
		{"tab\t", `"tab\t"`},
		{"nul\x00", `"nul\x00"`},
		{"del\x7f", `"del\x7f"`},
		{"c1\u009b31m", `"c1\u009b31m"`},             // the one-byte CSI of C1 controls
		{"evil\u202egnp.exe", `"evil\u202egnp.exe"`}, // right-to-left override
		{"nb\u00a0sp", `"nb\u00a0sp"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
		{`"quoted"`, `"\"quoted\""`},
	}
	for _, tt := range tests {
		got := Quote(tt.in)
		if got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		// Whatever is quoted reads back as the original name.
		if got != tt.in {
			if back, err := strconv.Unquote(got); err != nil || back != tt.in {
				t.Errorf("Unquote(Quote(%q)) = %q, %v", tt.in, back, err)
			}
		}
		for _, b := range []byte(got) {
			if b < 0x20 || b == 0x7f {
				t.Errorf("Quote(%q) = %q holds control byte %#x", tt.in, got, b)
			}
		}
	}
}

// FuzzQuote: the output never holds a control byte or invalid UTF-8, and either is the
// input itself or unquotes to it.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"cat", "\x1b]0;title\x07", "a\nb", "\xff", `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Quote(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Quote(%q) = %q is not valid UTF-8", s, got)
		}
		for _, r := range got {
			if !strconv.IsPrint(r) {
				t.Fatalf("Quote(%q) = %q holds %U", s, got, r)
			}
		}
		if got == s {
			return
		}
		if back, err := strconv.Unquote(got); err != nil || back != s {
			t.Fatalf("Unquote(Quote(%q)) = %q, %v", s, back, err)
		}
	})
}
