// Package bench times full training steps (forward, backward, optimiser) of a
// configured model on synthetic batches, and reports throughput and memory; and the
// forward and backward passes of each part of the model on its own.
//
// The batch is decoded sources in memory with their downsamples made ahead, as the data
// loader's workers make them: the step is timed as training runs it.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"zoomtrain/internal/blas"
	"zoomtrain/internal/config"
	"zoomtrain/internal/data"
	"zoomtrain/internal/graph"
	"zoomtrain/internal/opkit"
	"zoomtrain/internal/train"
)

// Options for Run.
type Options struct {
	Config  config.Config // model and batch; the data section only gives the resolution
	Classes int
	Steps   int
	Warmup  int
	Parts   bool // also time each part of the model on its own
}

// Result of one variant.
type Result struct {
	Variant       string  `json:"variant"`
	Batch         int     `json:"batch"`
	Resolution    int     `json:"resolution"`
	TaskInput     int     `json:"task_input"`
	Steps         int     `json:"steps"`
	MsPerStep     float64 `json:"ms_per_step"` // median
	MsMin         float64 `json:"ms_min"`
	MsP90         float64 `json:"ms_p90"`
	MsMax         float64 `json:"ms_max"`
	ImagesPerS    float64 `json:"images_per_s"`
	GFLOPPerStep  float64 `json:"gflop_per_step"`
	GFLOPPerS     float64 `json:"gflop_per_s"`
	AllocsPerStep float64 `json:"allocs_per_step"`
	AllocMBPerSt  float64 `json:"alloc_mb_per_step"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	BLAS          string  `json:"blas"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	// Inputs says what the timed step starts from.
	Inputs string `json:"inputs"`
	// ForeignCPUPct is the CPU other processes used during the timed steps, in percent
	// of one core (as the PyTorch reference's bench_step.py counts it); -1 where
	// /proc/stat cannot be read. Above about 10 the timing is contaminated.
	ForeignCPUPct float64 `json:"foreign_cpu_pct"`
	// Parts maps graph.PartNames to the timing of their forward and backward passes.
	Parts map[string]PartResult `json:"parts,omitempty"`

	// Engine says which GEMM engine ran, with which kernel, why, and any slow-path warning.
	Engine *blas.EngineInfo `json:"engine,omitempty"`
}

// PartResult times one part of the model: forward and backward, no optimiser.
type PartResult struct {
	MsPerStep float64 `json:"ms_per_step"` // median
	MsMin     float64 `json:"ms_min"`
	MsMax     float64 `json:"ms_max"`
	// HeapMB is the memory the part holds after its runs (values, gradients, kept
	// buffers and scratch: the Go heap it added, measured after a collection). The
	// kernels keep every buffer between runs, so it is the part's peak, less what a
	// run allocates and drops.
	HeapMB float64 `json:"heap_mb"`
}

// InputsNote is Result.Inputs.
const InputsNote = "decoded sources in memory, downsamples made ahead by the loader (not timed)"

// Run builds the trainer and times o.Steps steps after o.Warmup.
func Run(ctx context.Context, o Options) (*Result, error) {
	cfg := o.Config
	if o.Steps < 1 || o.Warmup < 0 {
		return nil, fmt.Errorf("steps must be positive and warm-up non-negative")
	}
	if o.Classes < 2 {
		o.Classes = 10
	}
	t, err := train.NewTrainer(cfg, o.Classes)
	if err != nil {
		return nil, err
	}
	b, r := cfg.Train.BatchSize, cfg.Data.Resolution
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 7))
	x := make([]float32, b*3*r*r)
	for i := range x {
		x[i] = rng.Float32()
	}
	labels := make([]int, b)
	for i := range labels {
		labels[i] = rng.IntN(o.Classes)
	}
	// The low-resolution copies are made once, as the loader's workers make them ahead
	// of the step from decoded images in memory.
	batch, err := data.NewBatch(x, labels, t.Model().Spec.Inputs())
	if err != nil {
		return nil, err
	}
	for i := 0; i < o.Warmup; i++ {
		if _, _, err := t.Step(batch, cfg.Train.LR, i+1); err != nil {
			return nil, err
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	load := startLoad()
	step := 0
	times, err := timeRuns(ctx, o.Steps, func() error {
		step++
		_, _, err := t.Step(batch, cfg.Train.LR, o.Warmup+step)
		return err
	})
	if err != nil {
		return nil, err
	}
	foreign := load.foreignPct()
	runtime.ReadMemStats(&ms1)
	med := quantile(times, 0.5)
	_, stepFlops := t.Model().FLOPs()
	backend, _ := blas.Backend()
	res := &Result{
		Variant: cfg.Model.Sampler, Batch: b, Resolution: r, TaskInput: cfg.Model.TaskInput, Steps: o.Steps,
		MsPerStep: med, MsMin: times[0], MsP90: quantile(times, 0.9), MsMax: times[len(times)-1],
		ImagesPerS:    float64(b) / (med / 1000),
		GFLOPPerStep:  stepFlops * float64(b) / 1e9,
		AllocsPerStep: float64(ms1.Mallocs-ms0.Mallocs) / float64(o.Steps),
		AllocMBPerSt:  float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(o.Steps) / (1 << 20),
		PeakRSSMB:     PeakRSSMB(),
		BLAS:          backend,
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		Inputs:        InputsNote,
		ForeignCPUPct: foreign,
	}
	if info, err := blas.Info(); err == nil {
		res.Engine = &info
	}
	res.GFLOPPerS = res.GFLOPPerStep / (med / 1000)
	if o.Parts {
		spec := t.Model().Spec
		res.Parts = map[string]PartResult{}
		for _, name := range spec.PartNames() {
			pr, err := timePart(ctx, spec, name, b, o)
			if err != nil {
				return nil, err
			}
			res.Parts[name] = pr
		}
	}
	return res, nil
}

// timeRuns times n calls of run, in milliseconds, sorted.
func timeRuns(ctx context.Context, n int, run func() error) ([]float64, error) {
	times := make([]float64, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := run(); err != nil {
			return nil, err
		}
		times = append(times, time.Since(start).Seconds()*1000)
	}
	sort.Float64s(times)
	return times, nil
}

// timePart times the forward and backward passes of one part of the model on random
// inputs.
func timePart(ctx context.Context, spec graph.Spec, name string, batch int, o Options) (PartResult, error) {
	heap0 := liveHeap()
	p, err := graph.BuildPart(spec, name, graph.Options{Batch: batch, Dtype: tensor.Float32, Seed: 1})
	if err != nil {
		return PartResult{}, err
	}
	rng := rand.New(rand.NewPCG(2, 3))
	for _, in := range p.Inputs {
		v := make([]float32, in.Shape().TotalSize())
		for i := range v {
			v[i] = rng.Float32()
		}
		if err := G.Let(in, tensor.New(tensor.WithShape(in.Shape()...), tensor.WithBacking(v))); err != nil {
			return PartResult{}, err
		}
	}
	if _, err := G.Grad(p.Cost, p.Wrt...); err != nil {
		return PartResult{}, fmt.Errorf("part %s: %w", name, err)
	}
	// The machine a training step runs on (internal/train), outputs sharing memory.
	vm, _, err := opkit.NewMachine(p.G, nil, G.BindDualValues(p.Wrt...))
	if err != nil {
		return PartResult{}, err
	}
	defer vm.Close()
	run := func() error {
		defer vm.Reset()
		if err := vm.RunAll(); err != nil {
			return fmt.Errorf("part %s: %w", name, err)
		}
		return nil
	}
	for range o.Warmup {
		if err := run(); err != nil {
			return PartResult{}, err
		}
	}
	times, err := timeRuns(ctx, o.Steps, run)
	if err != nil {
		return PartResult{}, err
	}
	held := float64(liveHeap()-heap0) / (1 << 20)
	runtime.KeepAlive(vm)
	runtime.KeepAlive(p)
	return PartResult{MsPerStep: quantile(times, 0.5), MsMin: times[0], MsMax: times[len(times)-1], HeapMB: max(held, 0)}, nil
}

// liveHeap is the bytes of live heap objects, after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// loadProbe measures the CPU time other processes use over an interval.
type loadProbe struct {
	busy, own float64 // system-wide busy and this process's CPU seconds at the start
	start     time.Time
	ok        bool
}

func startLoad() loadProbe {
	busy, own, ok := cpuSeconds()
	return loadProbe{busy: busy, own: own, start: time.Now(), ok: ok}
}

// foreignPct is the CPU used by other processes since the start, in percent of one
// core, or -1 when it cannot be measured.
func (p loadProbe) foreignPct() float64 {
	busy, own, ok := cpuSeconds()
	wall := time.Since(p.start).Seconds()
	if !p.ok || !ok || wall <= 0 {
		return -1
	}
	return max(0, (busy-p.busy)-(own-p.own)) / wall * 100
}

// cpuSeconds returns the CPU seconds all processes have spent busy (from /proc/stat,
// minus idle and iowait) and those this process has used.
func cpuSeconds() (busy, own float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	var v [8]float64
	for i := range v {
		if v[i], err = strconv.ParseFloat(f[i+1], 64); err != nil {
			return 0, 0, false
		}
	}
	// /proc/stat counts in USER_HZ ticks, 100 per second on Linux.
	const hz = 100
	busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, false
	}
	own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return busy, own, true
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := q * float64(len(sorted)-1)
	lo := int(i)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	f := i - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}

// PeakRSSMB is the process's peak resident set size (VmHWM) in MB, or 0 where
// /proc is not available.
func PeakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, err := strconv.ParseFloat(f[1], 64)
				if err == nil {
					return kb / 1024
				}
			}
		}
	}
	return 0
}

// Reference returns the reference benchmark's setting: the small reference
// networks, batch 32, 256 x 256 sources, 64 x 64 saliency and task inputs, a 31 x 31
// grid, Adam at 1e-3.
func Reference(sampler string) config.Config {
	c := config.Default()
	c.Data.Source = config.SourceFolder
	c.Data.Path = "(synthetic)"
	c.Data.Resolution = 256
	c.Model.Sampler = sampler
	c.Model.TaskInput = 64
	c.Model.SaliencyInput = 64
	c.Model.Grid = 31
	c.Model.Padding = 30
	c.Model.FWHM = 13
	c.Model.Temperature = 1
	c.Model.TaskNet = config.NetReference
	c.Train.BatchSize = 32
	c.Train.Optimizer = config.OptimizerAdam
	c.Train.LR = 1e-3
	c.Train.SaliencyLRMult = 1
	c.Train.Blur.Sigma = 0
	c.Train.Blur.Epochs = 0
	c.Train.WeightDecay = 0
	return c
}
