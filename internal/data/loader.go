package data

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"zoomtrain/internal/lowres"
)

// Augment is the training-time augmentation; its zero value is off (use it for eval).
type Augment struct {
	HFlip bool // mirror left-right with probability 1/2
	// CropScaleMin turns on the random resized crop: a crop of area fraction uniform in
	// [CropScaleMin, 1] and aspect ratio log-uniform in [3/4, 4/3] (narrowed so the crop
	// fits), resampled back to R x R. 0 or 1 is off.
	CropScaleMin float64
}

func (a Augment) crop() bool { return a.CropScaleMin > 0 && a.CropScaleMin < 1 }

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	BatchSize int
	Shuffle   bool
	Seed      int64
	Workers   int // decoding goroutines; 0 means GOMAXPROCS
	Prefetch  int // batches prepared ahead of the consumer; 0 means 2
	// CacheBytes is the memory for decoded images of datasets that are the same every
	// epoch (folders, fixed needle sets); images are kept as bytes, 3*R*R each, first come
	// first kept. 0 turns the cache off.
	CacheBytes int64
	// Cache, when set, is a budget the loader's cache shares with other loaders' (the
	// training and the validation set of one run) in place of CacheBytes.
	Cache   *CacheBudget
	Augment Augment
	// DropLast serves only full batches of BatchSize: the last, short batch is left out,
	// and the slot of a file skipped as unreadable (data.on_error: skip) is filled with
	// a stand-in, the first readable example of the epoch's order from a seeded
	// position. Without it a skipped file's slot is left out and a batch may be short.
	DropLast bool
	// Inputs are the model's low-resolution copies of the images (stage 1), which each
	// batch carries in Batch.LowRes, made from the augmented images here, ahead of the
	// step. A cached image keeps its copies too. The zero value makes none.
	Inputs lowres.Inputs
}

// Batch is a batch of examples as float32 NCHW.
type Batch struct {
	N      int
	X      []float32 // N*3*R*R, NCHW, values in [0, 1]
	Labels []int
	// Targets are the regression targets, N x T row-major in the dataset's units (T =
	// len(TargetNames)); nil for a classification set.
	Targets []float32
	Indices []int // dataset index of each example (a stand-in for a skipped file repeats one)
	// LowRes[k] is N*3*s*s, NCHW: the model's low-resolution copy k of the images
	// (lowres.Inputs, side s = Sides[k]).
	LowRes [][]float32
}

// NewBatch makes a batch of the images x (NCHW, values in [0, 1]) and their labels
// (nil when unknown) with the low-resolution copies of in: the batch the loader would
// make of them, for images that come from elsewhere.
func NewBatch(x []float32, labels []int, in lowres.Inputs) (*Batch, error) {
	per := 3 * in.Resolution * in.Resolution
	if per == 0 || len(x)%per != 0 {
		return nil, fmt.Errorf("batch of %d values is no whole number of 3 x %d x %d images", len(x), in.Resolution, in.Resolution)
	}
	n := len(x) / per
	if labels != nil && len(labels) != n {
		return nil, fmt.Errorf("batch of %d images has %d labels", n, len(labels))
	}
	small, err := in.New(x, n)
	if err != nil {
		return nil, err
	}
	return &Batch{N: n, X: x, Labels: labels, LowRes: small}, nil
}

// Loader turns a Dataset into batches, decoding in a pool of goroutines ahead of the
// consumer. The order and augmentation of epoch e are a pure function of (Seed, e).
type Loader struct {
	ds    Dataset
	o     LoaderOptions
	res   int
	bytes byteImager // non-nil for 8-bit datasets
	cache *imageCache
	free  chan []float32 // batch buffers handed back with Release
	// freeLowRes are the low-resolution copies' buffers handed back with Release.
	freeLowRes chan [][]float32
	// reg is the dataset as a regression set (nil for classification), with T targets
	// per example; flip says which of them a horizontal flip negates.
	reg  Regression
	t    int
	flip []bool
}

// NewLoader checks the options and returns a loader over ds.
func NewLoader(ds Dataset, o LoaderOptions) (*Loader, error) {
	if ds == nil {
		return nil, errors.New("loader: no dataset")
	}
	switch {
	case o.BatchSize < 1:
		return nil, fmt.Errorf("loader: batch size %d is below 1", o.BatchSize)
	case o.Workers < 0 || o.Prefetch < 0 || o.CacheBytes < 0:
		return nil, fmt.Errorf("loader: negative workers (%d), prefetch (%d) or cache (%d)", o.Workers, o.Prefetch, o.CacheBytes)
	case !(o.Augment.CropScaleMin >= 0 && o.Augment.CropScaleMin <= 1):
		return nil, fmt.Errorf("loader: crop scale minimum %v outside [0, 1]", o.Augment.CropScaleMin)
	case ds.Resolution() < 1:
		return nil, fmt.Errorf("loader: dataset resolution %d", ds.Resolution())
	}
	if len(o.Inputs.Sides) > 0 {
		if o.Inputs.Resolution != ds.Resolution() {
			return nil, fmt.Errorf("loader: the model takes %d px images, the dataset's are %d px", o.Inputs.Resolution, ds.Resolution())
		}
		if err := o.Inputs.Validate(); err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Prefetch == 0 {
		o.Prefetch = 2
	}
	l := &Loader{ds: ds, o: o, res: ds.Resolution(), free: make(chan []float32, o.Prefetch+2), freeLowRes: make(chan [][]float32, o.Prefetch+2)}
	if r, ok := ds.(Regression); ok {
		l.reg, l.t = r, len(r.TargetNames())
		if l.t == 0 {
			return nil, errors.New("loader: regression set names no targets")
		}
		if o.Augment.crop() {
			return nil, errors.New("loader: the random resized crop would change the geometry a regression set's targets describe: turn it off")
		}
		if o.Augment.HFlip {
			m, ok := ds.(MirroredTargets)
			if !ok {
				return nil, errors.New("loader: this regression set does not say how its targets change when an image is mirrored: turn horizontal flips off")
			}
			if l.flip = m.MirroredTargets(); len(l.flip) != l.t {
				return nil, fmt.Errorf("loader: %d mirrored-target flags for %d targets", len(l.flip), l.t)
			}
		}
	}
	if b, ok := ds.(byteImager); ok {
		l.bytes = b
		budget := o.Cache
		if budget == nil && o.CacheBytes > 0 {
			budget = NewCacheBudget(o.CacheBytes)
		}
		if budget != nil && budget.limit > 0 && b.epochInvariant() {
			l.cache = &imageCache{budget: budget, m: map[int]*cachedImage{}}
		}
	}
	return l, nil
}

// BatchesPerEpoch is the number of batches an epoch yields (without DropLast, fewer if
// whole batches of files are skipped as undecodable).
func (l *Loader) BatchesPerEpoch() int {
	n := l.ds.Len()
	if l.o.DropLast {
		return n / l.o.BatchSize
	}
	return (n + l.o.BatchSize - 1) / l.o.BatchSize
}

// CachedBytes reports the memory the decoded-image cache holds.
func (l *Loader) CachedBytes() int64 {
	if l.cache == nil {
		return 0
	}
	l.cache.mu.Lock()
	defer l.cache.mu.Unlock()
	return l.cache.used
}

// order returns the dataset indices of epoch e in the order they are served.
func (l *Loader) order(epoch int) []int {
	n := l.ds.Len()
	if l.o.Shuffle {
		return permutation(newRand(uint64(l.o.Seed), saltShuffle, uint64(int64(epoch))), n)
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// Epoch starts loading the batches of epoch e. The caller must Close the iterator.
func (l *Loader) Epoch(ctx context.Context, epoch int) *EpochIter {
	if ctx == nil {
		ctx = context.Background()
	}
	ictx, cancel := context.WithCancel(ctx)
	it := &EpochIter{parent: ctx, ctx: ictx, cancel: cancel, ready: make(chan *pending, l.o.Prefetch), slots: make(chan struct{}, l.o.Prefetch)}
	order := l.order(epoch)
	nb := l.BatchesPerEpoch()
	jobs := make(chan job, l.o.BatchSize)
	it.wg.Go(func() {
		defer close(jobs)
		defer close(it.ready)
		bs, sz := l.o.BatchSize, 3*l.res*l.res
		for k := 0; k < nb; k++ {
			// A batch's buffers are taken only once it has a place among the
			// Prefetch batches ahead of the consumer, so that at most Prefetch+1
			// batches (with the consumer's) are allocated at a time.
			select {
			case it.slots <- struct{}{}:
			case <-ictx.Done():
				return
			}
			idx := order[k*bs : min((k+1)*bs, len(order))]
			p := &pending{
				b:    &Batch{N: len(idx), X: l.buffer(len(idx) * sz), Labels: make([]int, len(idx)), Indices: slices.Clone(idx)},
				done: make(chan struct{}), skip: make([]bool, len(idx)), errSlot: -1,
			}
			if l.reg != nil {
				p.b.Targets = make([]float32, len(idx)*l.t)
			}
			p.b.LowRes = l.lowResBuffers(len(idx))
			p.left.Store(int32(len(idx)))
			select {
			case it.ready <- p:
			case <-ictx.Done():
				return
			}
			for s := range idx {
				select {
				case jobs <- job{p, s, k*bs + s}:
				case <-ictx.Done():
					return
				}
			}
		}
	})
	for w := 0; w < l.o.Workers; w++ {
		it.wg.Go(func() {
			var scratch []float32
			for j := range jobs {
				if ictx.Err() == nil {
					l.fill(j, epoch, order, &scratch)
				}
				if j.p.left.Add(-1) == 0 {
					close(j.p.done)
				}
			}
		})
	}
	return it
}

// buffer returns n floats for a batch, reusing a released buffer when one is free.
// Every value is overwritten by the workers, so it need not be cleared.
func (l *Loader) buffer(n int) []float32 {
	select {
	case x := <-l.free:
		if cap(x) >= n {
			return x[:n]
		}
	default:
	}
	return make([]float32, n)
}

// lowResBuffers returns the buffers of n images' low-resolution copies, reusing
// released ones when they are free.
func (l *Loader) lowResBuffers(n int) [][]float32 {
	if len(l.o.Inputs.Sides) == 0 {
		return nil
	}
	var bufs [][]float32
	select {
	case bufs = <-l.freeLowRes:
	default:
		bufs = make([][]float32, len(l.o.Inputs.Sides))
	}
	for k := range bufs {
		if size := l.o.Inputs.Size(k, n); cap(bufs[k]) >= size {
			bufs[k] = bufs[k][:size]
		} else {
			bufs[k] = make([]float32, size)
		}
	}
	return bufs
}

// Release hands a batch's memory (its images and low-resolution copies) back for reuse
// by later batches of this loader, saving the allocation of N*3*R*R floats and more per
// batch. It is optional; b must not be used after.
func (l *Loader) Release(b *Batch) {
	if b == nil || b.X == nil {
		return
	}
	select {
	case l.free <- b.X[:cap(b.X)]:
	default:
	}
	if len(b.LowRes) == len(l.o.Inputs.Sides) && len(b.LowRes) > 0 {
		select {
		case l.freeLowRes <- b.LowRes:
		default:
		}
	}
	b.X, b.N, b.LowRes = nil, 0, nil
}

type job struct {
	p    *pending
	slot int
	pos  int // position in the epoch's order
}

// pending is a batch being filled by the workers.
type pending struct {
	b       *Batch
	left    atomic.Int32
	done    chan struct{}
	skip    []bool // each slot written by one worker, read after done
	mu      sync.Mutex
	err     error
	errSlot int
	skipped []slotSkip
}

// slotSkip is a file found unreadable while filling a slot.
type slotSkip struct {
	slot int
	file SkippedFile
}

func (p *pending) noteSkipped(l *Loader, slot, i int, err error) {
	f := SkippedFile{Index: i, Err: err}
	if ps, ok := l.ds.(interface{ Path(int) string }); ok {
		f.Path = ps.Path(i)
	}
	p.mu.Lock()
	p.skipped = append(p.skipped, slotSkip{slot, f})
	p.mu.Unlock()
}

// fail records the error of slot s (dataset example i). The lowest failing slot wins,
// so the error does not depend on scheduling.
func (p *pending) fail(s, i int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errSlot < 0 || s < p.errSlot {
		p.err, p.errSlot = fmt.Errorf("example %d: %w", i, err), s // the caller names the epoch, 1-based
	}
}

// fill loads, augments and labels one slot of a batch.
func (l *Loader) fill(j job, epoch int, order []int, scratch *[]float32) {
	p, s := j.p, j.slot
	i := p.b.Indices[s]
	sz := 3 * l.res * l.res
	dst := p.b.X[s*sz : (s+1)*sz]
	p.b.Labels[s] = l.ds.Label(i)
	small := make([][]float32, len(l.o.Inputs.Sides))
	for k := range l.o.Inputs.Sides {
		n := l.o.Inputs.Size(k, 1)
		small[k] = p.b.LowRes[k][s*n : (s+1)*n]
	}
	err := l.loadSafely(i, epoch, dst, small)
	if errors.Is(err, ErrSkipped) {
		p.noteSkipped(l, s, i, err)
		if !l.o.DropLast {
			p.skip[s] = true
			return
		}
		var in int
		if in, err = l.standIn(p, s, j.pos, epoch, order, dst, small); err == nil {
			i = in
			p.b.Indices[s], p.b.Labels[s] = i, l.ds.Label(i)
		}
	}
	if err == nil && l.reg != nil {
		err = l.reg.Targets(i, epoch, p.b.Targets[s*l.t:(s+1)*l.t])
	}
	if err != nil {
		p.fail(s, i, err)
		return
	}
	a := l.o.Augment
	if !a.HFlip && !a.crop() {
		return
	}
	r := newRand(uint64(l.o.Seed), saltAugment, uint64(int64(epoch)), uint64(i))
	if a.crop() {
		if len(*scratch) != sz {
			*scratch = make([]float32, sz)
		}
		randomResizedCrop(r, dst, *scratch, l.res, a.CropScaleMin)
		if err := l.o.Inputs.Make(dst, 1, small); err != nil {
			p.fail(s, i, err)
			return
		}
	}
	if a.HFlip && r.IntN(2) == 1 {
		hflip(dst, l.res)
		// The resize filter (and the pool's windows) are symmetric, so the mirrored
		// image's downsample is the
		// mirrored downsample.
		for k, side := range l.o.Inputs.Sides {
			hflip(small[k], side)
		}
		for k, neg := range l.flip {
			if neg {
				p.b.Targets[s*l.t+k] = -p.b.Targets[s*l.t+k]
			}
		}
	}
}

// standIn loads, for the skipped example at position pos of the epoch's order, the
// first readable example of that order from a position drawn from (Seed, epoch, pos),
// and returns its index. The choice depends on nothing but that and which files are
// unreadable, so a resumed run fills a batch the same way. Examples found unreadable on
// the way are noted as skipped.
func (l *Loader) standIn(p *pending, s, pos, epoch int, order []int, dst []float32, small [][]float32) (int, error) {
	n := len(order)
	start := int(newRand(uint64(l.o.Seed), saltStandIn, uint64(int64(epoch)), uint64(pos)).Uint64N(uint64(n)))
	known, _ := l.ds.(knownUnreadable)
	for k := range n {
		i := order[(start+k)%n]
		if known != nil && known.unreadable(i) {
			continue
		}
		err := l.loadSafely(i, epoch, dst, small)
		if !errors.Is(err, ErrSkipped) {
			return i, err
		}
		p.noteSkipped(l, s, i, err)
	}
	return -1, fmt.Errorf("no readable image is left to fill the batch: all %d examples failed", n)
}

// loadSafely is load with a panic in a decoder or a caller's Dataset turned into an
// error: it would otherwise kill the process from a worker goroutine.
func (l *Loader) loadSafely(i, epoch int, dst []float32, small [][]float32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while loading: %v", r)
		}
	}()
	return l.load(i, epoch, dst, small)
}

// load reads example i into dst and its downsamples (before augmentation) into small.
func (l *Loader) load(i, epoch int, dst []float32, small [][]float32) error {
	if l.bytes == nil {
		if err := l.ds.Image(i, epoch, dst); err != nil {
			return err
		}
		return l.o.Inputs.Make(dst, 1, small)
	}
	if c, ok := l.cache.get(i); ok {
		c.expand(dst, small)
		return nil
	}
	b := make([]uint8, len(dst))
	if err := l.bytes.imageBytes(i, epoch, b); err != nil {
		return err
	}
	bytesToFloat(dst, b)
	if err := l.o.Inputs.Make(dst, 1, small); err != nil {
		return err
	}
	if l.cache != nil {
		l.cache.put(i, newCachedImage(b, small))
	}
	return nil
}

// EpochIter yields the batches of one epoch in order.
type EpochIter struct {
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelFunc
	ready    chan *pending
	slots    chan struct{} // one per batch between the producer and the consumer
	wg       sync.WaitGroup
	err      error
	finished bool
	skipped  []SkippedFile
	seen     map[int]bool // indices in skipped
}

// Next returns the next batch, or false at the end of the epoch or on an error (see Err).
// Examples skipped as undecodable are filled with stand-ins (DropLast) or left out, so
// that without DropLast a batch may be short; Skipped names them.
func (it *EpochIter) Next() (*Batch, bool) {
	for !it.finished {
		var p *pending
		var ok bool
		select {
		case p, ok = <-it.ready:
		case <-it.ctx.Done():
		}
		if !ok {
			it.stop(it.parent.Err())
			return nil, false
		}
		<-it.slots
		select {
		case <-p.done:
		case <-it.ctx.Done():
			it.stop(it.parent.Err())
			return nil, false
		}
		it.noteSkipped(p)
		if p.err != nil {
			it.stop(p.err)
			return nil, false
		}
		if b := p.compact(); b.N > 0 {
			return b, true
		}
	}
	return nil, false
}

func (it *EpochIter) stop(err error) {
	it.finished = true
	if it.err == nil && err != nil {
		it.err = err
	}
	it.cancel()
}

// noteSkipped adds the files batch p skipped, in slot order, each file once an epoch.
func (it *EpochIter) noteSkipped(p *pending) {
	slices.SortStableFunc(p.skipped, func(a, b slotSkip) int { return a.slot - b.slot })
	for _, s := range p.skipped {
		if it.seen[s.file.Index] {
			continue
		}
		if it.seen == nil {
			it.seen = map[int]bool{}
		}
		it.seen[s.file.Index] = true
		it.skipped = append(it.skipped, s.file)
	}
}

// Skipped names the files the batches served so far in this epoch have skipped as
// unreadable, each once, in the order they were met; after the last batch it is the
// epoch's list, for the caller to report. Call it from the goroutine that calls Next.
func (it *EpochIter) Skipped() []SkippedFile { return slices.Clone(it.skipped) }

// Err returns the error that ended the epoch early: a load error naming the example and
// its file, or the context's error. It is nil after a complete epoch or a Close.
func (it *EpochIter) Err() error { return it.err }

// Close stops the loading goroutines and waits for them; it is safe to call twice.
func (it *EpochIter) Close() {
	it.finished = true
	it.cancel()
	it.wg.Wait()
}

// compact removes skipped slots from the batch.
func (p *pending) compact() *Batch {
	b := p.b
	sz := len(b.X) / max(b.N, 1)
	n := 0
	for s := 0; s < b.N; s++ {
		if p.skip[s] {
			continue
		}
		if n != s {
			copy(b.X[n*sz:(n+1)*sz], b.X[s*sz:(s+1)*sz])
			b.Labels[n], b.Indices[n] = b.Labels[s], b.Indices[s]
			if t := len(b.Targets) / b.N; t > 0 {
				copy(b.Targets[n*t:(n+1)*t], b.Targets[s*t:(s+1)*t])
			}
			for _, r := range b.LowRes {
				rs := len(r) / b.N
				copy(r[n*rs:(n+1)*rs], r[s*rs:(s+1)*rs])
			}
		}
		n++
	}
	for k, r := range b.LowRes {
		b.LowRes[k] = r[:n*(len(r)/max(b.N, 1))]
	}
	if b.Targets != nil {
		b.Targets = b.Targets[:n*(len(b.Targets)/max(b.N, 1))]
	}
	b.N, b.X, b.Labels, b.Indices = n, b.X[:n*sz], b.Labels[:n], b.Indices[:n]
	return b
}

// imageCache keeps decoded 8-bit images up to a memory budget. Entries are never
// evicted: with a fresh shuffle each epoch any resident set is as good as another, and
// keeping the first ones costs no bookkeeping.
type imageCache struct {
	mu     sync.Mutex
	budget *CacheBudget
	used   int64
	m      map[int]*cachedImage
}

// CacheBudget is the memory for decoded images that the caches of one or more loaders
// draw on together; safe for concurrent use.
type CacheBudget struct {
	mu          sync.Mutex
	limit, used int64
}

// NewCacheBudget returns a budget of the given bytes (0 or less caches nothing).
func NewCacheBudget(bytes int64) *CacheBudget { return &CacheBudget{limit: bytes} }

// take reserves n bytes, or reports that they do not fit.
func (b *CacheBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

// Used reports the bytes the caches drawing on b hold.
func (b *CacheBudget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// cachedImage is a decoded image and its downsamples; it is not changed once cached.
// An image whose three planes are equal (a gray image, as every needle canvas is)
// keeps one plane of each: a third of the memory.
type cachedImage struct {
	pix     []uint8
	resized [][]float32 // one per side of LoaderOptions.Inputs, before augmentation
	gray    bool        // pix and resized hold one plane each
}

// newCachedImage keeps pix (planar RGB, which the caller hands over) and copies of the
// downsamples small, one plane each when all three planes of every one are equal.
func newCachedImage(pix []uint8, small [][]float32) *cachedImage {
	gray := equalPlanes(pix)
	for _, r := range small {
		gray = gray && equalPlanes(r)
	}
	c := &cachedImage{pix: pix, resized: make([][]float32, len(small)), gray: gray}
	if gray {
		c.pix = append(make([]uint8, 0, len(pix)/3), pix[:len(pix)/3]...)
	}
	for k, r := range small {
		if gray {
			r = r[:len(r)/3]
		}
		c.resized[k] = append(make([]float32, 0, len(r)), r...)
	}
	return c
}

// equalPlanes reports whether the three planes of a planar image are equal, element
// for element (bit for bit: the test is ==, and the copies are of finite values).
func equalPlanes[T uint8 | float32](x []T) bool {
	p := len(x) / 3
	return slices.Equal(x[:p], x[p:2*p]) && slices.Equal(x[:p], x[2*p:3*p])
}

// expand writes the image, as [0, 1] floats, to dst and its downsamples to small.
func (c *cachedImage) expand(dst []float32, small [][]float32) {
	if !c.gray {
		bytesToFloat(dst, c.pix)
		for k := range small {
			copy(small[k], c.resized[k])
		}
		return
	}
	p := len(c.pix)
	bytesToFloat(dst[:p], c.pix)
	copy(dst[p:2*p], dst[:p])
	copy(dst[2*p:3*p], dst[:p])
	for k, r := range c.resized {
		for ch := range 3 {
			copy(small[k][ch*len(r):(ch+1)*len(r)], r)
		}
	}
}

// bytes is the memory the entry's pixels and downsamples take: what it keeps, not the
// size of the images it stands for.
func (c *cachedImage) bytes() int64 {
	n := int64(cap(c.pix))
	for _, r := range c.resized {
		n += 4 * int64(cap(r))
	}
	return n
}

func (c *imageCache) get(i int) (*cachedImage, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[i]
	return b, ok
}

// put keeps im (which the caller must not change afterwards) if it fits.
func (c *imageCache) put(i int, im *cachedImage) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[i]; ok || !c.budget.take(im.bytes()) {
		return
	}
	c.m[i] = im
	c.used += im.bytes()
}

// hflip mirrors each row of a planar CHW image in place.
func hflip(x []float32, r int) {
	for row := 0; row < len(x)/r; row++ {
		line := x[row*r : (row+1)*r]
		for a, b := 0, r-1; a < b; a, b = a+1, b-1 {
			line[a], line[b] = line[b], line[a]
		}
	}
}

// randomResizedCrop replaces the r x r planar image x by a random crop of it resampled
// back to r x r (bilinear; the crop is never larger than the image, so this only
// enlarges and needs no antialiasing). scratch has x's length.
func randomResizedCrop(rng *rand.Rand, x, scratch []float32, r int, scaleMin float64) {
	frac := scaleMin + (1-scaleMin)*rng.Float64()
	// The aspect range narrows for large crops so that neither side exceeds the image:
	// the area stays as drawn instead of being clipped.
	lo := max(math.Log(3.0/4), math.Log(frac))
	hi := min(math.Log(4.0/3), -math.Log(frac))
	ratio := math.Exp(lo + (hi-lo)*rng.Float64())
	area := frac * float64(r*r)
	cw := min(math.Sqrt(area*ratio), float64(r))
	ch := min(math.Sqrt(area/ratio), float64(r))
	x0 := (float64(r) - cw) * rng.Float64()
	y0 := (float64(r) - ch) * rng.Float64()
	copy(scratch, x)
	sx, sy := cw/float64(r), ch/float64(r)
	plane := r * r
	for v := 0; v < r; v++ {
		fy := y0 + (float64(v)+0.5)*sy - 0.5
		y1, wy := splitCoord(fy, r)
		for u := 0; u < r; u++ {
			fx := x0 + (float64(u)+0.5)*sx - 0.5
			x1, wx := splitCoord(fx, r)
			x2, y2 := min(x1+1, r-1), min(y1+1, r-1)
			for c := 0; c < 3; c++ {
				src := scratch[c*plane:]
				top := (1-wx)*float64(src[y1*r+x1]) + wx*float64(src[y1*r+x2])
				bot := (1-wx)*float64(src[y2*r+x1]) + wx*float64(src[y2*r+x2])
				x[c*plane+v*r+u] = float32((1-wy)*top + wy*bot)
			}
		}
	}
}

// splitCoord clamps a sample coordinate to the image and splits it into the integer
// cell and the fraction towards the next one.
func splitCoord(f float64, r int) (int, float64) {
	f = max(0, min(f, float64(r-1)))
	i := int(f)
	return i, f - float64(i)
}
