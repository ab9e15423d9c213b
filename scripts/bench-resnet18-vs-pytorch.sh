#!/usr/bin/env bash
# Times the training step of the ResNet-18 task network (torchvision's architecture)
# in zoomtrain and in PyTorch side by side: batch 16, 224 x 224 sources, 112 x 112 task
# input (the uniform sampler's step is the task network's: its downsample is made
# ahead by the loader), 10 classes, SGD with momentum, float32, batch norm training.
#
#   scripts/bench-resnet18-vs-pytorch.sh              # 3 rounds, 10 timed steps each
#   ROUNDS=5 STEPS=20 THREADS=1 scripts/bench-resnet18-vs-pytorch.sh
#
# The runs alternate (Go, PyTorch, round after round) so that the machine's load hits
# both alike; THREADS sets torch's threads and Go's GOMAXPROCS. Needs Debian's
# python3-torch and python3-torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-10}
WARMUP=${WARMUP:-3}
THREADS=${THREADS:-2}
BATCH=${BATCH:-16}
PY=/usr/bin/python3

if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  echo "bench-resnet18-vs-pytorch: needs python3-torch and python3-torchvision (apt-get install python3-torchvision)" >&2
  exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BIN=${BIN:-$WORK/zoomtrain}
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/zoomtrain

cat >"$WORK/resnet18.yaml" <<'YAML'
data:
  source: folder
  path: (synthetic)
  resolution: 224
model:
  sampler: uniform
  task_net: resnet18
  task_input: 112
train:
  batch_size: 16
  optimizer: sgd
  lr: 0.01
  momentum: 0.9
  weight_decay: 0.0001
YAML

echo "bench-resnet18-vs-pytorch: $ROUNDS rounds, batch $BATCH, $WARMUP warm-up + $STEPS timed steps, $THREADS threads each, $(nproc) cores" >&2
printf '%-8s %5s %10s %10s %10s %8s\n' side round ms/step min max img/s
for round in $(seq "$ROUNDS"); do
  GOMAXPROCS="$THREADS" "$BIN" bench --json --config "$WORK/resnet18.yaml" --variant uniform --batch-size "$BATCH" \
    --steps "$STEPS" --warmup "$WARMUP" --parts=false >"$WORK/go.json"
  "$PY" - "$WORK/go.json" "$round" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))["uniform"]
print("%-8s %5s %10.1f %10.1f %10.1f %8.1f  (other processes %.0f%% of a core)" % ("go", sys.argv[2], r["ms_per_step"], r["ms_min"], r["ms_max"], r["images_per_s"], r["foreign_cpu_pct"]))
PYEOF
  "$PY" scripts/resnet18_step.py "$THREADS" "$BATCH" 112 "$STEPS" "$WARMUP" >"$WORK/py.json"
  "$PY" - "$WORK/py.json" "$round" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("%-8s %5s %10.1f %10.1f %10.1f %8.1f  (other processes %.0f%% of a core)" % ("pytorch", sys.argv[2], r["ms_per_step"], r["ms_min"], r["ms_max"], r["images_per_s"], r["foreign_cpu_pct"]))
PYEOF
done
