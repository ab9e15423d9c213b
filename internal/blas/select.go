package blas

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// EngineInfo describes the GEMM engine in use and how it was chosen, for
// `zoomtrain bench` and logs.
type EngineInfo struct {
	Engine   string `json:"engine"`                      // native, openblas or gonum
	Kernel   string `json:"kernel"`                      // micro-kernel, or OpenBLAS's core name
	Library  string `json:"library,omitempty"`           // the OpenBLAS file and build, when one loaded
	CoreType string `json:"openblas_coretype,omitempty"` // OPENBLAS_CORETYPE at load and who set it
	CPU      string `json:"cpu"`                         // the vector features that matter
	Forced   bool   `json:"forced,omitempty"`            // chosen by ZOOMTRAIN_BLAS
	// Warning is set when a slow path is in use.
	Warning string `json:"warning,omitempty"`
	// Notes say why an engine was not considered.
	Notes       []string      `json:"notes,omitempty"`
	Calibration []Calibration `json:"calibration,omitempty"`
}

// Calibration is one engine's speed on the task network's GEMM shapes,
// measured once when both native and OpenBLAS are available.
type Calibration struct {
	Engine string  `json:"engine"`
	GFLOPS float64 `json:"gflops"`
}

// switchMargin is how much faster than native (the first candidate)
// another engine must be to replace it.
const switchMargin = 1.25

// selection is the engine in use and its description.
type selection struct {
	engine engine
	info   EngineInfo
}

// candidates are what choose picks from; fields are injectable for tests.
type candidates struct {
	features  features
	native    engine                   // nil when there is no kernel for this CPU
	openBLAS  func() (engine, error)   // loads OpenBLAS
	calibrate func([]engine) []float64 // GFLOP/s of each engine
}

// choose picks the engine for the value of EnvVar: the one forced, or by
// default the faster of native and OpenBLAS (whichever of them is available
// and computes a small product correctly), gonum when neither is.
func choose(env string, cs candidates) (selection, error) {
	forced := strings.ToLower(strings.TrimSpace(env))
	info := EngineInfo{CPU: cs.features.String(), Forced: forced != ""}
	pick := func(e engine) (selection, error) {
		e.describe(&info)
		if info.Engine == "gonum" && !info.Forced {
			info.Warning = "pure-Go GEMM in use (several times slower): no AVX2+FMA kernel for this CPU and no usable OpenBLAS"
		}
		return selection{engine: e, info: info}, nil
	}
	switch forced {
	case "gonum":
		return pick(gonumEngine{})
	case "native":
		if cs.native == nil {
			return selection{}, fmt.Errorf("%s=native: %w: no AVX2+FMA kernel for this CPU (%s)", EnvVar, ErrUnavailable, info.CPU)
		}
		return pick(cs.native)
	case "openblas":
		e, err := cs.openBLAS()
		if err != nil {
			return selection{}, fmt.Errorf("%s=openblas: %w", EnvVar, err)
		}
		return pick(e)
	case "":
	default:
		return selection{}, fmt.Errorf("%s=%q: unknown backend (want native, openblas or gonum)", EnvVar, env)
	}

	var usable []engine
	for _, c := range []struct {
		what string
		open func() (engine, error)
	}{
		{"native", func() (engine, error) {
			if cs.native == nil {
				return nil, fmt.Errorf("no AVX2+FMA kernel for this CPU")
			}
			return cs.native, nil
		}},
		{"openblas", cs.openBLAS},
	} {
		e, err := c.open()
		if err == nil {
			err = checkEngine(e)
		}
		if err != nil {
			info.Notes = append(info.Notes, c.what+" not used: "+err.Error())
			continue
		}
		usable = append(usable, e)
	}
	switch len(usable) {
	case 0:
		return pick(gonumEngine{})
	case 1:
		return pick(usable[0])
	}
	rates := cs.calibrate(usable)
	best := 0
	for i, r := range rates {
		var probe EngineInfo
		usable[i].describe(&probe)
		info.Calibration = append(info.Calibration, Calibration{Engine: probe.Engine + " " + probe.Kernel, GFLOPS: r})
		// Native comes first and keeps the job unless another engine is
		// clearly faster: the choice must not flip between processes with
		// the timing noise, or a run resumed from a checkpoint would not
		// reproduce the uninterrupted one bit for bit (engines round
		// differently).
		if r > rates[best]*switchMargin {
			best = i
		}
	}
	for i, e := range usable {
		if i == best {
			continue
		}
		var probe EngineInfo
		e.describe(&probe)
		note := fmt.Sprintf("%s %s not used: %.1f GFLOP/s against %.1f", probe.Engine, probe.Kernel, rates[i], rates[best])
		if probe.Warning != "" {
			note += "; " + probe.Warning
		}
		info.Notes = append(info.Notes, note)
	}
	return pick(usable[best])
}

// calibrate returns each engine's GFLOP/s on the task network's convolution
// GEMMs (those of BenchmarkSgemmConv) cut to a few megaflops each: the best
// of three runs per shape after a warm-up, engines interleaved shape by
// shape, timed by the thread's CPU time where the OS gives it (a few
// milliseconds per engine).
func calibrate(es []engine) []float64 {
	calibrationShapes := [...]struct {
		m, n, k int
		tB      bool
	}{
		{32, 4096, 27, false},  // conv1 forward
		{64, 1024, 288, false}, // conv2 forward
		{64, 512, 576, false},  // conv3 forward
		{64, 288, 1024, true},  // conv2 weight gradient
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := func() time.Duration {
		if t := threadCPU(); t > 0 {
			return t
		}
		return time.Duration(time.Now().UnixNano())
	}
	var na, nb, nc int
	for _, s := range calibrationShapes {
		na, nb, nc = max(na, s.m*s.k), max(nb, s.k*s.n), max(nc, s.m*s.n)
	}
	a, b, c := patterned(na, 4), patterned(nb, 5), make([]float32, nc)
	flops := 0.0
	secs := make([]float64, len(es))
	for _, s := range calibrationShapes {
		ldb := s.n
		if s.tB {
			ldb = s.k
		}
		flops += 2 * float64(s.m*s.n*s.k)
		for i, e := range es {
			best := time.Duration(1<<63 - 1)
			for r := range 4 {
				t0 := clock()
				e.sgemm(false, s.tB, s.m, s.n, s.k, 1, a, s.k, b, ldb, 0, c, s.n)
				if d := clock() - t0; r > 0 && d < best {
					best = max(d, time.Microsecond)
				}
			}
			secs[i] += best.Seconds()
		}
	}
	rates := make([]float64, len(es))
	for i := range es {
		rates[i] = flops / secs[i] / 1e9
	}
	return rates
}

func (e *nativeEngine) describe(i *EngineInfo) {
	i.Engine, i.Kernel = "native", e.k.name
}

func (e *openBLAS) describe(i *EngineInfo) {
	i.Engine, i.Kernel = "openblas", e.core
	if i.Kernel == "" {
		i.Kernel = "unknown core"
	}
	i.Library = e.lib
	if e.config != "" {
		i.Library += " (" + e.config + ")"
	}
	if e.coreType != "" {
		i.CoreType = e.coreType + " (set by " + e.coreTypeBy + ")"
	}
	if e.warning != "" {
		i.Warning = e.warning
	}
}
