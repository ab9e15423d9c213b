package opkit

import (
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestBaseNamesAndHashes(t *testing.T) {
	tag := new(int)
	for _, tc := range []struct {
		a, b      Base
		wantEqual bool
	}{
		{Base{Name: "relu", Params: []int{2, 3}}, Base{Name: "relu", Params: []int{2, 3}}, true},
		{Base{Name: "relu", Params: []int{2, 3}}, Base{Name: "relu", Params: []int{3, 2}}, false},
		{Base{Name: "relu"}, Base{Name: "relu.dx"}, false},
		{Base{Name: "bn", Tag: tag}, Base{Name: "bn", Tag: new(int)}, false},
		{Base{Name: "bn", Tag: tag}, Base{Name: "bn", Tag: tag}, true},
	} {
		if got := tc.a.Hashcode() == tc.b.Hashcode(); got != tc.wantEqual {
			t.Errorf("%v and %v: hashes equal %t, want %t", tc.a, tc.b, got, tc.wantEqual)
		}
	}
	if got, want := (Base{Name: "pool", Params: []int{1, 2}}).String(), "pool[1 2]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Base{Name: "GridSample{imageGrad=true}"}).String(), "GridSample{imageGrad=true}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestBufferReshapesBack checks the workaround for Gorgonia's in-place reshape: a kept
// tensor reshaped downstream is reused, in the shape asked for.
func TestBufferReshapesBack(t *testing.T) {
	var b Buffer
	first := b.Get(tensor.Float32, 2, 3)
	if err := first.Reshape(6); err != nil {
		t.Fatal(err)
	}
	again := b.Get(tensor.Float32, 2, 3)
	if again != first || !again.Shape().Eq(tensor.Shape{2, 3}) {
		t.Errorf("got tensor %p of shape %v, want the kept %p in (2, 3)", again, again.Shape(), first)
	}
	if other := b.Get(tensor.Float64, 2, 3); other == first || other.Dtype() != tensor.Float64 {
		t.Errorf("a new dtype reused the kept tensor")
	}
	if other := b.Get(tensor.Float64, 4, 3); !other.Shape().Eq(tensor.Shape{4, 3}) {
		t.Errorf("got shape %v, want (4, 3)", other.Shape())
	}
}

func TestArgs(t *testing.T) {
	f32 := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4}))
	f64 := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2}))
	ints := tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))
	for _, tc := range []struct {
		name    string
		want    int
		vals    []gorgonia.Value
		wantErr string
	}{
		{"ok", 1, []gorgonia.Value{f32}, ""},
		{"count", 2, []gorgonia.Value{f32}, "got 1 inputs, want 2"},
		{"dtype", 1, []gorgonia.Value{ints}, "is not float32 or float64"},
		{"mixed", 2, []gorgonia.Value{f32, f64}, "input 1 is float64, input 0 is float32"},
		{"scalar", 1, []gorgonia.Value{gorgonia.NewF32(1)}, "want a dense tensor"},
	} {
		_, err := Args("op", tc.want, tc.vals)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	// A transposed view comes back contiguous, in its logical order.
	v := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float64{1, 2, 3, 4}))
	if err := v.T(); err != nil {
		t.Fatal(err)
	}
	got, err := Args("op", 1, []gorgonia.Value{v})
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0].Float64s(); d[0] != 1 || d[1] != 3 || d[2] != 2 || d[3] != 4 {
		t.Errorf("materialised view = %v, want [1 3 2 4]", d)
	}
}
