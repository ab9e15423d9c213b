package kernels

import "testing"

// BenchmarkMaxPool2Forward runs the 2x2 max pool's forward pass on the task
// network's first pooled activation (batch 32, 32 channels, 64x64), float32.
func BenchmarkMaxPool2Forward(b *testing.B) {
	const planes, h = 32 * 32, 64
	x := f32Random(1, planes*h*h)
	y := make([]float32, planes*h*h/4)
	idx := make([]int32, planes*h*h/4)
	for b.Loop() {
		maxPoolForward(x, y, idx, planes, h, h, 2)
	}
}
