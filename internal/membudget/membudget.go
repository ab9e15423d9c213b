// Package membudget says how much memory this process may use, so that a setting that
// needs more (a batch of 1e8, a resolution of 100000) is refused with a one-line error
// before anything is allocated, instead of ending in a Go runtime out-of-memory crash.
package membudget

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// EnvVar overrides the limit: a size ("12GiB", "800MB", "5e9") or "off".
const EnvVar = "ZOOMTRAIN_MEMORY_LIMIT"

// ErrTooMuch is wrapped by the error of an estimate over the limit.
var ErrTooMuch = errors.New("not enough memory")

// Limit is the memory a process may use, and what set it.
type Limit struct {
	Bytes  int64  // 0: no limit known, or the check is off
	Source string // "MemAvailable", "cgroup memory.max", "ulimit -v", or EnvVar
}

// Files the limit is read from; a test points them elsewhere.
type Files struct {
	Meminfo, CgroupMax, CgroupCurrent, SelfStatus string
}

// SystemFiles are the Linux files the limit is read from.
func SystemFiles() Files {
	return Files{
		Meminfo:       "/proc/meminfo",
		CgroupMax:     "/sys/fs/cgroup/memory.max",
		CgroupCurrent: "/sys/fs/cgroup/memory.current",
		SelfStatus:    "/proc/self/status",
	}
}

// Available returns the tightest of: MemAvailable in /proc/meminfo, the cgroup (v2)
// limit less its usage, and the address-space limit (ulimit -v) less the virtual
// memory already mapped. env (os.Environ form) may override it with EnvVar. Sources
// that cannot be read are left out; with none, Bytes is 0.
func Available(env []string, f Files) (Limit, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, EnvVar+"="); ok {
			if strings.EqualFold(strings.TrimSpace(v), "off") {
				return Limit{Source: EnvVar + "=off"}, nil
			}
			n, err := ParseSize(v)
			if err != nil {
				return Limit{}, fmt.Errorf("%s: %w", EnvVar, err)
			}
			return Limit{Bytes: n, Source: EnvVar}, nil
		}
	}
	var best Limit
	consider := func(n int64, src string) {
		if n > 0 && (best.Bytes == 0 || n < best.Bytes) {
			best = Limit{Bytes: n, Source: src}
		}
	}
	if kb, ok := procField(f.Meminfo, "MemAvailable:"); ok {
		consider(kb<<10, "MemAvailable")
	}
	if max, ok := readInt(f.CgroupMax); ok {
		cur, _ := readInt(f.CgroupCurrent)
		consider(max-cur, "cgroup memory.max")
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil && rl.Cur < 1<<62 {
		used, _ := procField(f.SelfStatus, "VmSize:")
		consider(int64(rl.Cur)-used<<10, "ulimit -v")
	}
	return best, nil
}

// Check refuses an estimate of need bytes for what (a phrase: "training at batch size
// 8") above the limit, naming both.
func (l Limit) Check(what string, need int64) error {
	if l.Bytes <= 0 || need <= l.Bytes {
		return nil
	}
	src := l.Source + "; " + EnvVar + " overrides it"
	if l.Source == EnvVar {
		src = "set by " + EnvVar
	}
	return fmt.Errorf("%w: %s needs an estimated %s, more than the %s available (%s)",
		ErrTooMuch, what, Format(need), Format(l.Bytes), src)
}

// Format writes n bytes for people: "3.8 TB", "512 MB".
func Format(n int64) string {
	const unit = 1000
	v := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB", "TB", "PB"} {
		if v < unit || u == "PB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.3g %s", v, u)
		}
		v /= unit
	}
	return ""
}

// ParseSize reads a size in bytes: a number with an optional unit (k, M, G, T with B,
// decimal; KiB, MiB, GiB, TiB binary).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v > 0) || v*mult > 1<<62 {
		return 0, fmt.Errorf("size %q is not a positive number of bytes (such as 8GiB or 800MB)", s)
	}
	return int64(v * mult), nil
}

// procField reads the kB value of a "Name:  123 kB" line.
func procField(path, name string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				return 0, false
			}
			n, err := strconv.ParseInt(fs[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// readInt reads a file holding one integer ("max" or junk: false).
func readInt(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 64 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}
