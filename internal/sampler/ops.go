package sampler

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The Gorgonia operations. Each forward op has a backward op built by its SymDiff; the
// backward ops recompute what they need from the forward inputs instead of keeping state.
// The one thing an op keeps is its output tensor, reused from run to run so that a
// training step allocates no new outputs: a value an op returns is overwritten by its
// next run, and each node gets an op value of its own (one graph, one machine at a time).

// opKey implements the bookkeeping methods shared by every op here. key names the op
// and all of its parameters: Gorgonia merges nodes whose ops hash alike.
type opKey struct {
	key     string
	buf     *outBuf
	scratch *pool
}

func newKey(key string) opKey { return opKey{key: key, buf: &outBuf{}, scratch: &pool{}} }

// outBuf is an op's output tensor, kept between runs.
type outBuf struct{ t *tensor.Dense }

// output returns the op's output tensor for dtype dt and shape, reusing the one of the
// last run when it fits. Gorgonia's preallocated value is not used: the register it
// comes from may belong to another op's kept buffer.
func (o opKey) output(dt tensor.Dtype, shape tensor.Shape) *tensor.Dense {
	if o.buf == nil {
		return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	}
	if t := o.buf.t; t != nil && t.Dtype() == dt && t.DataSize() == shape.TotalSize() && !t.IsView() {
		// A downstream op may have reshaped it in place.
		if err := t.Reshape(shape...); err == nil {
			return t
		}
	}
	o.buf.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	return o.buf.t
}

func (o opKey) ReturnsPtr() bool      { return false }
func (o opKey) CallsExtern() bool     { return false }
func (o opKey) OverwritesInput() int  { return -1 }
func (o opKey) WriteHash(h hash.Hash) { fmt.Fprint(h, o.key) }
func (o opKey) String() string        { return o.key }
func (o opKey) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

func tensorType(dims int) gorgonia.TensorType {
	return gorgonia.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// values converts op inputs to contiguous dense tensors of one float dtype.
func values(name string, in []gorgonia.Value, arity int) ([]*tensor.Dense, tensor.Dtype, error) {
	if len(in) != arity {
		return nil, tensor.Dtype{}, fmt.Errorf("%s: got %d inputs, want %d", name, len(in), arity)
	}
	out := make([]*tensor.Dense, len(in))
	var dt tensor.Dtype
	for i, v := range in {
		d, ok := v.(*tensor.Dense)
		if !ok {
			return nil, dt, fmt.Errorf("%s: input %d is a %T, want a dense tensor", name, i, v)
		}
		if d.RequiresIterator() {
			d = d.Materialize().(*tensor.Dense)
		}
		if i == 0 {
			dt = d.Dtype()
		}
		if d.Dtype() != dt {
			return nil, dt, fmt.Errorf("%s: input %d is %v, input 0 is %v", name, i, d.Dtype(), dt)
		}
		out[i] = d
	}
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, dt, fmt.Errorf("%s: dtype %v is not float32 or float64", name, dt)
	}
	return out, dt, nil
}

func shapeOf(name string, ds gorgonia.DimSizer, dims int) (tensor.Shape, error) {
	s, ok := ds.(tensor.Shape)
	if !ok || len(s) != dims {
		return nil, fmt.Errorf("%s: input shape %v, want %d dimensions", name, ds, dims)
	}
	return s, nil
}

// ---------------------------------------------------------------- grid generator

// genOp maps saliency maps (N, h, w) to clamped grids (N, h, w, 2).
type genOp struct {
	opKey
	g *Generator
}

func newGenOp(g *Generator) genOp {
	p := g.p
	return genOp{newKey(fmt.Sprintf("SaliencyGrid{%dx%d,P=%d,F=%v,%s}", p.W, p.H, p.Padding, p.FWHM, p.Mode)), g}
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

func (o genOp) Arity() int { return 1 }
func (o genOp) Type() hm.Type {
	return hm.NewFnType(tensorType(3), tensorType(4))
}

func (o genOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(o.key, in[0], 3)
	if err != nil {
		return nil, err
	}
	if s[1] != o.g.p.H || s[2] != o.g.p.W {
		return nil, fmt.Errorf("%s: saliency shape %v, want (N, %d, %d)", o.key, s, o.g.p.H, o.g.p.W)
	}
	return tensor.Shape{s[0], s[1], s[2], 2}, nil
}

func (o genOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) { return o.UsePreallocDo(nil, in...) }

func (o genOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := values(o.key, in, 1)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	out := o.output(dt, tensor.Shape{sh[0], sh[1], sh[2], 2})
	if dt == tensor.Float32 {
		o.g.GridBatch32(v[0].Float32s(), sh[0], out.Float32s())
	} else {
		o.g.GridBatch64(v[0].Float64s(), sh[0], out.Float64s())
	}
	return out, nil
}

func (o genOp) DiffWRT(int) []bool { return []bool{true} }

func (o genOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	ds, err := gorgonia.ApplyOp(genGradOp{newKey(o.key + "'"), o.g}, in[0], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.key, err)
	}
	return gorgonia.Nodes{ds}, nil
}

// genGradOp maps (s, dgrid) to ds.
type genGradOp struct {
	opKey
	g *Generator
}

func (o genGradOp) Arity() int { return 2 }
func (o genGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(3), tensorType(4), tensorType(3))
}
func (o genGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return shapeOf(o.key, in[0], 3)
}
func (o genGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o genGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := values(o.key, in, 2)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if gs := v[1].Shape(); !gs.Eq(tensor.Shape{sh[0], sh[1], sh[2], 2}) {
		return nil, fmt.Errorf("%s: grid gradient shape %v does not match saliency shape %v", o.key, gs, sh)
	}
	out := o.output(dt, sh.Clone())
	if dt == tensor.Float32 {
		o.g.GridBackward32(v[0].Float32s(), v[1].Float32s(), sh[0], out.Float32s())
	} else {
		o.g.GridBackward64(v[0].Float64s(), v[1].Float64s(), sh[0], out.Float64s())
	}
	return out, nil
}

// ---------------------------------------------------------------- grid upsampling

// upOp maps grids (N, h, w, 2) to (N, ho, wo, 2).
type upOp struct {
	opKey
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
	n, err := gorgonia.ApplyOp(upOp{newKey(key), ho, wo, !alignCorners}, grid)
	if err != nil {
		return nil, fmt.Errorf("upsample grid: %w", err)
	}
	return n, nil
}

func (o upOp) Arity() int    { return 1 }
func (o upOp) Type() hm.Type { return hm.NewFnType(tensorType(4), tensorType(4)) }

func (o upOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := gridShape(o.key, in[0])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s[0], o.ho, o.wo, 2}, nil
}

func gridShape(name string, ds gorgonia.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(name, ds, 4)
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
	v, dt, err := values(o.key, in, 1)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if _, err := gridShape(o.key, sh); err != nil {
		return nil, err
	}
	out := o.output(dt, tensor.Shape{sh[0], o.ho, o.wo, 2})
	u := newUpsamplerCorners(sh[1], sh[2], o.ho, o.wo, !o.half)
	if dt == tensor.Float32 {
		upBatch(u, sh[0], v[0].Float32s(), out.Float32s())
	} else {
		upBatch(u, sh[0], v[0].Float64s(), out.Float64s())
	}
	return out, nil
}

func upBatch[T float](u *upsampler, n int, grid, out []T) {
	gp, op := 2*u.h*u.w, 2*u.ho*u.wo
	parallel(n, 10*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			upForward(u, grid[i*gp:(i+1)*gp], out[i*op:(i+1)*op])
		}
	})
}

func upBatchBackward[T float](u *upsampler, n int, grid, dout, dgrid []T) {
	gp, op := 2*u.h*u.w, 2*u.ho*u.wo
	parallel(n, 12*op, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			upBackward(u, grid[i*gp:(i+1)*gp], dout[i*op:(i+1)*op], dgrid[i*gp:(i+1)*gp])
		}
	})
}

func (o upOp) DiffWRT(int) []bool { return []bool{true} }

func (o upOp) SymDiff(in gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := gorgonia.ApplyOp(upGradOp{newKey(o.key + "'"), o.ho, o.wo, o.half}, in[0], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.key, err)
	}
	return gorgonia.Nodes{d}, nil
}

// upGradOp maps (grid, dout) to dgrid.
type upGradOp struct {
	opKey
	ho, wo int
	half   bool
}

func (o upGradOp) Arity() int { return 2 }
func (o upGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4))
}
func (o upGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return gridShape(o.key, in[0])
}
func (o upGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o upGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := values(o.key, in, 2)
	if err != nil {
		return nil, err
	}
	sh := v[0].Shape()
	if _, err := gridShape(o.key, sh); err != nil {
		return nil, err
	}
	if ds := v[1].Shape(); !ds.Eq(tensor.Shape{sh[0], o.ho, o.wo, 2}) {
		return nil, fmt.Errorf("%s: output gradient shape %v, want (%d, %d, %d, 2)", o.key, ds, sh[0], o.ho, o.wo)
	}
	out := o.output(dt, sh.Clone())
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
	opKey
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
	deriv     outBuf // (N, C, Ho, Wo, 2)
}

// valid reports whether the cache was built from these very inputs.
func (c *sampleCache) valid(img, grid *tensor.Dense, s SampleShape) bool {
	return c != nil && c.img != 0 && c.img == img.Uintptr() && c.grid == grid.Uintptr() && c.shape == s &&
		c.deriv.t != nil && c.deriv.t.Dtype() == img.Dtype()
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
	op := sampleOp{newKey(fmt.Sprintf("GridSample{imageGrad=%t}", c.imageGrad)), c.imageGrad, &sampleCache{}}
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

func (o sampleOp) Arity() int { return 2 }
func (o sampleOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4))
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

func (o sampleOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	img, err := shapeOf(o.key, in[0], 4)
	if err != nil {
		return nil, err
	}
	grid, err := shapeOf(o.key, in[1], 4)
	if err != nil {
		return nil, err
	}
	s, err := sampleShape(o.key, img, grid)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{s.N, s.C, s.Ho, s.Wo}, nil
}

func (o sampleOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o sampleOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := values(o.key, in, 2)
	if err != nil {
		return nil, err
	}
	s, err := sampleShape(o.key, v[0].Shape(), v[1].Shape())
	if err != nil {
		return nil, err
	}
	out := o.output(dt, tensor.Shape{s.N, s.C, s.Ho, s.Wo})
	if c := o.cache; c != nil && c.want {
		c.img = 0
		deriv := opKey{buf: &c.deriv}.output(dt, tensor.Shape{s.N, s.C, s.Ho, s.Wo, 2})
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
	dgrid, err := gorgonia.ApplyOp(sampleGradOp{newKey("GridSample'grid"), false, o.cache}, in[0], in[1], grad)
	if err != nil {
		return nil, fmt.Errorf("%s gradient: %w", o.key, err)
	}
	var dimg *gorgonia.Node
	if o.imageGrad {
		if dimg, err = gorgonia.ApplyOp(sampleGradOp{newKey("GridSample'image"), true, nil}, in[0], in[1], grad); err != nil {
			return nil, fmt.Errorf("%s gradient: %w", o.key, err)
		}
	}
	return gorgonia.Nodes{dimg, dgrid}, nil
}

// sampleGradOp maps (img, grid, dout) to the gradient to the image (toImage) or to the
// grid; the latter uses the forward op's cache when it holds this step's derivatives.
type sampleGradOp struct {
	opKey
	toImage bool
	cache   *sampleCache
}

func (o sampleGradOp) Arity() int { return 3 }
func (o sampleGradOp) Type() hm.Type {
	return hm.NewFnType(tensorType(4), tensorType(4), tensorType(4), tensorType(4))
}

func (o sampleGradOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if o.toImage {
		return shapeOf(o.key, in[0], 4)
	}
	return gridShape(o.key, in[1])
}

func (o sampleGradOp) Do(in ...gorgonia.Value) (gorgonia.Value, error) {
	return o.UsePreallocDo(nil, in...)
}

func (o sampleGradOp) UsePreallocDo(prealloc gorgonia.Value, in ...gorgonia.Value) (gorgonia.Value, error) {
	v, dt, err := values(o.key, in, 3)
	if err != nil {
		return nil, err
	}
	s, err := sampleShape(o.key, v[0].Shape(), v[1].Shape())
	if err != nil {
		return nil, err
	}
	if ds := v[2].Shape(); !ds.Eq(tensor.Shape{s.N, s.C, s.Ho, s.Wo}) {
		return nil, fmt.Errorf("%s: output gradient shape %v, want (%d, %d, %d, %d)", o.key, ds, s.N, s.C, s.Ho, s.Wo)
	}
	shape := v[1].Shape()
	if o.toImage {
		shape = v[0].Shape()
	}
	out := o.output(dt, shape.Clone())
	if !o.toImage && o.cache.valid(v[0], v[1], s) {
		if dt == tensor.Float32 {
			gridGradBatchFromDeriv(o.scratch, s, v[1].Float32s(), v[2].Float32s(), o.cache.deriv.t.Float32s(), out.Float32s())
		} else {
			gridGradBatchFromDeriv(o.scratch, s, v[1].Float64s(), v[2].Float64s(), o.cache.deriv.t.Float64s(), out.Float64s())
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

func sampleGradInto[T float](sp *pool, s SampleShape, toImage bool, img, grid, dout, out []T) {
	if toImage {
		sampleBatchBackward(sp, s, img, grid, dout, out, nil)
	} else {
		sampleBatchBackward(sp, s, img, grid, dout, nil, out)
	}
}
