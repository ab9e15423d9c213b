package opkit

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is how many goroutines the loops here use for n items.
func Workers(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n))
}

// For runs fn over [0, n) on up to Workers(n) goroutines, each call taking
// a contiguous range so that writes per worker stay local.
func For(n int, fn func(lo, hi int)) {
	ForWorkers(n, func(_, lo, hi int) { fn(lo, hi) })
}

// ForWorkers is For that also tells fn its worker index in [0, Workers(n)),
// for per-worker scratch. A worker may get several ranges: per-worker sums
// would depend on scheduling (use Chunked).
func ForWorkers(n int, fn func(worker, lo, hi int)) {
	Chunked(n, ChunksFor(n), func(worker, _, lo, hi int) { fn(worker, lo, hi) })
}

// ChunksFor is how many ranges ForWorkers cuts n items into: a few per
// worker, so that a worker whose thread the OS preempts (on a loaded machine)
// holds up only a small range while the others take the rest.
func ChunksFor(n int) int { return min(n, 4*Workers(n)) }

// Chunked cuts [0, n) into the given number of contiguous chunks (chunk c is
// [c*n/chunks, (c+1)*n/chunks)) and runs fn on each, the workers claiming
// chunks in order as they become free. fn learns the worker index in
// [0, Workers(n)), for scratch, and the chunk index, for partial results that
// must not depend on scheduling.
func Chunked(n, chunks int, fn func(worker, chunk, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = max(1, min(chunks, n))
	nw := min(Workers(n), chunks)
	if nw == 1 {
		for c := range chunks {
			fn(0, c, c*n/chunks, (c+1)*n/chunks)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				fn(w, c, c*n/chunks, (c+1)*n/chunks)
			}
		}()
	}
	wg.Wait()
}

// elementGrain is the fewest elements worth a goroutine of their own in an
// elementwise loop; below it the start-up costs more than the work.
const elementGrain = 1 << 15

// ForElements is For for cheap elementwise loops over n items.
func ForElements(n int, fn func(lo, hi int)) {
	chunks := (n + elementGrain - 1) / elementGrain
	Chunked(n, min(chunks, 4*Workers(n)), func(_, _, lo, hi int) { fn(lo, hi) })
}

// minWorkerCost is the least work, in rough operations, worth a goroutine:
// about 20 µs.
const minWorkerCost = 40_000

// ForCost runs fn over [0, n), n items of about costPerItem operations each, in one
// contiguous range per worker, or in one call inline when the whole is too little to
// pay for the goroutines. One range per worker suits items that are few and dear
// (whole images, whole maps) and a fn that sets up scratch per call.
func ForCost(n, costPerItem int, fn func(lo, hi int)) {
	w := Workers(n)
	if w <= 1 || n*costPerItem < minWorkerCost*w {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	Chunked(n, w, func(_, _, lo, hi int) { fn(lo, hi) })
}
