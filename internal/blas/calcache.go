package blas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"zoomtrain/internal/atomicfile"
	"zoomtrain/internal/inputfile"
)

// The engines round differently, so the engine must not change between the processes
// of one run (a run resumed from a checkpoint reproduces the uninterrupted one bit for
// bit only on the same engine). A calibration alone can flip when the machine is busy;
// its result is therefore kept in the user's cache directory and reused while the CPU
// and the candidate engines (their kernels and libraries) are the same.

// calCacheEnv names the variable that moves the calibration file, or turns it off
// ("off"); by default it lives in os.UserCacheDir()/zoomtrain.
const calCacheEnv = "ZOOMTRAIN_BLAS_CACHE"

// calRecord is the calibration file: the key it was measured under and the rates.
type calRecord struct {
	Key   string    `json:"key"`
	Rates []float64 `json:"gflops"`
}

// calibrationKey names what a calibration depends on: the CPU and each engine as it
// describes itself (engine, kernel, library and core type).
func calibrationKey(cpu string, es []engine) string {
	parts := []string{"cpu " + cpu}
	for _, e := range es {
		var i EngineInfo
		e.describe(&i)
		parts = append(parts, strings.Join([]string{i.Engine, i.Kernel, i.Library, i.CoreType}, "|"))
	}
	return strings.Join(parts, "; ")
}

// calibrationFile is where the calibration is kept, or "" when it is not.
func calibrationFile(getenv func(string) string) string {
	switch v := getenv(calCacheEnv); v {
	case "off":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "zoomtrain", "gemm-calibration.json")
	default:
		return v
	}
}

// cachedCalibration returns calibrate wrapped so that the rates measured for a key are
// read back from path instead of measured again. Any trouble with the file (missing,
// damaged, another key, unwritable) falls back to measuring.
func cachedCalibration(path, cpu string, calibrate func([]engine) []float64) func([]engine) []float64 {
	if path == "" {
		return calibrate
	}
	return func(es []engine) []float64 {
		key := calibrationKey(cpu, es)
		if b, err := inputfile.ReadFile(path, 1<<16); err == nil {
			var r calRecord
			if json.Unmarshal(b, &r) == nil && r.Key == key && len(r.Rates) == len(es) && !slices.ContainsFunc(r.Rates, func(v float64) bool { return !(v > 0) }) {
				return r.Rates
			}
		}
		rates := calibrate(es)
		if b, err := json.Marshal(calRecord{Key: key, Rates: rates}); err == nil {
			if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
				_ = atomicfile.WriteBytes(path, append(b, '\n')) // a cache: failing to keep it only costs a calibration
			}
		}
		return rates
	}
}
