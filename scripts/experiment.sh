#!/usr/bin/env bash
# Trains the saliency sampler and the uniform-downsampling baseline with the same budget
# on the built-in needle data, over several seeds, and prints a table of val accuracy.
#
#   scripts/experiment.sh                      # 3 seeds, 12 epochs, the two default configs
#   SEEDS="0 1 2 3" EPOCHS=30 scripts/experiment.sh
#   CONFIGS="configs/needle.yaml configs/needle-fwhm7.yaml" scripts/experiment.sh
#   METRIC=mae CONFIGS="configs/needle-gaze.yaml configs/needle-gaze-uniform.yaml" scripts/experiment.sh
#
# METRIC is top1 (classification, in percent) or mae (regression: val mean absolute
# error in the targets' units, lower is better).
#
# Runs go to $OUT/<config>-s<seed>; a run that already finished is not trained again,
# so the script can be stopped and restarted.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"0 1 2"}
EPOCHS=${EPOCHS:-12}
CONFIGS=${CONFIGS:-"configs/needle.yaml configs/needle-uniform.yaml"}
OUT=${OUT:-runs/experiment-e${EPOCHS}}
METRIC=${METRIC:-top1}
case "$METRIC" in
  top1) unit=% ;;
  mae) unit= ;;
  *) echo "METRIC must be top1 or mae, got $METRIC" >&2; exit 2 ;;
esac
# BIN names a prebuilt binary to use as it is (keeps a long experiment on one build
# while the source changes); by default the working tree is built.
if [ -z "${BIN:-}" ]; then
  BIN=$(mktemp -d)/zoomtrain
  go build -o "$BIN" ./cmd/zoomtrain
fi
mkdir -p "$OUT"

score() { # checkpoint -> val top-1 in percent, or val MAE
  if [ "$METRIC" = mae ]; then
    "$BIN" eval --checkpoint "$1" --json | sed -n 's/.*"loss":[^,]*,"mae":\([0-9.eE+-]*\).*/\1/p' | awk '{printf "%.4f", $1}'
  else
    "$BIN" eval --checkpoint "$1" --json | sed -n 's/.*"top1":\([0-9.eE+-]*\).*/\1/p' | awk '{printf "%.1f", 100*$1}'
  fi
}

for cfg in $CONFIGS; do
  name=$(basename "$cfg" .yaml)
  for seed in $SEEDS; do
    dir="$OUT/$name-s$seed"
    if [ -f "$dir/done" ]; then
      echo "== $name seed $seed: done already" >&2
      continue
    fi
    echo "== $name seed $seed ($EPOCHS epochs)" >&2
    if [ -f "$dir/last.ckpt" ]; then
      "$BIN" train --resume "$dir" --epochs "$EPOCHS" >&2
    else
      "$BIN" train --config "$cfg" --seed "$seed" --epochs "$EPOCHS" --out "$OUT" --name "$name-s$seed" >&2
    fi
    touch "$dir/done"
  done
done

printf '\n%-24s %-10s %s\n' "config" "epochs" "val $METRIC after the last epoch, per seed (best epoch in brackets); mean"
for cfg in $CONFIGS; do
  name=$(basename "$cfg" .yaml)
  row="" sum=0 n=0
  for seed in $SEEDS; do
    dir="$OUT/$name-s$seed"
    last=$(score "$dir/last.ckpt")
    best=$(score "$dir/best.ckpt")
    row="$row s$seed $last$unit ($best$unit)"
    sum=$(awk -v a="$sum" -v b="$last" 'BEGIN{print a+b}')
    n=$((n + 1))
  done
  mean=$(awk -v a="$sum" -v n="$n" -v m="$METRIC" 'BEGIN{printf (m == "mae" ? "%.4f" : "%.1f"), a/n}')
  printf '%-24s %-10s %s; mean %s%s\n' "$name" "$EPOCHS" "$row" "$mean" "$unit"
done
"$BIN" plot $(for cfg in $CONFIGS; do for seed in $SEEDS; do printf -- '--run %s ' "$OUT/$(basename "$cfg" .yaml)-s$seed"; done; done) --out "$OUT/compare.png" >&2
