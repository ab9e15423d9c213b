package graph

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"zoomtrain/internal/kernels"
)

// torchvision's ResNets, layer for layer, so that their state_dicts load by name:
// a parameter or batch-norm buffer is named by its part's prefix ("task." or
// "saliency.") followed by its torchvision key (conv1.weight, bn1.running_mean,
// layer2.0.downsample.0.weight, fc.bias).

// The torchvision task networks, and the official Saliency-Sampler's saliency network.
const (
	TaskResNet18  = "resnet18"
	TaskResNet34  = "resnet34"
	TaskResNet50  = "resnet50"
	TaskResNet101 = "resnet101"

	SaliencyReference      = "reference"
	SaliencyResNet18Layer3 = "resnet18-layer3"
)

// DefaultResNetWidth is torchvision's width of the stem and layer1.
const DefaultResNetWidth = 64

// Normalisations of the networks' inputs.
const (
	NormalizeNone     = "none"
	NormalizeImageNet = "imagenet"
)

// resnetArch is one torchvision ResNet depth.
type resnetArch struct {
	bottleneck bool
	blocks     [4]int
}

// archOf looks up the depths by name.
func archOf(name string) (resnetArch, bool) {
	switch name {
	case TaskResNet18:
		return resnetArch{blocks: [4]int{2, 2, 2, 2}}, true
	case TaskResNet34:
		return resnetArch{blocks: [4]int{3, 4, 6, 3}}, true
	case TaskResNet50:
		return resnetArch{bottleneck: true, blocks: [4]int{3, 4, 6, 3}}, true
	case TaskResNet101:
		return resnetArch{bottleneck: true, blocks: [4]int{3, 4, 23, 3}}, true
	}
	return resnetArch{}, false
}

// IsTorchvisionResNet reports whether name is one of the torchvision task networks.
func IsTorchvisionResNet(name string) bool {
	_, ok := archOf(name)
	return ok
}

func (a resnetArch) expansion() int {
	if a.bottleneck {
		return 4
	}
	return 1
}

// tvResNet builds a torchvision ResNet of stem width w on x under prefix: the stem,
// then layer1 .. layer<stages>; with classes > 0, global average pool and fc to
// classes. It returns the output and its channel count.
func (l *layers) tvResNet(prefix string, x *G.Node, a resnetArch, w, stages int, classes int) (*G.Node, int) {
	x = l.tconv(prefix+"conv1", x, 3, w, 7, 2, 3, false)
	x = l.tbn(prefix+"bn1", x, w)
	// ReLU then max pool equals max pool then ReLU (every window holds an input
	// cell, and the max commutes with a non-decreasing map): a quarter of the work.
	x = l.apply("maxpool", func() (*G.Node, error) { return kernels.MaxPool2DWindow(x, 3, 2, 1) })
	x = l.relu(x)
	in := w
	for s := range stages {
		planes := w << s
		for blk := range a.blocks[s] {
			stride := 1
			if s > 0 && blk == 0 {
				stride = 2
			}
			name := fmt.Sprintf("%slayer%d.%d", prefix, s+1, blk)
			if a.bottleneck {
				x = l.bottleneck(name, x, in, planes, stride)
			} else {
				x = l.tvBasic(name, x, in, planes, stride)
			}
			in = planes * a.expansion()
		}
	}
	if classes > 0 {
		x = l.apply(prefix+"avgpool", func() (*G.Node, error) { return kernels.GlobalAvgPool(x) })
		x = l.tlinear(prefix+"fc", x, in, classes)
	}
	return x, in
}

// tvBasic is torchvision's BasicBlock: two 3x3 convolutions, the first with the
// stride, and a 1x1 convolution with batch norm on the shortcut when the shape
// changes.
func (l *layers) tvBasic(name string, x *G.Node, cin, planes, stride int) *G.Node {
	y := l.tconv(name+".conv1", x, cin, planes, 3, stride, 1, false)
	y = l.relu(l.tbn(name+".bn1", y, planes))
	y = l.tconv(name+".conv2", y, planes, planes, 3, 1, 1, false)
	y = l.tbn(name+".bn2", y, planes)
	return l.residual(name, x, y, cin, planes, stride)
}

// bottleneck is torchvision's Bottleneck (v1.5: the stride on the 3x3 convolution).
func (l *layers) bottleneck(name string, x *G.Node, cin, planes, stride int) *G.Node {
	out := 4 * planes
	y := l.tconv(name+".conv1", x, cin, planes, 1, 1, 0, false)
	y = l.relu(l.tbn(name+".bn1", y, planes))
	y = l.tconv(name+".conv2", y, planes, planes, 3, stride, 1, false)
	y = l.relu(l.tbn(name+".bn2", y, planes))
	y = l.tconv(name+".conv3", y, planes, out, 1, 1, 0, false)
	y = l.tbn(name+".bn3", y, out)
	return l.residual(name, x, y, cin, out, stride)
}

// residual adds the shortcut (downsampled when the shape changes) to y and applies
// the block's final ReLU.
func (l *layers) residual(name string, x, y *G.Node, cin, cout, stride int) *G.Node {
	short := x
	if stride != 1 || cin != cout {
		short = l.tconv(name+".downsample.0", x, cin, cout, 1, stride, 0, false)
		short = l.tbn(name+".downsample.1", short, cout)
	}
	sum := l.apply(name+".add", func() (*G.Node, error) { return kernels.Add(y, short) })
	return l.relu(sum)
}

// tconv is a convolution with torchvision's parameter names and initialisation
// (Kaiming normal, fan out, for ReLU; the bias as PyTorch's default).
func (l *layers) tconv(name string, x *G.Node, cin, cout, k, stride, pad int, bias bool) *G.Node {
	if l.err != nil {
		return nil
	}
	std := math.Sqrt(2 / float64(cout*k*k))
	w := l.b.newParam(name+".weight", l.part, []int{cout, cin, k, k}, func() float64 { return std * l.b.rng.NormFloat64() })
	var bn *G.Node
	if bias {
		bn = l.b.param(name+".bias", l.part, []int{cout}, cin*k*k)
	}
	return l.convWith(name, x, w, bn, stride, pad)
}

// tbn is batch norm with torchvision's names: weight and bias parameters, the
// running statistics a buffer of the layer's name.
func (l *layers) tbn(name string, x *G.Node, c int) *G.Node {
	if l.err != nil {
		return nil
	}
	gamma := l.b.constParam(name+".weight", l.part, c, 1)
	beta := l.b.constParam(name+".bias", l.part, c, 0)
	return l.batchNorm(name, x, gamma, beta)
}

func (l *layers) tlinear(name string, x *G.Node, in, out int) *G.Node {
	if l.err != nil {
		return nil
	}
	w := l.b.param(name+".weight", l.part, []int{out, in}, in)
	bias := l.b.param(name+".bias", l.part, []int{out}, in)
	return l.linearWith(name, x, w, bias)
}

// isData reports whether x is data: an input, or a normalisation of one. A
// convolution of data computes no input gradient.
func (b *builder) isData(x *G.Node) bool {
	return x != nil && (x.Op() == nil || b.data[x])
}

// normalize applies the spec's input normalisation to a network's input.
func (b *builder) normalize(x *G.Node) (*G.Node, error) {
	if b.m.Spec.Normalize != NormalizeImageNet {
		return x, nil
	}
	mean, std := kernels.ImageNetStats()
	y, err := kernels.Normalize(x, mean, std)
	if err != nil {
		return nil, err
	}
	b.markData(x, y)
	return y, nil
}

// markData marks y, a function of x alone, as data when x is.
func (b *builder) markData(x, y *G.Node) {
	if !b.isData(x) {
		return
	}
	if b.data == nil {
		b.data = map[*G.Node]bool{}
	}
	b.data[y] = true
}

// taskNet is the spec's task network on its input x (after the sampler and blur):
// the input normalisation, then the network, giving logits.
func (b *builder) taskNet(x *G.Node) (*G.Node, error) {
	s := b.m.Spec
	x, err := b.normalize(x)
	if err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	switch s.TaskNet {
	case TaskReference:
		return b.referenceTask(x)
	case TaskResNet:
		return b.resnetTask(x)
	}
	a, _ := archOf(s.TaskNet)
	l := layers{b: b, part: PartTask}
	out, _ := l.tvResNet("task.", x, a, widthOr(s.TaskWidth), 4, s.Outputs())
	return out, l.err
}

// saliencyNet is the spec's saliency network on the low-resolution copy: the input
// normalisation, then the network, giving logits (N, 1, Grid, Grid).
func (b *builder) saliencyNet(x *G.Node) (*G.Node, error) {
	s := b.m.Spec
	x, err := b.normalize(x)
	if err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	if s.SaliencyNet != SaliencyResNet18Layer3 {
		return b.referenceSaliency(x)
	}
	// The official network: ResNet-18 up to layer3 (stride 16), ReLU and a 1x1
	// convolution to one channel, its map resized bilinearly to the grid. layer3
	// ends with a ReLU already, so the official second ReLU is the identity and
	// is left out.
	a, _ := archOf(TaskResNet18)
	l := layers{b: b, part: PartSaliency}
	x, c := l.tvResNet("saliency.", x, a, widthOr(s.SaliencyWidth), 3, 0)
	// conv_last keeps PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)),
	// as in the official code: small logits, a near-uniform first saliency map.
	l.part = PartSaliencyHead
	if l.err == nil {
		w := b.param("saliency.conv_last.weight", l.part, []int{1, c, 1, 1}, c)
		bias := b.param("saliency.conv_last.bias", l.part, []int{1}, c)
		x = l.convWith("saliency.conv_last", x, w, bias, 1, 0)
	}
	x = l.apply("saliency.upsample", func() (*G.Node, error) {
		return kernels.Bilinear(x, s.Grid, s.Grid, s.SaliencyAlignCorners)
	})
	return x, l.err
}

func widthOr(w int) int {
	if w <= 0 {
		return DefaultResNetWidth
	}
	return w
}
