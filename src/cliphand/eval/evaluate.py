"""Evaluate prediction files against ground-truth files and write scores.json + PCK plot."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cliphand.eval import predictions as files
from cliphand.eval.protocols import DEXTER_PROTOCOL, RHD_PROTOCOL, evaluate_freihand, evaluate_pck
from cliphand.eval.report import plot_pck
from cliphand.fileio import write_text

DATASETS = ("freihand", "rhd", "dexter-object")


def evaluate_prediction_files(
    dataset: str, gt: str | Path, pred: str | Path, unaligned_fscore: bool = False, split: str = "evaluation"
) -> dict[str, Any]:
    """Scores for one prediction file. `gt` is FreiHAND's folder (its `split`), or the RHD /
    Dexter+Object ground-truth JSON (formats in predictions.py)."""
    start = time.perf_counter()
    if dataset == "freihand":
        gt_xyz, gt_verts = files.load_freihand_gt(gt, split)
        pred_xyz, pred_verts = files.load_freihand_predictions(pred, len(gt_xyz))
        scores = evaluate_freihand(gt_xyz, gt_verts, pred_xyz, pred_verts, unaligned_fscore)
    elif dataset in ("rhd", "dexter-object"):
        load_gt, protocol = (
            (files.load_rhd_gt, RHD_PROTOCOL) if dataset == "rhd" else (files.load_dexter_gt, DEXTER_PROTOCOL)
        )
        gt_xyz, visible = load_gt(gt)
        pred_xyz = files.load_joint_predictions(pred, len(gt_xyz))
        scores = evaluate_pck(gt_xyz, pred_xyz, protocol, visible)
    else:
        raise files.EvalFileError(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}")
    scores = {"dataset": dataset, **scores}
    scores["seconds"] = round(time.perf_counter() - start, 3)
    return scores


def write_scores(scores: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write scores.json and, beside it, <stem>_pck.png. Returns both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, json.dumps(scores, indent=2))
    plot = plot_pck(scores, out.with_name(f"{out.stem}_pck.png"), f"{scores['dataset']}: PCK")
    return out, plot
