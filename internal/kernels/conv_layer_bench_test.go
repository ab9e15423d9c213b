package kernels

import (
	"testing"

	"gorgonia.org/tensor"
)

// BenchmarkConvForwardBias runs the forward pass alone, with a bias, of each
// reference-network convolution at batch 32 (float32, the im2col matrices kept
// as in training).
func BenchmarkConvForwardBias(b *testing.B) {
	for _, c := range taskConvs {
		b.Run(c.name, func(b *testing.B) {
			xs := tensor.Shape{c.bat, c.cin, c.h, c.h}
			ws := tensor.Shape{c.cout, c.cin, c.k, c.k}
			g, err := newConvGeom(xs, ws, c.stride, c.pad)
			if err != nil {
				b.Fatalf("geometry: %v", err)
			}
			st := &convState{geom: g, weightGrad: true}
			x := f32Random(1, xs.TotalSize())
			w := f32Random(2, ws.TotalSize())
			bias := f32Random(3, c.cout)
			out := make([]float32, g.n*g.outSize())
			for b.Loop() {
				if err := convForward(st, x, w, bias, out, 1); err != nil {
					b.Fatalf("forward: %v", err)
				}
			}
		})
	}
}

// BenchmarkConvGradInput runs the input gradient alone (the column gradient's
// GEMM and col2im) of each reference-network convolution at batch 32, float32.
func BenchmarkConvGradInput(b *testing.B) {
	for _, c := range taskConvs {
		b.Run(c.name, func(b *testing.B) {
			xs := tensor.Shape{c.bat, c.cin, c.h, c.h}
			ws := tensor.Shape{c.cout, c.cin, c.k, c.k}
			g, err := newConvGeom(xs, ws, c.stride, c.pad)
			if err != nil {
				b.Fatalf("geometry: %v", err)
			}
			st := &convState{geom: g}
			w := f32Random(2, ws.TotalSize())
			dy := f32Random(3, g.n*g.outSize())
			dx := make([]float32, xs.TotalSize())
			for b.Loop() {
				if err := convGradInput(st, w, dy, dx); err != nil {
					b.Fatalf("input gradient: %v", err)
				}
			}
		})
	}
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
	for _, c := range taskConvs {
		b.Run(c.name, func(b *testing.B) {
			xs := tensor.Shape{c.bat, c.cin, c.h, c.h}
			ws := tensor.Shape{c.cout, c.cin, c.k, c.k}
			g, err := newConvGeom(xs, ws, c.stride, c.pad)
			if err != nil {
				b.Fatalf("geometry: %v", err)
			}
			st := &convState{geom: g}
			x := f32Random(1, xs.TotalSize())
			dy := f32Random(3, g.n*g.outSize())
			dw := make([]float32, ws.TotalSize())
			for b.Loop() {
				if err := convGradWeight(st, x, dy, dw, 0); err != nil {
					b.Fatalf("weight gradient: %v", err)
				}
			}
		})
	}
}
