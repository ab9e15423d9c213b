package torchfile

import (
	"math"
	"testing"

	"zoomtrain/internal/sampler"
)

// The official-model fixture is checked here against plain references and the
// project's own sampler, so that the conventions its README states (and the
// model-side parity tests rely on) are facts about the stored numbers.

// bilinear resizes each h x w plane to ho x wo as PyTorch's bilinear
// interpolation: with align_corners=False source = (o + 0.5) in/out - 0.5,
// clamped below at 0, with align_corners=True source = o (in-1)/(out-1); the
// upper neighbour is clamped to the last pixel.
func bilinear(planes []float64, n, h, w, ho, wo int, alignCorners bool) []float64 {
	axis := func(in, out, o int) (int, int, float64) {
		src := (float64(o)+0.5)*float64(in)/float64(out) - 0.5
		if alignCorners {
			src = float64(o) * float64(in-1) / float64(out-1)
		}
		src = max(src, 0)
		i0 := min(int(src), in-1)
		return i0, min(i0+1, in-1), src - float64(i0)
	}
	res := make([]float64, n*ho*wo)
	for p := range n {
		in := planes[p*h*w : (p+1)*h*w]
		for oy := range ho {
			y0, y1, fy := axis(h, ho, oy)
			for ox := range wo {
				x0, x1, fx := axis(w, wo, ox)
				top := in[y0*w+x0]*(1-fx) + in[y0*w+x1]*fx
				bot := in[y1*w+x0]*(1-fx) + in[y1*w+x1]*fx
				res[p*ho*wo+oy*wo+ox] = top*(1-fy) + bot*fy
			}
		}
	}
	return res
}

// adaptiveAvgPool is PyTorch's AdaptiveAvgPool2d on each plane: output cell o
// averages source cells floor(o in/out) to ceil((o+1) in/out) - 1.
func adaptiveAvgPool(planes []float64, n, h, w, ho, wo int) []float64 {
	res := make([]float64, n*ho*wo)
	for p := range n {
		for oy := range ho {
			y0, y1 := oy*h/ho, ((oy+1)*h+ho-1)/ho
			for ox := range wo {
				x0, x1 := ox*w/wo, ((ox+1)*w+wo-1)/wo
				var s float64
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						s += planes[p*h*w+y*w+x]
					}
				}
				res[p*ho*wo+oy*wo+ox] = s / float64((y1-y0)*(x1-x0))
			}
		}
	}
	return res
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func maxDiff(a []float64, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(a[i]-float64(b[i])))
	}
	return d
}

func TestOfficialFixtureConventions(t *testing.T) {
	io, err := ReadFile("testdata/official/official_w8_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	model, err := ReadFile("testdata/official/official_w8.pth")
	if err != nil {
		t.Fatal(err)
	}
	const n, src, sal, task, grid, pad = 3, 96, 64, 48, 31, 30
	get := func(sd *StateDict, name string, shape ...int) []float32 {
		v, err := sd.Float32(name, shape...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	image := get(io, "image", n, 3, src, src)
	lowres := get(io, "lowres", n, 3, sal, sal)
	logitsSal := get(io, "saliency_logits", n, 1, 4, 4)
	saliency := get(io, "saliency", n, 1, grid, grid)
	gridSmall := get(io, "grid_small", n, 2, grid, grid)
	gridFull := get(io, "grid", n, task, task, 2)
	warped := get(io, "warped", n, 3, task, task)
	logits := get(io, "logits", n, 5)
	probs := get(io, "probs", n, 5)
	filter := get(model, "filter.weight", 1, 1, 2*pad+1, 2*pad+1)

	check := func(what string, d, tol float64) {
		t.Helper()
		if !(d <= tol) {
			t.Errorf("%s: max |diff| %.3g, want <= %.3g", what, d, tol)
		} else {
			t.Logf("%s: max |diff| %.2g", what, d)
		}
	}

	// The fixed filter: exp(-4 ln2 r^2 / fwhm^2) around the centre, peak 1.
	var d float64
	for y := range 2*pad + 1 {
		for x := range 2*pad + 1 {
			r2 := float64((x-pad)*(x-pad) + (y-pad)*(y-pad))
			d = max(d, math.Abs(float64(filter[y*(2*pad+1)+x])-math.Exp(-4*math.Ln2*r2/169)))
		}
	}
	check("filter.weight is the fwhm-13 Gaussian", d, 1e-7)

	// ImageNet normalisation, then the adaptive average pool 96 -> 64.
	mean, std := [3]float64{0.485, 0.456, 0.406}, [3]float64{0.229, 0.224, 0.225}
	x := f64(image)
	for i := range x {
		c := i / (src * src) % 3
		x[i] = (x[i] - mean[c]) / std[c]
	}
	check("lowres = adaptive avg pool of the normalised image", maxDiff(adaptiveAvgPool(x, 3*n, src, src, sal, sal), lowres), 1e-5)

	// Saliency: upsampled with align_corners=False, softmax over all cells.
	softmax := func(up []float64) []float64 {
		want := make([]float64, len(up))
		for b := range n {
			m := up[b*grid*grid : (b+1)*grid*grid]
			var z float64
			top := math.Inf(-1)
			for _, v := range m {
				top = max(top, v)
			}
			for _, v := range m {
				z += math.Exp(v - top)
			}
			for i, v := range m {
				want[b*grid*grid+i] = math.Exp(v-top) / z
			}
		}
		return want
	}
	check("saliency = softmax(upsample(logits), align_corners=False)", maxDiff(softmax(bilinear(f64(logitsSal), n, 4, 4, grid, grid, false)), saliency), 1e-6)
	if d := maxDiff(softmax(bilinear(f64(logitsSal), n, 4, 4, grid, grid, true)), saliency); d < 1e-4 {
		t.Errorf("align_corners=True saliency matches the fixture too (%.2g)", d)
	}
	for b := range n {
		peak := 0.0
		for _, v := range saliency[b*grid*grid : (b+1)*grid*grid] {
			peak = max(peak, float64(v))
		}
		if peak*grid*grid < 30 {
			t.Errorf("image %d: saliency peak %.1f x uniform, want a strongly peaked map", b, peak*grid*grid)
		}
	}

	// The grid generator: the project's own, with the paper's parameters.
	gen, err := sampler.NewGenerator(sampler.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	g := make([]float64, n*grid*grid*2)
	sampler.Grid(gen, f64(saliency), n, g)
	small := make([]float32, len(g)) // the fixture's [n 2 h w] as the sampler's [n h w 2]
	var shift float64
	for b := range n {
		for i := range grid * grid {
			for k := range 2 {
				small[(b*grid*grid+i)*2+k] = gridSmall[(b*2+k)*grid*grid+i]
			}
			ident := [2]float64{float64(i%grid)/15 - 1, float64(i/grid)/15 - 1}
			shift = max(shift, math.Abs(float64(small[(b*grid*grid+i)*2])-ident[0]), math.Abs(float64(small[(b*grid*grid+i)*2+1])-ident[1]))
		}
	}
	check("grid_small = the sampler's generator on the saliency map", maxDiff(g, small), 1e-5)
	if shift < 0.5 {
		t.Errorf("grid moves at most %.2f from the identity, want a warp far from it", shift)
	}

	// The grid upsampled 31 -> 48 with align_corners=False, not the sampler's
	// align_corners=True.
	planes := make([]float64, n*2*grid*grid)
	for i := range planes {
		planes[i] = float64(gridSmall[i])
	}
	upg := bilinear(planes, 2*n, grid, grid, task, task, false)
	nhwc := make([]float64, len(upg))
	for b := range n {
		for k := range 2 {
			for i := range task * task {
				nhwc[(b*task*task+i)*2+k] = upg[(b*2+k)*task*task+i]
			}
		}
	}
	check("grid = upsample(grid_small, align_corners=False)", maxDiff(nhwc, gridFull), 1e-6)
	aligned := make([]float64, task*task*2)
	sampler.Upsample(g[:grid*grid*2], grid, grid, task, task, aligned)
	if d := maxDiff(aligned, gridFull[:task*task*2]); d < 1e-3 {
		t.Errorf("align_corners=True upsampling matches the fixture too (%.2g): the test cannot tell them apart", d)
	}

	// grid_sample with align_corners=True (the sampler's convention; its border
	// padding is never reached, the grid being clamped).
	out := make([]float64, n*3*task*task)
	sampler.SampleBatch(sampler.SampleShape{N: n, C: 3, H: src, W: src, Ho: task, Wo: task}, x, f64(gridFull), out)
	check("warped = grid_sample(normalised image, grid, align_corners=True)", maxDiff(out, warped), 1e-5)

	// probs = softmax(logits).
	sm := make([]float64, len(logits))
	for b := range n {
		var z float64
		for k := range 5 {
			z += math.Exp(float64(logits[b*5+k]))
		}
		for k := range 5 {
			sm[b*5+k] = math.Exp(float64(logits[b*5+k])) / z
		}
	}
	check("probs = softmax(logits)", maxDiff(sm, probs), 1e-6)
}
