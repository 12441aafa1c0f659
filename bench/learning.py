"""Benchmark: how fast does a config learn on this machine? Trains on a fixed synthetic set for a
wall-clock budget and scores a held-out set (another seed) along the way, beside the best fixed
answer (one gesture template, Procrustes-aligned) on the same held-out set.

    python bench/learning.py --minutes 60 --config mobile [--train 4000] [--test 200] [--out DIR]

Prints a table (PA-MPJPE, PA-MPVPE, F@5, F@15, root-relative MPJPE, metric root error of
root_translation) per evaluation, and writes learning.json and learning.png into --out. The
run is resumable: run the same command again to continue it. Images are FreiHAND-like views
(within 70 degrees of a frontal view), as in the demo.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from cliphand.data import collate_samples, load_dataset
from cliphand.demo import template_baseline
from cliphand.eval.protocols import evaluate_freihand
from cliphand.model import load_config
from cliphand.model.checkpoint import load_model_from_checkpoint
from cliphand.model.cliphand import root_translation
from cliphand.synth.generator import SynthConfig
from cliphand.synth.writer import write_dataset
from cliphand.train.runs import train_runs


@torch.no_grad()
def score(checkpoint: Path, test) -> dict[str, float]:
    model = load_model_from_checkpoint(checkpoint).eval()
    out: dict[str, list] = {k: [] for k in ("joints", "vertices", "camera", "K", "gt_joints", "gt_vertices")}
    for batch in torch.utils.data.DataLoader(test, batch_size=32, collate_fn=collate_samples):
        pred = model(batch["image"])
        for key in ("joints", "vertices", "camera"):
            out[key].append(pred[key])
        out["K"].append(batch["K"])
        out["gt_joints"].append(batch["joints_3d"])
        out["gt_vertices"].append(batch["vertices"])
    p = {k: torch.cat(v) for k, v in out.items()}
    root = root_translation(p["camera"], p["K"], model.config.image_size)
    p = {k: v.numpy() for k, v in p.items()}
    s = evaluate_freihand(p["gt_joints"], p["gt_vertices"], p["joints"], p["vertices"])
    gt_rel = p["gt_joints"] - p["gt_joints"][:, :1]
    return {
        "pa_mpjpe_mm": s["pa_mpjpe_mm"],
        "pa_mpvpe_mm": s["pa_mpvpe_mm"],
        "f_score_5mm": s["f_score_5mm"],
        "f_score_15mm": s["f_score_15mm"],
        "rr_mpjpe_mm": float(np.linalg.norm(p["joints"] - gt_rel, axis=-1).mean() * 1000),
        "root_error_mm": float(np.linalg.norm(root.numpy() - p["gt_joints"][:, 0], axis=-1).mean() * 1000),
        "spread_mm": float(p["joints"].std(0).mean() * 1000),  # 0 for a network that ignores the image
    }


def plot(rows: list[dict], baseline: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["train_minutes"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(minutes, [r["pa_mpjpe_mm"] for r in rows], "o-", label="PA-MPJPE")
    axes[0].plot(minutes, [r["pa_mpvpe_mm"] for r in rows], "s-", label="PA-MPVPE")
    axes[0].axhline(baseline, color="gray", ls="--", label=f"best fixed template {baseline:.1f} mm")
    axes[0].set(xlabel="training minutes (this CPU)", ylabel="mm, held-out synthetic", title="Aligned errors")
    axes[1].plot(minutes, [r["f_score_5mm"] for r in rows], "o-", label="F@5")
    axes[1].plot(minutes, [r["f_score_15mm"] for r in rows], "s-", label="F@15")
    axes[1].set(xlabel="training minutes", ylim=(0, 1), title="F-scores")
    axes[2].plot(minutes, [r["rr_mpjpe_mm"] for r in rows], "o-", label="root-relative MPJPE")
    axes[2].plot(minutes, [r["root_error_mm"] for r in rows], "s-", label="root position error")
    axes[2].set(xlabel="training minutes", ylabel="mm", title="Unaligned errors")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget")
    parser.add_argument("--config", default="mobile")
    parser.add_argument("--train", type=int, default=4000, help="training images (seed 1)")
    parser.add_argument("--test", type=int, default=200, help="held-out images (seed 2)")
    parser.add_argument("--evals", type=int, default=8, help="held-out evaluations along the way")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cliphand_learning"))
    args = parser.parse_args()
    out = args.out / args.config
    synth = SynthConfig(view_spread_deg=70.0)
    train_set, test_set = args.out / "train_data", args.out / "test_data"
    for folder, num, seed in ((train_set, args.train, 1), (test_set, args.test, 2)):
        if not (folder / "training_xyz.json").exists():
            print(f"rendering {num} images (seed {seed}) into {folder}")
            write_dataset(folder, num, seed=seed, config=synth, overwrite=True)
    config = load_config(args.config)
    config = replace(config, train=replace(config.train, val_fraction=0.0, checkpoint_every_steps=100))
    test = load_dataset("freihand", test_set, size=config.image_size)
    baseline_name, baseline = template_baseline(test)
    log = out / "learning.json"
    rows = json.loads(log.read_text())["rows"] if log.exists() else []
    spent = rows[-1]["train_minutes"] if rows else 0.0
    print(f"{args.config}: {args.minutes:g} min budget; best fixed template '{baseline_name}': {baseline:.2f} mm")
    header = "minutes  step   PA-MPJPE PA-MPVPE   F@5    F@15   RR-MPJPE  root err  spread"
    print(header)
    for r in rows:
        print(_row(r))
    while spent < args.minutes - 1e-6:
        chunk = min(args.minutes / args.evals, args.minutes - spent)
        start = time.perf_counter()
        summary = train_runs(
            config, train_set, out, max_steps=10**9, resume=(out / "last.pt").exists(),
            progress=False, max_minutes=chunk,
        )  # fmt: skip
        spent += (time.perf_counter() - start) / 60
        rows.append({"train_minutes": round(spent, 2), "step": summary["step"], **score(out / "last.pt", test)})
        print(_row(rows[-1]), flush=True)
        result = {"config": args.config, "baseline": [baseline_name, baseline], "rows": rows}
        log.write_text(json.dumps(result, indent=2))
        plot(rows, baseline, out / "learning.png")
    print(f"wrote {log} and {out / 'learning.png'}")


def _row(r: dict) -> str:
    return (
        f"{r['train_minutes']:7.1f} {r['step']:5d}   {r['pa_mpjpe_mm']:8.2f} {r['pa_mpvpe_mm']:8.2f}  "
        f"{r['f_score_5mm']:.3f}  {r['f_score_15mm']:.3f}  {r['rr_mpjpe_mm']:8.1f}  {r['root_error_mm']:8.1f}  "
        f"{r['spread_mm']:6.1f}"
    )


if __name__ == "__main__":
    main()
