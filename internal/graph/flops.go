package graph

// FLOPs estimates the floating-point operations of one training step per image
// (forward, and backward at twice the forward cost) of the convolutions and the
// classifier, which dominate: 2 multiply-adds per weight use.
func (s Spec) FLOPs() (forward, step float64) {
	conv := func(cin, cout, k, ho, wo int) float64 {
		return 2 * float64(cin*cout*k*k*ho*wo)
	}
	var f float64
	if s.Sampler == SamplerSaliency {
		a := s.SaliencyInput
		h1 := (a+2-3)/2 + 1
		h2 := (h1+2-3)/2 + 1
		f += conv(3, 16, 3, h1, h1) + conv(16, 32, 3, h2, h2) + conv(32, 32, 3, h2, h2) + conv(32, 1, 1, s.Grid, s.Grid)
		// Grid generator: the separable form's small matrix products.
		f += 8 * float64(s.Grid*s.Grid*(s.Grid+s.Grid))
	}
	t := s.TaskInput
	switch s.TaskNet {
	case TaskReference:
		f += conv(3, 32, 3, t, t) + conv(32, 64, 3, t/2, t/2) + conv(64, 64, 3, t/4, t/4) + 2*64*float64(s.Classes)
	case TaskResNet:
		w := s.ResNetWidth
		f += conv(3, w, 3, t, t)
		in, side := w, t
		for stage, width := range []int{w, 2 * w, 4 * w} {
			for blk := 0; blk < s.ResNetBlocks; blk++ {
				if stage > 0 && blk == 0 {
					side = (side+2-3)/2 + 1
				}
				f += conv(in, width, 3, side, side) + conv(width, width, 3, side, side)
				if in != width {
					f += conv(in, width, 1, side, side)
				}
				in = width
			}
		}
		f += 2 * float64(in*s.Classes)
	}
	return f, 3 * f
}
