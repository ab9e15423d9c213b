package torchfile

import (
	"path/filepath"
	"testing"
)

func TestSmoke(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*")
	for _, f := range files {
		sd, err := ReadFile(f)
		if err != nil {
			t.Logf("%s: ERR %v", f, err)
			continue
		}
		n := sd.Names()
		if len(n) > 6 {
			n = n[:6]
		}
		t.Logf("%s: %d tensors %v", f, sd.Len(), n)
	}
}
