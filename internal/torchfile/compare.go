package torchfile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Spec is a tensor a model expects to load.
type Spec struct {
	Name  string
	Shape []int
	Int   bool // an integer tensor, such as batch norm's num_batches_tracked; otherwise floating
}

// Misshapen is a tensor present under the expected name but not as expected.
type Misshapen struct {
	Name  string
	Got   []int
	DType DType // the file's
	Want  []int
	Int   bool // the model wants an integer tensor
}

// Mismatch is how a state_dict differs from what a model expects, each list in
// the order of the model's specs or, for Unexpected, the file.
type Mismatch struct {
	Missing    []string
	Unexpected []string
	Misshapen  []Misshapen
}

// ErrMismatch is wrapped by Mismatch.Err.
var ErrMismatch = errors.New("state_dict does not match the model")

// Compare sets a state_dict against the tensors a model expects.
func Compare(sd *StateDict, want []Spec) Mismatch {
	var m Mismatch
	expected := make(map[string]bool, len(want))
	for _, w := range want {
		expected[w.Name] = true
		t, ok := sd.Tensor(w.Name)
		if !ok {
			m.Missing = append(m.Missing, w.Name)
			continue
		}
		if !slices.Equal(t.Shape, w.Shape) || t.DType.IsFloat() == w.Int {
			m.Misshapen = append(m.Misshapen, Misshapen{Name: w.Name, Got: t.Shape, DType: t.DType, Want: w.Shape, Int: w.Int})
		}
	}
	for _, n := range sd.names {
		if !expected[n] {
			m.Unexpected = append(m.Unexpected, n)
		}
	}
	return m
}

// OK says whether the state_dict is exactly what the model expects.
func (m Mismatch) OK() bool {
	return len(m.Missing) == 0 && len(m.Unexpected) == 0 && len(m.Misshapen) == 0
}

// listed is how many names of each kind an error message spells out.
const listed = 4

// Err is nil when the state_dict matches, otherwise one line naming the first
// few tensors of each kind of difference, e.g.
//
//	state_dict does not match the model: 1 missing (fc.bias); 1 misshapen (fc.weight is float32 [1000 512], the model wants float [10 512])
func (m Mismatch) Err() error {
	if m.OK() {
		return nil
	}
	var parts []string
	if len(m.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing (%s)", len(m.Missing), names(m.Missing)))
	}
	if len(m.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected (%s)", len(m.Unexpected), names(m.Unexpected)))
	}
	if len(m.Misshapen) > 0 {
		var s []string
		for _, x := range m.Misshapen {
			kind := "float"
			if x.Int {
				kind = "integer"
			}
			s = append(s, fmt.Sprintf("%s is %s %v, the model wants %s %v", x.Name, x.DType, x.Got, kind, x.Want))
		}
		parts = append(parts, fmt.Sprintf("%d misshapen (%s)", len(m.Misshapen), names(s)))
	}
	return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(parts, "; "))
}

func names(s []string) string {
	if len(s) <= listed {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:listed], ", ") + fmt.Sprintf(" and %d more", len(s)-listed)
}
