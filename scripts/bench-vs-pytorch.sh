#!/usr/bin/env bash
# Times a full training step of zoomtrain and of the PyTorch reference
# (../shared/reference/bench_step.py: the same small networks, batch 32, 256 x 256
# sources, 64 x 64 task input, float32, Adam) side by side on this machine, and prints
# the ratios Go / PyTorch against the goals of issue 11.
#
#   scripts/bench-vs-pytorch.sh                  # 2 rounds of 20 timed steps per run, 2 then 1 thread
#   ROUNDS=5 STEPS=30 scripts/bench-vs-pytorch.sh
#   RESOLUTIONS="256 512 1024 2048" scripts/bench-vs-pytorch.sh   # Go only beyond 256
#   THREADS=1 CONV=0 scripts/bench-vs-pytorch.sh   # one core each, no convolutional form
#   ENGINES=system scripts/bench-vs-pytorch.sh    # only the machine as it is
#
# Go runs in two configurations (ENGINES):
#   fresh   a fresh machine: the OpenBLAS library files are hidden (in a private mount
#           namespace /dev/null is bind-mounted over each, `unshare --mount
#           --propagation private`, which needs root), so zoomtrain finds none;
#   system  the machine as it is: OpenBLAS loaded if installed, nothing set by hand.
# Each run prints the GEMM engine it used.
#
# The runs are interleaved (per thread count and round: Go saliency in each
# configuration, PyTorch separable, Go uniform in each configuration, PyTorch uniform)
# so that a change in the machine's load hits both sides alike; each run is a process of
# its own under /usr/bin/time -v, whose maximum resident set size is the peak memory
# reported. The PyTorch form with the paper's convolutional grid generator is slow and
# runs once, in the first round at the first thread count. Every run reports the CPU
# other processes used meanwhile ("other%", % of one core): above ~10 the figures are
# contaminated by load; the load average is printed before and after. THREADS (a list)
# sets both torch's threads and Go's GOMAXPROCS. The whole step's GFLOP/s is also given
# as a fraction of this CPU's fp32 peak: threads x clock x 32 flops a cycle (Zen 4's two
# 256-bit FMA pipes), the clock measured by BenchmarkPeak in internal/blas.
#
# Needs Debian's python3-torch; the script installs it (with apt-get) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-"2 1"}
ENGINES=${ENGINES:-"fresh system"}
CONV=${CONV:-1}
BATCH=${BATCH:-32}
RESOLUTIONS=${RESOLUTIONS:-256}
REF=${REF:-../shared/reference}
PY=/usr/bin/python3

if [ ! -f "$REF/bench_step.py" ]; then
  echo "bench-vs-pytorch: $REF/bench_step.py not found (set REF to the reference directory)" >&2
  exit 1
fi
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "bench-vs-pytorch: python3-torch is missing; installing it with apt-get (about 1-2 minutes)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-numpy >/dev/null
fi
if [ ! -x /usr/bin/time ]; then
  echo "bench-vs-pytorch: /usr/bin/time is missing; installing it with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BIN=${BIN:-$WORK/zoomtrain}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/zoomtrain

# pybench.py times one variant of the reference models with bench_step.py's own
# networks and step, in a process of its own, and prints one JSON line.
cat >"$WORK/pybench.py" <<'EOF'
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
variant, threads, batch, steps, warmup = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
import torch
import bench_step as bs
from gridgen import ConvGridGen, SepGridGen
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.rand(batch, 3, 256, 256)
y = torch.randint(0, 10, (batch,))
torch.manual_seed(1)
model = {"conv": lambda: bs.SaliencyModel(ConvGridGen(torch.float32)),
         "sep": lambda: bs.SaliencyModel(SepGridGen(torch.float32)),
         "uniform": lambda: bs.BaselineModel()}[variant]()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
step = bs.make_step(model, opt, x, y)
for _ in range(warmup):
    step()
b0, c0, w0 = *bs._sys_busy(), time.perf_counter()
ts = bs.time_it(step, 0, steps)
b1, c1, w1 = *bs._sys_busy(), time.perf_counter()
med = statistics.median(ts)
print(json.dumps({"ms_per_step": med * 1e3, "ms_min": min(ts) * 1e3, "ms_max": max(ts) * 1e3,
                  "images_per_s": batch / med,
                  "foreign_cpu_pct": max(0.0, (b1 - b0) - (c1 - c0)) / (w1 - w0) * 100.0}))
EOF

# The OpenBLAS files a fresh machine would not have: those that the names zoomtrain
# loads resolve to.
BLASFILES=$(for n in libopenblas.so.0 libopenblas.so libblas.so.3; do
  ldconfig -p | awk -v n="$n" '$1 == n { print $NF }'
done | xargs -r readlink -f | sort -u | tr '\n' ' ')
export BLASFILES
# HIDDEN CMD... runs CMD with the OpenBLAS files hidden.
HIDDEN=(unshare --mount --propagation private sh -c
  'for f in $BLASFILES; do mount --bind /dev/null "$f" || exit 1; done; exec "$@"' sh)
case " $ENGINES " in *" fresh "*)
  if [ -z "$BLASFILES" ]; then
    echo "bench-vs-pytorch: no OpenBLAS installed: 'system' is already a fresh machine" >&2
  elif ! "${HIDDEN[@]}" true 2>/dev/null; then
    echo "bench-vs-pytorch: cannot hide OpenBLAS (unshare and mount need root): 'fresh' left out" >&2
    ENGINES=${ENGINES//fresh/}
  fi
  ;;
esac

# The clock, for the fraction of peak (0: unknown).
GHZ=$(go test -run '^$' -bench '^BenchmarkPeak$' -benchtime 1x ./internal/blas 2>/dev/null |
  awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "GHz") print $i }' | tail -n 1)
GHZ=${GHZ:-0}

# run NAME CMD... runs CMD under /usr/bin/time -v and appends its JSON result, with the
# peak resident set size, to $WORK/results as "NAME<TAB>JSON<TAB>MAXRSS_KB".
run() {
  local name=$1
  shift
  if ! /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.json" 2>"$WORK/err.txt"; then
    echo "bench-vs-pytorch: $name failed:" >&2
    cat "$WORK/err.txt" >&2
    exit 1
  fi
  local rss
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): *//p' "$WORK/time.txt")
  printf '%s\t%s\t%s\n' "$name" "$(tail -n 1 "$WORK/out.json")" "$rss" >>"$WORK/results"
  echo "  $name done" >&2
}

gobench() { # engine threads variant resolution
  local pre=()
  [ "$1" = fresh ] && pre=("${HIDDEN[@]}")
  run "go $3 $4 $1 t$2" "${pre[@]}" env GOMAXPROCS="$2" "$BIN" bench --json --variant "$3" --resolution "$4" \
    --batch-size "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --parts=false
}
pybench() { # threads variant
  run "torch $2 256 t$1" "$PY" "$WORK/pybench.py" "$REF" "$2" "$1" "$BATCH" "$STEPS" "$WARMUP"
}

echo "bench-vs-pytorch: $ROUNDS rounds, batch $BATCH, $WARMUP warm-up + $STEPS timed steps per run, threads: $THREADS, Go engines: $ENGINES, $(nproc) cores, clock $GHZ GHz" >&2
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
first=1
for t in $THREADS; do
  for round in $(seq "$ROUNDS"); do
    echo "threads $t, round $round" >&2
    for e in $ENGINES; do gobench "$e" "$t" saliency 256; done
    pybench "$t" sep
    for e in $ENGINES; do gobench "$e" "$t" uniform 256; done
    pybench "$t" uniform
    if [ "$first" = 1 ] && [ "$CONV" = 1 ]; then
      pybench "$t" conv
    fi
    first=0
    for r in $RESOLUTIONS; do
      if [ "$r" != 256 ]; then
        for e in $ENGINES; do gobench "$e" "$t" saliency "$r"; done
      fi
    done
  done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

"$PY" - "$WORK/results" "$GHZ" "$LOAD0" "$LOAD1" <<'EOF'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, js, rss = line.rstrip("\n").split("\t")
    r = json.loads(js)
    if "ms_per_step" not in r:  # zoomtrain bench --json is keyed by variant
        r = next(iter(r.values()))
    r["rss_mb"] = float(rss) / 1024 if rss else float("nan")
    runs[name].append(r)
ghz = float(sys.argv[2])
print(f"load average (1, 5, 15 min) before: {sys.argv[3]}; after: {sys.argv[4]}")

def med(name, key):
    return statistics.median(r[key] for r in runs[name])

def threads(name):
    return int(name.split()[-1][1:])

print(f"{'run':30s} {'n':>2s} {'ms/step':>8s} {'min run':>8s} {'max run':>8s} {'img/s':>6s} {'GFLOP/s':>8s} {'of peak':>7s} {'peak MB':>8s} {'other%':>7s}  engine")
for name, rs in runs.items():
    ms = [r["ms_per_step"] for r in rs]
    gf, peak, eng = "", "", ""
    if "gflop_per_s" in rs[0]:
        g = med(name, "gflop_per_s")
        gf = f"{g:.1f}"
        if ghz > 0:
            peak = f"{g / (threads(name) * ghz * 32):.2f}"
        e = rs[0].get("engine") or {}
        eng = f"{e.get('engine', '?')} {e.get('kernel', '')}"
    print(f"{name:30s} {len(rs):2d} {statistics.median(ms):8.1f} {min(ms):8.1f} {max(ms):8.1f}"
          f" {med(name, 'images_per_s'):6.0f} {gf:>8s} {peak:>7s} {max(r['rss_mb'] for r in rs):8.0f}"
          f" {max(r['foreign_cpu_pct'] for r in rs):7.0f}  {eng}")

def ratios(a, b):
    # Runs of one round are neighbours in time: pair them.
    return [x["ms_per_step"] / y["ms_per_step"] for x, y in zip(runs[a], runs[b])]

gonames = [n for n in runs if n.startswith("go ") and n.split()[2] == "256"]
print("\ngoals of issue 11 (median of the per-round ratios Go / PyTorch):")
for name in gonames:
    _, variant, _, eng, t = name.split()
    for torch, goal in {"saliency": [("sep", {"t2": 0.6, "t1": 0.7}), ("conv", {})],
                        "uniform": [("uniform", {"t2": 0.8})]}[variant]:
        rs = ratios(name, f"torch {torch} 256 {t}")
        if not rs:
            continue
        g, m = goal.get(t), statistics.median(rs)
        verdict = "" if g is None else f"  goal <= {g}: {'met' if m <= g else 'MISSED'}"
        print(f"  {variant:8s} {eng:6s} {t}: / PyTorch {torch:8s} {m:5.2f}  (per round: {', '.join(f'{r:.2f}' for r in rs)}){verdict}")
for name in gonames:
    _, variant, _, eng, t = name.split()
    torch = f"torch {'sep' if variant == 'saliency' else 'uniform'} 256 {t}"
    if torch in runs:
        a, b = max(r["rss_mb"] for r in runs[name]), max(r["rss_mb"] for r in runs[torch])
        print(f"  peak RSS {variant:8s} {eng:6s} {t}: Go {a:5.0f} MB, PyTorch {b:5.0f} MB, ratio {a / b:.2f}  goal < 1: {'met' if a < b else 'MISSED'}")
groups = collections.defaultdict(list)
for n in runs:
    if n.startswith("go saliency "):
        _, _, r, eng, t = n.split()
        groups[(eng, t)].append((int(r), n))
for (eng, t), ns in groups.items():
    if len(ns) < 2:
        continue
    base = med(f"go saliency 256 {eng} {t}", "ms_per_step")
    print(f"\nsource resolution scale, Go saliency model, {eng} {t} (ms/step median and growth over 256, goal < +10%; peak RSS, and less the batch of sources):")
    for r, n in sorted(ns):
        m, peak = med(n, "ms_per_step"), max(x["rss_mb"] for x in runs[n])
        batch_mb = runs[n][0]["batch"] * 3 * r * r * 4 / 2**20
        print(f"  {r:5d}: {m:7.1f} ms  {100 * (m / base - 1):+6.1f}%   peak {peak:6.0f} MB, less sources {peak - batch_mb:5.0f} MB")
EOF
