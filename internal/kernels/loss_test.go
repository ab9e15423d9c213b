package kernels

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lossReference is -mean_i sum_k t_ik log(exp(z_ik) / sum_j exp(z_ij)),
// written without the max shift (fine for moderate logits).
func lossReference(z, tgt []float64, n, k int) float64 {
	var total float64
	for i := range n {
		var sum float64
		for j := range k {
			sum += math.Exp(z[i*k+j])
		}
		for j := range k {
			total -= tgt[i*k+j] * math.Log(math.Exp(z[i*k+j])/sum)
		}
	}
	return total / float64(n)
}

func lossOneHot(n, k int) []float64 {
	t := make([]float64, n*k)
	for i := range n {
		t[i*k+(i*7+3)%k] = 1
	}
	return t
}

func TestSoftmaxCrossEntropyForward(t *testing.T) {
	tests := []struct {
		name   string
		n, k   int
		spread float64
		dt     tensor.Dtype
		soft   bool // targets are a distribution rather than one-hot
		tol    float64
	}{
		{"float64", 5, 10, 4, tensor.Float64, false, 1e-13},
		{"float64 soft targets", 3, 4, 4, tensor.Float64, true, 1e-13},
		{"float32", 32, 10, 4, tensor.Float32, false, 1e-5},
		{"single class", 4, 1, 4, tensor.Float64, false, 1e-13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := fdRandom(4, tc.n*tc.k, -tc.spread, tc.spread)
			tgt := lossOneHot(tc.n, tc.k)
			if tc.soft {
				tgt = fdRandom(5, tc.n*tc.k, 0, 0.5)
			}
			v, shape := runForward(t, tc.dt, [][]int{{tc.n, tc.k}, {tc.n, tc.k}}, [][]float64{z, tgt},
				func(in []*gorgonia.Node) (*gorgonia.Node, error) { return SoftmaxCrossEntropy(in[0], in[1]) })
			if !shape.IsScalar() {
				t.Fatalf("shape = %v, want a scalar", shape)
			}
			if v.Dtype() != tc.dt {
				t.Fatalf("dtype = %v, want %v", v.Dtype(), tc.dt)
			}
			if tc.dt == tensor.Float32 {
				for i := range z {
					z[i] = float64(float32(z[i]))
				}
			}
			got, want := valueFloats(t, v)[0], lossReference(z, tgt, tc.n, tc.k)
			if math.Abs(got-want) > tc.tol*max(1, math.Abs(want)) {
				t.Errorf("loss = %.15g, want %.15g", got, want)
			}
		})
	}
}

func TestSoftmaxCrossEntropyHugeLogits(t *testing.T) {
	// exp(1000) overflows: only the shifted log-sum-exp gives the right answer.
	z := []float64{1000, 0, -1000, 0, 1000, 1000}
	tgt := []float64{0, 1, 0, 1, 0, 0}
	v, _ := runForward(t, tensor.Float64, [][]int{{2, 3}, {2, 3}}, [][]float64{z, tgt},
		func(in []*gorgonia.Node) (*gorgonia.Node, error) { return SoftmaxCrossEntropy(in[0], in[1]) })
	got := valueFloats(t, v)[0]
	want := (1000 + (1000 + math.Log(2))) / 2
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("loss = %.15g, want %.15g", got, want)
	}
}

func TestSoftmaxCrossEntropyErrors(t *testing.T) {
	tests := []struct {
		name       string
		zs, ts     []int
		zdt, tdtyp tensor.Dtype
	}{
		{"shape mismatch", []int{2, 3}, []int{2, 4}, tensor.Float64, tensor.Float64},
		{"not a matrix", []int{2, 3, 1}, []int{2, 3, 1}, tensor.Float64, tensor.Float64},
		{"dtype mismatch", []int{2, 3}, []int{2, 3}, tensor.Float64, tensor.Float32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			z := gorgonia.NewTensor(g, tc.zdt, len(tc.zs), gorgonia.WithShape(tc.zs...))
			tg := gorgonia.NewTensor(g, tc.tdtyp, len(tc.ts), gorgonia.WithShape(tc.ts...))
			if _, err := SoftmaxCrossEntropy(z, tg); err == nil {
				t.Error("error = nil, want one")
			}
		})
	}
}

func TestSoftmaxCrossEntropyGradient(t *testing.T) {
	tests := []struct {
		name string
		n, k int
		soft bool
	}{
		{"one-hot", 4, 5, false},
		{"soft targets", 3, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tgt := lossOneHot(tc.n, tc.k)
			if tc.soft {
				tgt = fdRandom(6, tc.n*tc.k, 0, 0.5)
			}
			fdCheck(t, []fdInput{
				{name: "logits", shape: []int{tc.n, tc.k}, data: fdRandom(3, tc.n*tc.k, -3, 3), wrt: true},
				{name: "onehot", shape: []int{tc.n, tc.k}, data: tgt},
			}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SoftmaxCrossEntropy(in[0], in[1])
			}, 1e-6)
		})
	}
}

// The loss usually sits inside a larger cost: the gradient it receives is
// then a computed scalar, not Grad's constant one.
func TestSoftmaxCrossEntropyScaledGradient(t *testing.T) {
	fdCheck(t, []fdInput{
		{name: "logits", shape: []int{3, 4}, data: fdRandom(8, 12, -3, 3), wrt: true},
		{name: "onehot", shape: []int{3, 4}, data: lossOneHot(3, 4)},
	}, func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		l, err := SoftmaxCrossEntropy(in[0], in[1])
		if err != nil {
			return nil, err
		}
		return gorgonia.Mul(l, gorgonia.NewConstant(2.5))
	}, 1e-6)
}

func BenchmarkSoftmaxCrossEntropy(b *testing.B) {
	benchGraph(b, []fdInput{
		{name: "logits", shape: []int{32, 10}, wrt: true},
		{name: "onehot", shape: []int{32, 10}, data: lossOneHot(32, 10)},
	}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	}, true)
}

// The ops chained as a model chains them, differentiated end to end: the
// machine runs the graph hundreds of times, so reused output buffers and
// per-op caches are exercised too.
func TestOpsChainedGradient(t *testing.T) {
	fdCheck(t, []fdInput{
		{name: "x", shape: []int{2, 2, 6, 5}, data: fdRandom(30, 120, -1, 1), wrt: true},
		{name: "gamma", shape: []int{2}, data: []float64{1.2, 0.7}, wrt: true},
		{name: "beta", shape: []int{2}, data: []float64{0.1, -0.2}}, // softmax cancels its shift
		{name: "kernel", shape: []int{3}, data: BlurKernel(0.8, 1)},
		{name: "onehot", shape: []int{2, 9}, data: lossOneHot(2, 9)},
	}, func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		st := NewBatchNormState(2)
		y, err := Resize(in[0], 3, 3)
		if err != nil {
			return nil, err
		}
		if y, err = BatchNorm2D(y, in[1], in[2], st); err != nil {
			return nil, err
		}
		if y, err = GaussianBlur(y, in[3]); err != nil {
			return nil, err
		}
		// Channel 1 only, as a (N,1,h,w) saliency logit map.
		if y, err = gorgonia.Slice(y, nil, gorgonia.S(1, 2)); err != nil {
			return nil, err
		}
		if y, err = gorgonia.Reshape(y, tensor.Shape{2, 1, 3, 3}); err != nil {
			return nil, err
		}
		if y, err = SpatialSoftmax(y, 0.5); err != nil {
			return nil, err
		}
		if y, err = gorgonia.Reshape(y, tensor.Shape{2, 9}); err != nil {
			return nil, err
		}
		return SoftmaxCrossEntropy(y, in[4])
	}, 1e-6)
}
