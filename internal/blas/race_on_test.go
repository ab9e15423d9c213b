//go:build race

package blas

// raceEnabled: the race detector drops sync.Pool items at random.
const raceEnabled = true
