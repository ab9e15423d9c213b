package lowres

import (
	"math/rand/v2"
	"strings"
	"testing"

	"zoomtrain/internal/kernels"
)

// TestMake checks the copies of a batch against kernels.ResizePlain32 of each image on
// its own: the batch call must not mix images or channels.
func TestMake(t *testing.T) {
	tests := []struct {
		name string
		in   Inputs
		n    int
	}{
		{"saliency view", Inputs{Resolution: 20, Sides: []int{8}}, 3},
		{"two sides", Inputs{Resolution: 16, Sides: []int{5, 16}}, 2},
		{"no copies", Inputs{Resolution: 9}, 4},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		r := tt.in.Resolution
		x := make([]float32, tt.n*3*r*r)
		for i := range x {
			x[i] = rng.Float32()
		}
		got, err := tt.in.New(x, tt.n)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if err := tt.in.Check(got, tt.n); err != nil {
			t.Errorf("%s: Check of New's result: %v", tt.name, err)
		}
		for k, s := range tt.in.Sides {
			want := make([]float32, 3*s*s)
			for i := range tt.n {
				kernels.ResizePlain32(x[i*3*r*r:(i+1)*3*r*r], 3, r, r, s, s, want)
				for j, w := range want {
					if g := got[k][i*3*s*s+j]; g != w {
						t.Fatalf("%s: side %d, image %d, value %d: got %v, want %v", tt.name, s, i, j, g, w)
					}
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	in := Inputs{Resolution: 8, Sides: []int{4}}
	x := make([]float32, 2*3*64)
	tests := []struct {
		name, want string
		err        error
	}{
		{"short images", "hold no 3 images", in.Make(x, 3, [][]float32{make([]float32, 3*3*16)})},
		{"buffers per side", "2 buffers for 1 sides", in.Make(x, 2, make([][]float32, 2))},
		{"short buffer", "buffer of 10 values", in.Make(x, 2, [][]float32{make([]float32, 10)})},
		{"check count", "carries 0 low-resolution copies", in.Check(nil, 2)},
		{"check size", "has 48 values", in.Check([][]float32{make([]float32, 48)}, 2)},
		{"side too large", "side 9 outside", Inputs{Resolution: 8, Sides: []int{9}}.Validate()},
		{"side zero", "side 0 outside", Inputs{Resolution: 8, Sides: []int{0}}.Validate()},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, tt.err, tt.want)
		}
	}
	if err := in.Validate(); err != nil {
		t.Errorf("valid inputs: %v", err)
	}
}
