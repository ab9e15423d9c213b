package kernels

import (
	"fmt"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// netBuilder builds layers of the reference networks, remembering the
// learnables and the first error.
type netBuilder struct {
	g      *gorgonia.ExprGraph
	params []*gorgonia.Node
	seed   uint64
}

func (nb *netBuilder) param(shape ...int) *gorgonia.Node {
	nb.seed++
	size := tensor.Shape(shape).TotalSize()
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f32Random(nb.seed, size)))
	n := gorgonia.NewTensor(nb.g, tensor.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(v),
		gorgonia.WithName(fmt.Sprintf("p%d", nb.seed)))
	nb.params = append(nb.params, n)
	return n
}

func (nb *netBuilder) conv(x *gorgonia.Node, cin, cout, k, stride, pad int) (*gorgonia.Node, error) {
	return Conv2D(x, nb.param(cout, cin, k, k), nb.param(cout), stride, pad)
}

func (nb *netBuilder) convReLU(x *gorgonia.Node, cin, cout, stride int) (*gorgonia.Node, error) {
	y, err := nb.conv(x, cin, cout, 3, stride, 1)
	if err != nil {
		return nil, err
	}
	return ReLU(y)
}

// saliencyNet is the reference saliency network on a 64x64 input.
func (nb *netBuilder) saliencyNet(x *gorgonia.Node) (*gorgonia.Node, error) {
	y, err := nb.convReLU(x, 3, 16, 2)
	if err == nil {
		y, err = nb.convReLU(y, 16, 32, 2)
	}
	if err == nil {
		y, err = nb.convReLU(y, 32, 32, 1)
	}
	if err == nil {
		y, err = AdaptiveAvgPool2D(y, 31, 31)
	}
	if err == nil {
		y, err = nb.conv(y, 32, 1, 1, 1, 0)
	}
	return y, err
}

// taskNet is the reference task network.
func (nb *netBuilder) taskNet(x *gorgonia.Node) (*gorgonia.Node, error) {
	y, err := nb.convReLU(x, 3, 32, 1)
	if err == nil {
		y, err = MaxPool2D(y, 2)
	}
	if err == nil {
		y, err = nb.convReLU(y, 32, 64, 1)
	}
	if err == nil {
		y, err = MaxPool2D(y, 2)
	}
	if err == nil {
		y, err = nb.convReLU(y, 64, 64, 1)
	}
	if err == nil {
		y, err = GlobalAvgPool(y)
	}
	if err == nil {
		y, err = Linear(y, nb.param(10, 64), nb.param(10))
	}
	return y, err
}

// TestReferenceNetworks builds the reference networks, checks their output
// shapes, and runs one forward and backward pass: every learnable must get a
// finite, non-zero gradient of the right shape.
func TestReferenceNetworks(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		build func(nb *netBuilder, x *gorgonia.Node) (*gorgonia.Node, error)
		want  []int
	}{
		{"saliency_64", 64, (*netBuilder).saliencyNet, []int{2, 1, 31, 31}},
		{"task_64", 64, (*netBuilder).taskNet, []int{2, 10}},
		{"task_32", 32, (*netBuilder).taskNet, []int{2, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb := &netBuilder{g: gorgonia.NewGraph()}
			xs := []int{2, 3, tc.size, tc.size}
			x := gorgonia.NewTensor(nb.g, tensor.Float32, 4, gorgonia.WithShape(xs...), gorgonia.WithName("x"),
				gorgonia.WithValue(tensor.New(tensor.WithShape(xs...), tensor.WithBacking(f32Random(99, 2*3*tc.size*tc.size)))))
			y, err := tc.build(nb, x)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			if !y.Shape().Eq(tensor.Shape(tc.want)) {
				t.Fatalf("output shape %v, want %v", y.Shape(), tc.want)
			}
			flat, err := gorgonia.Reshape(y, tensor.Shape{y.Shape().TotalSize()})
			if err != nil {
				t.Fatalf("reshape: %v", err)
			}
			cost, err := gorgonia.Sum(gorgonia.Must(gorgonia.Square(flat)))
			if err != nil {
				t.Fatalf("cost: %v", err)
			}
			if _, err := gorgonia.Grad(cost, nb.params...); err != nil {
				t.Fatalf("grad: %v", err)
			}
			m := gorgonia.NewTapeMachine(nb.g, gorgonia.BindDualValues(nb.params...))
			defer m.Close()
			if err := m.RunAll(); err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, p := range nb.params {
				gv, err := p.Grad()
				if err != nil {
					t.Fatalf("%s: no gradient: %v", p.Name(), err)
				}
				if !gv.Shape().Eq(p.Shape()) {
					t.Errorf("%s: gradient shape %v, want %v", p.Name(), gv.Shape(), p.Shape())
				}
				var norm float64
				for _, v := range valueFloats(t, gv) {
					norm += v * v
				}
				if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
					t.Errorf("%s: gradient squared norm %v, want finite and non-zero", p.Name(), norm)
				}
			}
		})
	}
}
