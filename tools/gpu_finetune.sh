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
MINUTES=${MINUTES:-6}      # the trainer stops and saves here even if STEPS are not done
CONFIG=${CONFIG:-mobile_gpu}
WORK=${WORK:-/tmp/cliphand_gpu}
OUT=${OUT:-gpu_out}
PYTHON=${PYTHON:-python3}

cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu only')"

start=$SECONDS
"$PYTHON" -m cliphand synth --out "$WORK/data" --num "$NUM" --seed "$SEED" --overwrite
echo "rendered $NUM images in $((SECONDS - start)) s"

init=$("$PYTHON" -c "import cliphand; print(cliphand.default_checkpoint())")
rm -rf "$WORK/run"
start=$SECONDS
"$PYTHON" -m cliphand train --config "$CONFIG" --data "$WORK/data" --init "$init" --out "$WORK/run" \
    --max-steps "$STEPS" --max-minutes "$MINUTES"
echo "trained in $((SECONDS - start)) s"

# A training checkpoint holds the optimiser's state too (too large to send back); the release is fp16.
"$PYTHON" tools/release_weights.py "$WORK/run/last.pt" --out "$OUT/cliphand_gpu.pt"
cp "$WORK/run/val.csv" "$WORK/run/metrics.csv" "$OUT/"
cp "$WORK/run/loss_curve.png" "$OUT/" 2>/dev/null || true
tail -n 3 "$WORK/run/val.csv"
