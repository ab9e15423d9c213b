package opkit

import (
	"sync"
	"testing"
)

// TestChunked checks that every index is visited once, in the documented
// chunk, by a worker index in range.
func TestChunked(t *testing.T) {
	for _, tc := range []struct{ n, chunks int }{{0, 3}, {1, 4}, {7, 3}, {32, 8}, {5, 9}, {100, 1}} {
		var mu sync.Mutex
		seen := make([]int, tc.n)
		chunksSeen := map[int]bool{}
		Chunked(tc.n, tc.chunks, func(worker, chunk, lo, hi int) {
			mu.Lock()
			defer mu.Unlock()
			want := max(1, min(tc.chunks, tc.n))
			if lo != chunk*tc.n/want || hi != (chunk+1)*tc.n/want {
				t.Errorf("%+v: chunk %d is [%d, %d), want [%d, %d)", tc, chunk, lo, hi, chunk*tc.n/want, (chunk+1)*tc.n/want)
			}
			if worker < 0 || worker >= Workers(tc.n) {
				t.Errorf("%+v: worker %d outside [0, %d)", tc, worker, Workers(tc.n))
			}
			if chunksSeen[chunk] {
				t.Errorf("%+v: chunk %d run twice", tc, chunk)
			}
			chunksSeen[chunk] = true
			for i := lo; i < hi; i++ {
				seen[i]++
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Errorf("%+v: index %d visited %d times, want 1", tc, i, c)
			}
		}
	}
}

// TestLoopsCoverRange checks that For, ForElements and ForCost visit each index once.
func TestLoopsCoverRange(t *testing.T) {
	loops := map[string]func(n int, fn func(lo, hi int)){
		"For":           For,
		"ForElements":   ForElements,
		"ForCost/cheap": func(n int, fn func(lo, hi int)) { ForCost(n, 1, fn) },
		"ForCost/dear":  func(n int, fn func(lo, hi int)) { ForCost(n, 1<<20, fn) },
	}
	for name, loop := range loops {
		for _, n := range []int{0, 1, 7, 100, 3*elementGrain + 5} {
			var mu sync.Mutex
			seen := make([]int, n)
			loop(n, func(lo, hi int) {
				mu.Lock()
				defer mu.Unlock()
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("%s(%d): index %d visited %d times, want 1", name, n, i, c)
				}
			}
		}
	}
}
