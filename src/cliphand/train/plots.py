"""The loss-curve picture of a run."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_run(run: Path) -> Path:
    """Write RUN/loss_curve.png: total loss per step (log scale) and validation PA-MPJPE."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if rows:
        ax.plot([int(r["step"]) for r in rows], [float(r["total"]) for r in rows], lw=0.8, label="training loss")
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (Eq. 1)")
    val = run / "val.csv"
    if val.exists():
        vrows = list(csv.DictReader(val.open()))
        twin = ax.twinx()
        twin.plot([int(r["step"]) for r in vrows], [float(r["pa_mpjpe_mm"]) for r in vrows], "o-", color="C3",
                  label="validation PA-MPJPE")  # fmt: skip
        twin.set_ylabel("PA-MPJPE (mm)", color="C3")
    ax.set_title(run.name)
    fig.tight_layout()
    out = run / "loss_curve.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
