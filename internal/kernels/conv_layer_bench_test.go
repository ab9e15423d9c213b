package kernels

import (
	"testing"

	"gorgonia.org/tensor"
)

// convLayerData is one reference-network convolution's state and random data at
// batch 32, float32: input, weight, bias and output gradient.
type convLayerData struct {
	st           *convState
	x, w, b, dy  []float32
	xSize, wSize int
	outSize      int
}

// benchConvLayers runs step on each reference-network convolution, as a sub-benchmark.
func benchConvLayers(b *testing.B, weightGrad bool, step func(d *convLayerData) error) {
	for _, c := range taskConvs {
		b.Run(c.name, func(b *testing.B) {
			xs := tensor.Shape{c.bat, c.cin, c.h, c.h}
			ws := tensor.Shape{c.cout, c.cin, c.k, c.k}
			g, err := newConvGeom(xs, ws, c.stride, c.pad)
			if err != nil {
				b.Fatalf("geometry: %v", err)
			}
			d := &convLayerData{
				st: &convState{geom: g, weightGrad: weightGrad},
				x:  f32Random(1, xs.TotalSize()), w: f32Random(2, ws.TotalSize()),
				b: f32Random(3, c.cout), dy: f32Random(3, g.n*g.outSize()),
				xSize: xs.TotalSize(), wSize: ws.TotalSize(), outSize: g.n * g.outSize(),
			}
			for b.Loop() {
				if err := step(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvForwardBias runs the forward pass alone, with a bias, of each
// reference-network convolution at batch 32 (float32, the im2col matrices kept
// as in training).
func BenchmarkConvForwardBias(b *testing.B) {
	var out []float32
	benchConvLayers(b, true, func(d *convLayerData) error {
		if len(out) != d.outSize {
			out = make([]float32, d.outSize)
		}
		return convForward(d.st, d.x, d.w, d.b, out, 1)
	})
}

// BenchmarkConvGradInput runs the input gradient alone (the column gradient's
// GEMM and col2im) of each reference-network convolution at batch 32, float32.
func BenchmarkConvGradInput(b *testing.B) {
	var dx []float32
	benchConvLayers(b, false, func(d *convLayerData) error {
		if len(dx) != d.xSize {
			dx = make([]float32, d.xSize)
		}
		return convGradInput(d.st, d.w, d.dy, dx)
	})
}

// BenchmarkSumChannels runs the bias gradient (a sum over items and positions per
// channel) of the task network's first convolution output, batch 32, float32.
func BenchmarkSumChannels(b *testing.B) {
	const n, c, area = 32, 32, 64 * 64
	x := f32Random(1, n*c*area)
	out := make([]float32, c)
	for b.Loop() {
		sumChannels(x, out, n, c, area)
	}
}

// BenchmarkConvGradWeight runs the weight gradient alone of each reference-network
// convolution at batch 32, float32, its im2col matrices built again per item.
func BenchmarkConvGradWeight(b *testing.B) {
	var dw []float32
	benchConvLayers(b, false, func(d *convLayerData) error {
		if len(dw) != d.wSize {
			dw = make([]float32, d.wSize)
		}
		return convGradWeight(d.st, d.x, d.dy, dw, 0)
	})
}
