"""One run, or several seeds of the same run summarised as mean +- std (as the paper reports)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from cliphand.model import ModelConfig
from cliphand.train.trainer import RunOptions, Trainer


def train_runs(
    config: ModelConfig,
    data: Path,
    out: Path,
    dataset: str = "freihand",
    epochs: int | None = None,
    max_steps: int | None = None,
    resume: bool = False,
    seed: int = 0,
    seeds: int = 1,
    **options: Any,
) -> dict[str, Any] | None:
    """Train; with seeds > 1, RUN/seed_<s> for each seed and RUN/seeds_summary.json. `options` go
    to RunOptions (progress, skip_bad_samples, max_minutes)."""

    def run(folder: Path, s: int) -> dict[str, Any]:
        return Trainer(RunOptions(config, Path(data), folder, dataset, epochs, max_steps, resume, s, **options)).run()

    if seeds <= 1:
        return run(Path(out), seed)
    results = [{"seed": s, **run(Path(out) / f"seed_{s}", s)} for s in range(seed, seed + seeds)]
    values = [r["best_pa_mpjpe_mm"] for r in results if r["best_pa_mpjpe_mm"] is not None]
    summary = {
        "runs": results,
        "best_pa_mpjpe_mm_mean": statistics.fmean(values) if values else None,
        "best_pa_mpjpe_mm_std": statistics.stdev(values) if len(values) > 1 else 0.0 if values else None,
    }
    (Path(out) / "seeds_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
