package sampler

import "sync"

// pool keeps per-worker scratch (taps, generator work space) of an op between runs, so
// that a training step does not allocate it anew; safe for concurrent use. A nil pool
// allocates every time.
type pool struct {
	mu   sync.Mutex
	free []any
}

// take returns a pooled value for which fits reports true, or make().
func take[V any](p *pool, fits func(V) bool, make func() V) V {
	if p != nil {
		p.mu.Lock()
		for i, v := range p.free {
			if x, ok := v.(V); ok && fits(x) {
				p.free = append(p.free[:i], p.free[i+1:]...)
				p.mu.Unlock()
				return x
			}
		}
		p.mu.Unlock()
	}
	return make()
}

// give hands v back to the pool.
func give(p *pool, v any) {
	if p != nil {
		p.mu.Lock()
		p.free = append(p.free, v)
		p.mu.Unlock()
	}
}
