"""Benchmark: FreiHAND evaluation of a full-size (3,960-sample) prediction file.

Writes random ground truth and predictions in the official layout to a temporary folder, then
times JSON loading and the metrics separately.

    python bench/eval_freihand.py [--samples 3960] [--unaligned-fscore]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cliphand.eval import predictions
from cliphand.eval.protocols import evaluate_freihand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3960)
    parser.add_argument("--unaligned-fscore", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gt_xyz = rng.normal(scale=0.04, size=(args.samples, 21, 3)) + [0, 0, 0.6]
    gt_verts = rng.normal(scale=0.04, size=(args.samples, 778, 3)) + [0, 0, 0.6]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "evaluation_xyz.json").write_text(json.dumps(np.round(gt_xyz, 6).tolist()))
        (folder / "evaluation_verts.json").write_text(json.dumps(np.round(gt_verts, 6).tolist()))
        noise = lambda a: a + rng.normal(scale=0.007, size=a.shape)  # noqa: E731
        pred = predictions.write_freihand_predictions(folder / "pred.json", noise(gt_xyz), noise(gt_verts))
        start = time.perf_counter()
        xyz, verts = predictions.load_freihand_gt(folder)
        loaded_gt = time.perf_counter()
        pred_xyz, pred_verts = predictions.load_freihand_predictions(pred, len(xyz))
        loaded_pred = time.perf_counter()
        scores = evaluate_freihand(xyz, verts, pred_xyz, pred_verts, args.unaligned_fscore)
        done = time.perf_counter()
    print(f"samples                 {args.samples}")
    print(f"load ground truth       {loaded_gt - start:6.2f} s")
    print(f"load pred.json          {loaded_pred - loaded_gt:6.2f} s")
    print(f"metrics                 {done - loaded_pred:6.2f} s")
    print(f"total                   {done - start:6.2f} s")
    print(f"pa_mpjpe_mm {scores['pa_mpjpe_mm']:.3f}  f_score_15mm {scores['f_score_15mm']:.4f}")


if __name__ == "__main__":
    main()
