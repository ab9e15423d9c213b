package infer

import (
	"context"
	"fmt"
	"math"
	"sort"

	"zoomtrain/internal/data"
)

// Result is an evaluation over a data set.
type Result struct {
	N         int       `json:"n"`
	Loss      float64   `json:"loss"`
	Top1      float64   `json:"top1"`
	Top5      float64   `json:"top5"`
	Classes   []string  `json:"classes"`
	PerClass  []float64 `json:"per_class_accuracy"` // NaN-free: a class with no images gets 0
	ClassN    []int     `json:"per_class_n"`
	Confusion [][]int   `json:"confusion"` // [true][predicted]
}

// Evaluate runs f over every image of ds, without augmentation, in order.
func Evaluate(ctx context.Context, f *Forward, ds data.Dataset, workers int, cacheBytes int64) (*Result, error) {
	e, err := NewEvaluator(f, ds, workers, data.NewCacheBudget(cacheBytes))
	if err != nil {
		return nil, err
	}
	return e.Run(ctx)
}

// Evaluator evaluates a model on one data set again and again (after each epoch of
// training): its loader, and the cache of decoded images it keeps, last across runs
// instead of being rebuilt for each.
type Evaluator struct {
	f  *Forward
	ds data.Dataset
	ld *data.Loader
}

// NewEvaluator checks ds against f's model and makes the loader Run reads it with,
// caching decoded images within cache (nil: none).
func NewEvaluator(f *Forward, ds data.Dataset, workers int, cache *data.CacheBudget) (*Evaluator, error) {
	if ds.Len() == 0 {
		return nil, fmt.Errorf("evaluation set is empty")
	}
	if k := f.Model.Spec.Classes; len(ds.Classes()) != k {
		return nil, fmt.Errorf("data has %d classes, the model %d", len(ds.Classes()), k)
	}
	ld, err := evalLoader(f, ds, workers, cache)
	if err != nil {
		return nil, err
	}
	return &Evaluator{f: f, ds: ds, ld: ld}, nil
}

// evalLoader is the loader of an evaluation: ds in order, in f's batches, unaugmented.
func evalLoader(f *Forward, ds data.Dataset, workers int, cache *data.CacheBudget) (*data.Loader, error) {
	return data.NewLoader(ds, data.LoaderOptions{BatchSize: f.Model.Batch, Workers: workers, Cache: cache, Inputs: f.Model.Spec.Inputs()})
}

// Run runs the model over every image of the set, without augmentation, in order.
func (e *Evaluator) Run(ctx context.Context) (*Result, error) {
	f, ds, ld := e.f, e.ds, e.ld
	k := f.Model.Spec.Classes
	it := ld.Epoch(ctx, 0)
	defer it.Close()
	r := &Result{Classes: ds.Classes(), PerClass: make([]float64, k), ClassN: make([]int, k), Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	var lossSum float64
	var top1, top5 int
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		out, err := f.Run(b)
		if err != nil {
			return nil, err
		}
		for i := 0; i < b.N; i++ {
			logits := out.Logits[i*k : (i+1)*k]
			y := b.Labels[i]
			lossSum += crossEntropy(logits, y)
			rank := rankOf(logits, y)
			if rank == 0 {
				top1++
			}
			if rank < 5 {
				top5++
			}
			r.Confusion[y][Argmax(logits)]++
			r.ClassN[y]++
		}
		r.N += b.N
		ld.Release(b) // Run copied it
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.Loss = lossSum / float64(r.N)
	r.Top1 = float64(top1) / float64(r.N)
	r.Top5 = float64(top5) / float64(r.N)
	for c := range r.PerClass {
		if r.ClassN[c] > 0 {
			r.PerClass[c] = float64(r.Confusion[c][c]) / float64(r.ClassN[c])
		}
	}
	return r, nil
}

// crossEntropy is -log softmax(logits)[y], computed stably.
func crossEntropy(logits []float32, y int) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return math.Log(s) + mx - float64(logits[y])
}

// rankOf is the number of classes scored strictly higher than class y.
func rankOf(logits []float32, y int) int {
	r := 0
	for _, v := range logits {
		if v > logits[y] {
			r++
		}
	}
	return r
}

// Argmax is the index of the largest value, the first of equal ones.
func Argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// Softmax returns the probabilities of one row of logits.
func Softmax(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	p := make([]float64, len(logits))
	var s float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - mx)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// TopK returns the k best class indices, best first.
func TopK(p []float64, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	if k > len(idx) {
		k = len(idx)
	}
	return idx[:k]
}
