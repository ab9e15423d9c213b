package kernels

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/blas"
)

// taskConvs are the reference networks' convolutions at batch 32: the task
// network's on a 64x64 input (after 2x2 max pools before the second and third),
// then the saliency network's.
var taskConvs = []struct {
	name             string
	cin, h, cout, k  int
	stride, pad, bat int
}{
	{"conv1_3to32_64", 3, 64, 32, 3, 1, 1, 32},
	{"conv2_32to64_32", 32, 32, 64, 3, 1, 1, 32},
	{"conv3_64to64_16", 64, 16, 64, 3, 1, 1, 32},
	// The saliency network's, on its 64x64 input.
	{"saliency1_3to16_64s2", 3, 64, 16, 3, 2, 1, 32},
	{"saliency2_16to32_32s2", 16, 32, 32, 3, 2, 1, 32},
	{"saliency3_32to32_16", 32, 16, 32, 3, 1, 1, 32},
}

type convBuilder func(x, w *gorgonia.Node, stride, pad int) (*gorgonia.Node, error)

func ourConv(x, w *gorgonia.Node, stride, pad int) (*gorgonia.Node, error) {
	return Conv2D(x, w, nil, stride, pad)
}

func gorgoniaConv(x, w *gorgonia.Node, stride, pad int) (*gorgonia.Node, error) {
	k := w.Shape()[2]
	return gorgonia.Conv2d(x, w, tensor.Shape{k, k}, []int{pad, pad}, []int{stride, stride}, []int{1, 1})
}

// BenchmarkTaskConvs runs forward and backward (gradients to input and
// weight) of each task-network convolution, ours against gorgonia.Conv2d,
// in float32. GFLOP/s counts the three GEMM-shaped products.
func BenchmarkTaskConvs(b *testing.B) {
	backend, err := blas.Backend()
	if err != nil {
		b.Fatalf("blas: %v", err)
	}
	b.Logf("blas backend: %s", backend)
	for _, c := range taskConvs {
		for _, impl := range []struct {
			name  string
			build convBuilder
		}{{"ours", ourConv}, {"gorgonia", gorgoniaConv}} {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				benchConv(b, c.bat, c.cin, c.h, c.cout, c.k, c.stride, c.pad, impl.build)
			})
		}
	}
}

func benchConv(b *testing.B, n, cin, h, cout, k, stride, pad int, build convBuilder) {
	g := gorgonia.NewGraph()
	xs, ws := []int{n, cin, h, h}, []int{cout, cin, k, k}
	x := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(xs...), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(xs...), tensor.WithBacking(f32Random(1, n*cin*h*h)))))
	w := gorgonia.NewTensor(g, tensor.Float32, 4, gorgonia.WithShape(ws...), gorgonia.WithName("w"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(ws...), tensor.WithBacking(f32Random(2, cout*cin*k*k)))))
	y, err := build(x, w, stride, pad)
	if err != nil {
		b.Fatalf("build: %v", err)
	}
	size := y.Shape().TotalSize()
	flat, err := gorgonia.Reshape(y, tensor.Shape{size})
	if err != nil {
		b.Fatalf("reshape: %v", err)
	}
	cost, err := gorgonia.Sum(flat)
	if err != nil {
		b.Fatalf("sum: %v", err)
	}
	if _, err := gorgonia.Grad(cost, x, w); err != nil {
		b.Fatalf("grad: %v", err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	ho := (h+2*pad-k)/stride + 1
	flops := 3 * 2 * float64(n) * float64(cout) * float64(ho*ho) * float64(cin*k*k)
	for b.Loop() {
		if err := m.RunAll(); err != nil {
			b.Fatalf("run: %v", err)
		}
		m.Reset()
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func f32Random(seed uint64, n int) []float32 {
	v := fdRandom(seed, n, -1, 1)
	out := make([]float32, n)
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// BenchmarkTaskConvThreads compares OpenBLAS thread counts under the
// kernels' own batch split (only meaningful with OpenBLAS).
func BenchmarkTaskConvThreads(b *testing.B) {
	for _, threads := range []int{1, 2} {
		c := taskConvs[1]
		b.Run(fmt.Sprintf("%s/threads%d", c.name, threads), func(b *testing.B) {
			if err := blas.SetThreads(threads); err != nil {
				b.Fatalf("threads: %v", err)
			}
			defer func() { _ = blas.SetThreads(1) }()
			benchConv(b, c.bat, c.cin, c.h, c.cout, c.k, c.stride, c.pad, ourConv)
		})
	}
}

// BenchmarkReferenceNetworks runs forward and backward of the reference
// networks built from this package's ops, batch 32 on 64x64 inputs, float32.
func BenchmarkReferenceNetworks(b *testing.B) {
	for _, net := range []struct {
		name  string
		build func(nb *netBuilder, x *gorgonia.Node) (*gorgonia.Node, error)
	}{{"saliency", (*netBuilder).saliencyNet}, {"task", (*netBuilder).taskNet}} {
		b.Run(net.name, func(b *testing.B) {
			nb := &netBuilder{g: gorgonia.NewGraph()}
			xs := []int{32, 3, 64, 64}
			x := gorgonia.NewTensor(nb.g, tensor.Float32, 4, gorgonia.WithShape(xs...), gorgonia.WithName("x"),
				gorgonia.WithValue(tensor.New(tensor.WithShape(xs...), tensor.WithBacking(f32Random(99, 32*3*64*64)))))
			y, err := net.build(nb, x)
			if err != nil {
				b.Fatalf("build: %v", err)
			}
			flat, err := gorgonia.Reshape(y, tensor.Shape{y.Shape().TotalSize()})
			if err != nil {
				b.Fatalf("reshape: %v", err)
			}
			cost, err := gorgonia.Sum(flat)
			if err != nil {
				b.Fatalf("cost: %v", err)
			}
			if _, err := gorgonia.Grad(cost, append([]*gorgonia.Node{x}, nb.params...)...); err != nil {
				b.Fatalf("grad: %v", err)
			}
			m := gorgonia.NewTapeMachine(nb.g)
			defer m.Close()
			for b.Loop() {
				if err := m.RunAll(); err != nil {
					b.Fatalf("run: %v", err)
				}
				m.Reset()
			}
		})
	}
}
