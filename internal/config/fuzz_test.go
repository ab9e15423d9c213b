package config

import (
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the strict parser: it must never panic, and
// whatever it accepts must survive YAML() and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte("train:\n  epochs: 3\n"))
	f.Add([]byte("data:\n  needle:\n    canvas: 64\nmodel:\n  task_input: 16\n"))
	f.Add([]byte("train:\n  step_epochs: [1, 2]\n  schedule: step\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		out, err := c.YAML()
		if err != nil {
			t.Fatalf("YAML of an accepted config: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(YAML()) = %v for\n%s", err, out)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse(YAML()) = %+v, want %+v", again, c)
		}
	})
}
