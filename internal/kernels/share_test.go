package kernels

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// TestShareOutputsChain: in a chain a = relu(x), b = a + a, c = relu(b), d = c + c,
// e = relu(d), read out, a value is dead once the next op has read it, so a and c
// take turns in one piece of memory and b and d in another; e, read by Gorgonia's
// Read after the run, keeps its own. The values are those of the plain machine,
// over several runs.
func TestShareOutputsChain(t *testing.T) {
	x := fdRandom(5, 2*3*4*4, -1, 1)
	run := func(shared bool) ([]float64, opkit.Sharing) {
		g := gorgonia.NewGraph()
		xn := gorgonia.NewTensor(g, tensor.Float64, 4, gorgonia.WithShape(2, 3, 4, 4), gorgonia.WithName("x"),
			gorgonia.WithValue(tensor.New(tensor.WithShape(2, 3, 4, 4), tensor.WithBacking(x))))
		n := xn
		for i := range 5 {
			var err error
			if i%2 == 0 {
				n, err = ReLU(n)
			} else {
				n, err = Add(n, n)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		var ev gorgonia.Value
		gorgonia.Read(n, &ev)
		var (
			m   gorgonia.VM
			sum opkit.Sharing
			err error
		)
		if shared {
			m, sum, err = opkit.NewMachine(g, nil)
			if err != nil {
				t.Fatal(err)
			}
		} else {
			m = gorgonia.NewTapeMachine(g)
		}
		defer m.Close()
		var out []float64
		for range 3 {
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			out = append(out, valueFloats(t, ev)...)
			m.Reset()
		}
		return out, sum
	}
	want, _ := run(false)
	got, sum := run(true)
	if sum.Outputs != 4 || sum.Slots != 2 {
		t.Errorf("shared %d outputs in %d slots, want 4 in 2", sum.Outputs, sum.Slots)
	}
	if elems := int64(2 * 3 * 4 * 4 * 8); sum.Bytes != 2*elems || sum.Apart != 4*elems {
		t.Errorf("shared bytes %d (apart %d), want %d (%d)", sum.Bytes, sum.Apart, 2*elems, 4*elems)
	}
	for i, v := range x {
		if w := 4 * max(v, 0); want[i] != w {
			t.Fatalf("plain machine: e[%d] = %g, want %g", i, want[i], w)
		}
	}
	if d, at := maxAbsDiff(got, want); d != 0 {
		t.Errorf("shared: e[%d] differs from the plain machine's by %g", at, d)
	}
}
