package sampler

import (
	"errors"
	"fmt"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/opkit"
)

// The Gorgonia operations. Each forward op has a backward op built by its SymDiff; the
// backward ops recompute what they need from the forward inputs, except that GridSample's
// grid gradient reuses derivatives its forward op kept (sampleCache). Each op also keeps
// its output tensor and its workers' scratch from run to run, so that a training step
// allocates neither: a value an op returns is overwritten by its next run, and each node
// gets an op value of its own (one graph, one machine at a time).

// base is what every op here embeds: the bookkeeping, the kept output and the scratch.
// Name carries all of the op's parameters, since Gorgonia merges nodes whose ops hash
// alike.
type base struct {
	opkit.Base
	out     *opkit.Buffer
	scratch *pool
}

func newBase(name string, inputs int) base {
	return base{Base: opkit.Base{Name: name, Inputs: inputs}, out: &opkit.Buffer{}, scratch: &pool{}}
}

// args checks the values handed to Do and returns them with their dtype.
func (o base) args(in []gorgonia.Value) ([]*tensor.Dense, tensor.Dtype, error) {
	v, err := opkit.Args(o.Name, o.Inputs, in)
	if err != nil {
		return nil, tensor.Dtype{}, err
	}
	return v, v[0].Dtype(), nil
}

// ---------------------------------------------------------------- grid generator

// genOp maps saliency maps (N, h, w) to clamped grids (N, h, w, 2).
type genOp struct {
	base
	g *Generator
}

func newGenOp(g *Generator) genOp {
	p := g.p
	return genOp{newBase(fmt.Sprintf("SaliencyGrid{%dx%d,P=%d,F=%v,%s}", p.W, p.H, p.Padding, p.FWHM, p.Mode), 1), g}
}

// GenerateGrid adds the grid generator to the graph: s (N, h, w) saliency maps, which need
// not be normalised, to grids (N, h, w, 2) with last axis (x, y), clamped to [-1, 1].
// The gradient flows to s. The dtype is s's, float32 or float64.
func GenerateGrid(g *Generator, s *gorgonia.Node) (*gorgonia.Node, error) {
	if g == nil || s == nil {
		return nil, errors.New("generate grid: nil generator or node")
	}
	n, err := gorgonia.ApplyOp(newGenOp(g), s)
	if err != nil {
		return nil, fmt.Errorf("generate grid: %w", err)
	}
	return n, nil
}

func (o genOp) Type() hm.Type {
	return opkit.FnType(4, 3)
}

func (o genOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.RankedShape(o.Name, in, 0, 3)
	if err != nil {
		return nil, err
	}
	if s[1] != o.g.p.H || s[2] != o.g.p.W {
		return nil, fmt.Errorf("%s: saliency shape %v, want (N, %d, %d)", o.Name, s, o.g.p.H, o.g.p.W)
	}
	return tensor.Shape{s[0], s[1], s[2], 2}, nil
}

func (o genOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) { return o.UsePreallocDo(nil, in...) }

func (o genOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := o.args(in)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	out := o.out.Get(dt, tensor.Shape{sh[0], sh[1], sh[2], 2}...)
	if dt == tensor.Float32 {
		Grid(o.g, v[0].Float32s(), sh[0], out.Float32s())
	} else {
		Grid(o.g, v[0].Float64s(), sh[0], out.Float64s())
	}
	return out, nil
}

func (o genOp) DiffWRT(int) []bool { return []bool{true} }

func (o genOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	ds, err := gorgonia.ApplyOp(genGradOp{newBase(o.Name+"'", 2), o.g}, in[0], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.Name, err)
	}
	return gorgonia.Nodes{ds}, nil
}

// genGradOp maps (s, dgrid) to ds.
type genGradOp struct {
	base
	g *Generator
}

func (o genGradOp) Type() hm.Type {
	return opkit.FnType(3, 3, 4)
}
func (o genGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return opkit.RankedShape(o.Name, in, 0, 3)
}
func (o genGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o genGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := o.args(in)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if gs := v[1].Shape(); !gs.Eq(tensor.Shape{sh[0], sh[1], sh[2], 2}) {
		return nil, fmt.Errorf("%s: grid gradient shape %v does not match saliency shape %v", o.Name, gs, sh)
	}
	out := o.out.Get(dt, sh.Clone()...)
	if dt == tensor.Float32 {
		GridBackward(o.g, v[0].Float32s(), v[1].Float32s(), sh[0], out.Float32s())
	} else {
		GridBackward(o.g, v[0].Float64s(), v[1].Float64s(), sh[0], out.Float64s())
	}
	return out, nil
}

// ---------------------------------------------------------------- grid upsampling

// upOp maps grids (N, h, w, 2) to (N, ho, wo, 2).
type upOp struct {
	base
	ho, wo int
	half   bool // align_corners = false
}

// UpsampleGrid adds bilinear upsampling (align_corners = true) of grids (N, h, w, 2) to
// (N, ho, wo, 2) to the graph, followed by a clamp to [-1, 1]. The gradient flows to grid.
func UpsampleGrid(grid *gorgonia.Node, ho, wo int) (*gorgonia.Node, error) {
	return UpsampleGridCorners(grid, ho, wo, true)
}

// UpsampleGridCorners is UpsampleGrid with a choice of align_corners: false is
// PyTorch's default since 0.4.0, the official Saliency-Sampler's nn.Upsample.
func UpsampleGridCorners(grid *gorgonia.Node, ho, wo int, alignCorners bool) (*gorgonia.Node, error) {
	if grid == nil {
		return nil, errors.New("upsample grid: nil node")
	}
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("upsample grid: output size %dx%d (w x h) must be positive", wo, ho)
	}
	key := fmt.Sprintf("UpsampleGrid{%dx%d}", wo, ho)
	if !alignCorners {
		key = fmt.Sprintf("UpsampleGridHalfPixel{%dx%d}", wo, ho)
	}
	n, err := gorgonia.ApplyOp(upOp{newBase(key, 1), ho, wo, !alignCorners}, grid)
	if err != nil {
		return nil, fmt.Errorf("upsample grid: %w", err)
	}
	return n, nil
}

func (o upOp) Type() hm.Type { return opkit.FnType(4, 4) }

func (o upOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := gridShape(o.Name, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], o.ho, o.wo, 2}, nil
}

// gridShape checks that ds is the shape of a batch of grids, (N, h, w, 2).
func gridShape(name string, ds gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := opkit.RankedShape(name, []gorgonia.DimSizer{ds}, 0, 4)
	if err != nil {
		return nil, err
	}
	if s[3] != 2 {
		return nil, fmt.Errorf("%s: grid shape %v, want (N, h, w, 2)", name, s)
	}
	return s, nil
}

func (o upOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) { return o.UsePreallocDo(nil, in...) }

func (o upOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := o.args(in)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if _, err := gridShape(o.Name, sh); err != nil {
		return nil, err
	}
	out := o.out.Get(dt, tensor.Shape{sh[0], o.ho, o.wo, 2}...)
	u := newUpsamplerCorners(sh[1], sh[2], o.ho, o.wo, !o.half)
	if dt == tensor.Float32 {
		upBatch(u, sh[0], v[0].Float32s(), out.Float32s())
	} else {
		upBatch(u, sh[0], v[0].Float64s(), out.Float64s())
	}
	return out, nil
}

func (o upOp) DiffWRT(int) []bool { return []bool{true} }

func (o upOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(upGradOp{newBase(o.Name+"'", 2), o.ho, o.wo, o.half}, in[0], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.Name, err)
	}
	return gorgonia.Nodes{d}, nil
}

// upGradOp maps (grid, dout) to dgrid.
type upGradOp struct {
	base
	ho, wo int
	half   bool
}

func (o upGradOp) Type() hm.Type {
	return opkit.FnType(4, 4, 4)
}
func (o upGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return gridShape(o.Name, in[0])
}
func (o upGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o upGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := o.args(in)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if _, err := gridShape(o.Name, sh); err != nil {
		return nil, err
	}
	if ds := v[1].Shape(); !ds.Eq(tensor.Shape{sh[0], o.ho, o.wo, 2}) {
		return nil, fmt.Errorf("%s: output gradient shape %v, want (%d, %d, %d, 2)", o.Name, ds, sh[0], o.ho, o.wo)
	}
	out := o.out.Get(dt, sh.Clone()...)
	u := newUpsamplerCorners(sh[1], sh[2], o.ho, o.wo, !o.half)
	if dt == tensor.Float32 {
		upBatchBackward(u, sh[0], v[0].Float32s(), v[1].Float32s(), out.Float32s())
	} else {
		upBatchBackward(u, sh[0], v[0].Float64s(), v[1].Float64s(), out.Float64s())
	}
	return out, nil
}

// ---------------------------------------------------------------- grid sampling

// SampleOption configures GridSample.
type SampleOption func(*sampleConfig)

type sampleConfig struct{ imageGrad, set bool }

// WithImageGradient says whether GridSample is differentiable with respect to the image.
// Without it, the image gradient is built only when the image is computed by other
// operations: an input or constant image needs none in training, and skipping it saves a
// pass over the full-resolution batch every step.
func WithImageGradient(on bool) SampleOption {
	return func(c *sampleConfig) { c.imageGrad, c.set = on, true }
}

// sampleOp samples images (N, C, H, W) at grids (N, Ho, Wo, 2) into (N, C, Ho, Wo).
type sampleOp struct {
	base
	imageGrad bool
	cache     *sampleCache
}

// sampleCache carries, from a forward run to the grid-gradient op of the same step, the
// derivatives of the output with respect to the sample coordinates: with them the
// backward pass reads no image, and its cost does not grow with the source resolution.
type sampleCache struct {
	want      bool    // set by SymDiff: a grid gradient will be computed
	img, grid uintptr // data addresses of the forward run's inputs; 0 when none
	shape     SampleShape
	deriv     opkit.Buffer // (N, C, Ho, Wo, 2)
}

// valid reports whether the cache was built from these very inputs.
func (c *sampleCache) valid(img, grid *tensor.Dense, s SampleShape) bool {
	return c != nil && c.img != 0 && c.img == img.Uintptr() && c.grid == grid.Uintptr() && c.shape == s &&
		c.deriv.Tensor() != nil && c.deriv.Tensor().Dtype() == img.Dtype()
}

// GridSample adds bilinear sampling of img (N, C, H, W) at grid (N, Ho, Wo, 2) to the
// graph, giving (N, C, Ho, Wo): border padding, align_corners = true, grid last axis
// (x, y). The gradient flows to grid always, and to img as WithImageGradient says.
func GridSample(img, grid *gorgonia.Node, opts ...SampleOption) (*gorgonia.Node, error) {
	if img == nil || grid == nil {
		return nil, errors.New("grid sample: nil node")
	}
	var c sampleConfig
	for _, o := range opts {
		o(&c)
	}
	if !c.set {
		c.imageGrad = !isLeaf(img)
	}
	op := sampleOp{newBase(fmt.Sprintf("GridSample{imageGrad=%t}", c.imageGrad), 2), c.imageGrad, &sampleCache{}}
	n, err := gorgonia.ApplyOp(op, img, grid)
	if err != nil {
		return nil, fmt.Errorf("grid sample: %w", err)
	}
	return n, nil
}

// isLeaf reports whether n is an input, a variable or a constant.
func isLeaf(n *gorgonia.Node) bool {
	if n.Op() == nil {
		return true
	}
	_, constant := n.Op().(interface{ Value() gorgonia.Value })
	return constant
}

func (o sampleOp) Type() hm.Type {
	return opkit.FnType(4, 4, 4)
}

func sampleShape(name string, img, grid tensor.Shape) (SampleShape, error) {
	if len(img) != 4 {
		return SampleShape{}, fmt.Errorf("%s: image shape %v, want (N, C, H, W)", name, img)
	}
	if _, err := gridShape(name, grid); err != nil {
		return SampleShape{}, err
	}
	if img[0] != grid[0] {
		return SampleShape{}, fmt.Errorf("%s: image batch %d and grid batch %d differ", name, img[0], grid[0])
	}
	return SampleShape{N: img[0], C: img[1], H: img[2], W: img[3], Ho: grid[1], Wo: grid[2]}, nil
}

// sampleArgs checks the values handed to a sampling op's Do, (img, grid, ...), and
// returns them with their dtype and the geometry they make.
func (o base) sampleArgs(in []gorgonia.Value) ([]*tensor.Dense, tensor.Dtype, SampleShape, error) {
	v, dt, err := o.args(in)
	if err != nil {
		return nil, dt, SampleShape{}, err
	}
	s, err := sampleShape(o.Name, v[0].Shape(), v[1].Shape())
	return v, dt, s, err
}

func (o sampleOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	img, err := opkit.RankedShape(o.Name, in, 0, 4)
	if err != nil {
		return nil, err
	}
	grid, err := opkit.RankedShape(o.Name, in, 1, 4)
	if err != nil {
		return nil, err
	}
	s, err := sampleShape(o.Name, img, grid)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s.N, s.C, s.Ho, s.Wo}, nil
}

func (o sampleOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o sampleOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, s, err := o.sampleArgs(in)
	if err != nil {
		return nil, err
	}
	out := o.out.Get(dt, tensor.Shape{s.N, s.C, s.Ho, s.Wo}...)
	if c := o.cache; c != nil && c.want {
		c.img = 0
		deriv := c.deriv.Get(dt, s.N, s.C, s.Ho, s.Wo, 2)
		if dt == tensor.Float32 {
			sampleBatchDeriv(o.scratch, s, v[0].Float32s(), v[1].Float32s(), out.Float32s(), deriv.Float32s())
		} else {
			sampleBatchDeriv(o.scratch, s, v[0].Float64s(), v[1].Float64s(), out.Float64s(), deriv.Float64s())
		}
		c.img, c.grid, c.shape = v[0].Uintptr(), v[1].Uintptr(), s
		return out, nil
	}
	if dt == tensor.Float32 {
		sampleBatch(o.scratch, s, v[0].Float32s(), v[1].Float32s(), out.Float32s())
	} else {
		sampleBatch(o.scratch, s, v[0].Float64s(), v[1].Float64s(), out.Float64s())
	}
	return out, nil
}

func (o sampleOp) DiffWRT(int) []bool { return []bool{o.imageGrad, true} }

func (o sampleOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	o.cache.want = true
	dgrid, err := gorgonia.ApplyOp(sampleGradOp{newBase("GridSample'grid", 3), false, o.cache}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.Name, err)
	}
	var dimg *gorgonia.Node
	if o.imageGrad {
		if dimg, err = gorgonia.ApplyOp(sampleGradOp{newBase("GridSample'image", 3), true, nil}, in[0], in[1], grad); err != nil {
			return nil, fmt.Errorf("%s gradient: %w", o.Name, err)
		}
	}
	return gorgonia.Nodes{dimg, dgrid}, nil
}

// sampleGradOp maps (img, grid, dout) to the gradient to the image (toImage) or to the
// grid; the latter uses the forward op's cache when it holds this step's derivatives.
type sampleGradOp struct {
	base
	toImage bool
	cache   *sampleCache
}

func (o sampleGradOp) Type() hm.Type {
	return opkit.FnType(4, 4, 4, 4)
}

func (o sampleGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if o.toImage {
		return opkit.RankedShape(o.Name, in, 0, 4)
	}
	return gridShape(o.Name, in[1])
}

func (o sampleGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o sampleGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, s, err := o.sampleArgs(in)
	if err != nil {
		return nil, err
	}
	if ds := v[2].Shape(); !ds.Eq(tensor.Shape{s.N, s.C, s.Ho, s.Wo}) {
		return nil, fmt.Errorf("%s: output gradient shape %v, want (%d, %d, %d, %d)", o.Name, ds, s.N, s.C, s.Ho, s.Wo)
	}
	shape := v[1].Shape()
	if o.toImage {
		shape = v[0].Shape()
	}
	out := o.out.Get(dt, shape.Clone()...)
	if !o.toImage && o.cache.valid(v[0], v[1], s) {
		if dt == tensor.Float32 {
			gridGradBatchFromDeriv(o.scratch, s, v[1].Float32s(), v[2].Float32s(), o.cache.deriv.Tensor().Float32s(), out.Float32s())
		} else {
			gridGradBatchFromDeriv(o.scratch, s, v[1].Float64s(), v[2].Float64s(), o.cache.deriv.Tensor().Float64s(), out.Float64s())
		}
		return out, nil
	}
	if dt == tensor.Float32 {
		sampleGradInto(o.scratch, s, o.toImage, v[0].Float32s(), v[1].Float32s(), v[2].Float32s(), out.Float32s())
	} else {
		sampleGradInto(o.scratch, s, o.toImage, v[0].Float64s(), v[1].Float64s(), v[2].Float64s(), out.Float64s())
	}
	return out, nil
}

func sampleGradInto[T opkit.Float](sp *pool, s SampleShape, toImage bool, img, grid, dout, out []T) {
	if toImage {
		sampleBatchBackward(sp, s, img, grid, dout, out, nil)
	} else {
		sampleBatchBackward(sp, s, img, grid, dout, nil, out)
	}
}
