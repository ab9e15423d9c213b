#!/usr/bin/env bash
# Times a full training step of zoomtrain and of the PyTorch reference
# (../shared/reference/bench_step.py: the same small networks, batch 32, 256 x 256
# sources, 64 x 64 task input, float32, Adam) side by side on this machine, and prints
# the ratios Go / PyTorch.
#
#   scripts/bench-vs-pytorch.sh                  # 3 rounds of 20 timed steps per run
#   ROUNDS=5 STEPS=30 scripts/bench-vs-pytorch.sh
#   RESOLUTIONS="256 512 1024 2048" scripts/bench-vs-pytorch.sh   # Go only beyond 256
#   THREADS=1 CONV=0 scripts/bench-vs-pytorch.sh   # one core each, no convolutional form
#
# The runs are interleaved (Go saliency, PyTorch separable, Go uniform, PyTorch uniform,
# round after round) so that a change in the machine's load hits both sides alike; each
# run is a process of its own under /usr/bin/time -v, whose maximum resident set size is
# the peak memory reported. The PyTorch form with the paper's convolutional grid
# generator is slow and runs once, in the first round. Every run reports the CPU other
# processes used meanwhile ("other%", % of one core): above ~10 the figures are
# contaminated by load. THREADS sets both torch's threads and Go's GOMAXPROCS.
#
# Needs Debian's python3-torch; the script installs it (with apt-get) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
THREADS=${THREADS:-2}
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

gobench() { # variant resolution
  run "go $1 $2" env GOMAXPROCS="$THREADS" "$BIN" bench --json --variant "$1" --resolution "$2" --batch-size "$BATCH" \
    --steps "$STEPS" --warmup "$WARMUP" --parts=false
}
pybench() { # variant
  run "torch $1 256" "$PY" "$WORK/pybench.py" "$REF" "$1" "$THREADS" "$BATCH" "$STEPS" "$WARMUP"
}

echo "bench-vs-pytorch: $ROUNDS rounds, batch $BATCH, $WARMUP warm-up + $STEPS timed steps per run, $THREADS threads each, $(nproc) cores" >&2
for round in $(seq "$ROUNDS"); do
  echo "round $round" >&2
  gobench saliency 256
  pybench sep
  gobench uniform 256
  pybench uniform
  if [ "$round" = 1 ] && [ "$CONV" = 1 ]; then
    pybench conv
  fi
  for r in $RESOLUTIONS; do
    if [ "$r" != 256 ]; then
      gobench saliency "$r"
    fi
  done
done

"$PY" - "$WORK/results" <<'EOF'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, js, rss = line.rstrip("\n").split("\t")
    r = json.loads(js)
    if "ms_per_step" not in r:  # zoomtrain bench --json is keyed by variant
        r = next(iter(r.values()))
    r["rss_mb"] = float(rss) / 1024 if rss else float("nan")
    runs[name].append(r)

def med(name, key):
    return statistics.median(r[key] for r in runs[name])

print(f"{'run':22s} {'n':>2s} {'ms/step (median of runs)':>25s} {'min run':>9s} {'max run':>9s} {'img/s':>7s} {'peak MB':>8s} {'other%':>7s}")
for name, rs in runs.items():
    ms = [r["ms_per_step"] for r in rs]
    print(f"{name:22s} {len(rs):2d} {statistics.median(ms):25.1f} {min(ms):9.1f} {max(ms):9.1f}"
          f" {med(name, 'images_per_s'):7.0f} {max(r['rss_mb'] for r in rs):8.0f} {max(r['foreign_cpu_pct'] for r in rs):7.0f}")

def ratios(a, b):
    # Runs of one round are neighbours in time: pair them.
    return [x["ms_per_step"] / y["ms_per_step"] for x, y in zip(runs[a], runs[b])]

print()
for a, b, what in [("go saliency 256", "torch sep 256", "saliency model, Go / PyTorch separable"),
                   ("go saliency 256", "torch conv 256", "saliency model, Go / PyTorch convolutional"),
                   ("go uniform 256", "torch uniform 256", "uniform baseline, Go / PyTorch")]:
    rs = ratios(a, b)
    if rs:
        print(f"{what:45s} ratio {statistics.median(rs):.2f}  (per round: {', '.join(f'{r:.2f}' for r in rs)})")
for a, b, what in [("go saliency 256", "torch sep 256", "saliency model"), ("go uniform 256", "torch uniform 256", "uniform baseline")]:
    print(f"peak RSS, {what:17s} Go {max(r['rss_mb'] for r in runs[a]):5.0f} MB, PyTorch {max(r['rss_mb'] for r in runs[b]):5.0f} MB")
scale = [n for n in runs if n.startswith("go saliency ")]
if len(scale) > 1:
    base = med("go saliency 256", "ms_per_step")
    print("\nsource resolution scale, Go saliency model (ms/step median, growth over 256; peak RSS, and less the batch of sources):")
    for n in sorted(scale, key=lambda n: int(n.split()[-1])):
        r = int(n.split()[-1])
        m, peak = med(n, "ms_per_step"), max(x["rss_mb"] for x in runs[n])
        batch_mb = runs[n][0]["batch"] * 3 * r * r * 4 / 2**20
        print(f"  {r:5d}: {m:7.1f} ms  {100 * (m / base - 1):+6.1f}%   peak {peak:6.0f} MB, less sources {peak - batch_mb:5.0f} MB")
EOF
