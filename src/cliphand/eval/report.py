"""Reporting: the readable scores table, the PCK-curve plot and the paper-style comparison."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cliphand.eval.metrics import auc  # noqa: E402

CURVE_LABELS = {
    "joints": "joints",
    "pa_joints": "joints, Procrustes-aligned",
    "verts": "vertices",
    "pa_verts": "vertices, Procrustes-aligned",
}


def format_scores(scores: dict[str, Any]) -> str:
    """A two-column text table of the scalar scores (None shown as n/a)."""
    rows = [(k, v) for k, v in scores.items() if not isinstance(v, dict)]
    width = max(len(k) for k, _ in rows)
    lines = []
    for key, value in rows:
        if value is None:
            text = "n/a"
        elif isinstance(value, float):
            text = f"{value:.4f}" if ("auc" in key or "f_score" in key) else f"{value:.2f}"
        else:
            text = str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def plot_pck(scores: dict[str, Any], out: Path, title: str) -> Path:
    """Write the PCK curves stored in scores["curves"] as a PNG."""
    curves = scores["curves"]
    thresholds = np.asarray(curves["thresholds_mm"])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for key, label in CURVE_LABELS.items():
        if key in curves:
            area = auc(np.asarray(curves[key]), thresholds)
            ax.plot(thresholds, curves[key], label=f"{label} (AUC {area:.3f})")
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("fraction within threshold (PCK)")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def comparison_table(score_files: Sequence[Path]) -> str:
    """A Markdown table in the paper's Table 3/4 columns from several scores.json files.

    Method name, params, GFLOPs and FPS come from the optional keys "method", "params_m",
    "gflops" and "fps" (filled in by training/benchmark runs), else the folder name and "-".
    FreiHAND files contribute PA-MPJPE, PA-MPVPE and F@5/F@15; RHD / Dexter+Object files their
    20-50 mm AUC.
    """
    header = [
        "Method",
        "Dataset",
        "Params (M)",
        "GFLOPs",
        "FPS",
        "PA-MPJPE (mm)",
        "PA-MPVPE (mm)",
        "F@5",
        "F@15",
        "AUC",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in score_files:
        try:
            scores = json.loads(Path(path).read_text())
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
        auc_key = next((k for k in scores if k.startswith("auc_20")), None)
        row = [
            scores.get("method") or Path(path).parent.name or Path(path).stem,
            scores.get("dataset", "-"),
            _fmt(scores.get("params_m"), 2),
            _fmt(scores.get("gflops"), 2),
            _fmt(scores.get("fps"), 1),
            _fmt(scores.get("pa_mpjpe_mm"), 2),
            _fmt(scores.get("pa_mpvpe_mm"), 2),
            _fmt(scores.get("f_score_5mm"), 3),
            _fmt(scores.get("f_score_15mm"), 3),
            _fmt(scores.get(auc_key) if auc_key else None, 3),
        ]
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"
