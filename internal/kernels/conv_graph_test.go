package kernels

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// netBuilder builds layers shaped like the reference networks from this package's ops
// alone, for BenchmarkReferenceNetworks. The networks themselves are described once, in
// package graph (whose tests check them, and their FLOP count, on the real model); this
// is only a benchmark's workload, and goes when the benchmark moves to graph.
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

// saliencyNet is the reference saliency network on a 64x64 input (the 1x1 head
// before the pool, as graph builds it).
func (nb *netBuilder) saliencyNet(x *gorgonia.Node) (*gorgonia.Node, error) {
	y, err := nb.convReLU(x, 3, 16, 2)
	if err == nil {
		y, err = nb.convReLU(y, 16, 32, 2)
	}
	if err == nil {
		y, err = nb.convReLU(y, 32, 32, 1)
	}
	if err == nil {
		y, err = nb.conv(y, 32, 1, 1, 1, 0)
	}
	if err == nil {
		y, err = AdaptiveAvgPool2D(y, 31, 31)
	}
	return y, err
}

// taskNet is the reference task network (graph applies each ReLU after the max pool,
// which gives the same values).
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
