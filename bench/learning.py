"""Benchmark: does the tiny config learn? Train it on synthetic images for a fixed budget and
compare held-out PA-MPJPE with the untrained network's.

    python bench/learning.py [--train 2000] [--test 200] [--steps 600] [--out /tmp/cliphand_learning]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from cliphand.data import load_dataset
from cliphand.model import build_model, load_config
from cliphand.model.checkpoint import load_model_from_checkpoint
from cliphand.synth.writer import write_dataset
from cliphand.train.runs import train_runs
from cliphand.train.trainer import predict_and_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cliphand_learning"))
    args = parser.parse_args()
    start = time.perf_counter()
    train_set = args.out / "train_data"
    test_set = args.out / "test_data"
    if not (train_set / "training_xyz.json").exists():
        write_dataset(train_set, args.train, seed=1, workers=2, progress=False)
    if not (test_set / "training_xyz.json").exists():
        write_dataset(test_set, args.test, seed=2, workers=2, progress=False)
    config = load_config("tiny")
    config = replace(config, train=replace(config.train, val_fraction=0.05, val_every_steps=200))
    test = load_dataset("freihand", test_set, size=config.image_size)
    torch.manual_seed(0)
    untrained = predict_and_score(build_model(config), test, 32, torch.device("cpu"))
    run = args.out / "run"
    train_start = time.perf_counter()
    train_runs(config, train_set, run, max_steps=args.steps, resume=(run / "last.pt").exists())
    train_seconds = time.perf_counter() - train_start
    trained = predict_and_score(load_model_from_checkpoint(run / "last.pt"), test, 32, torch.device("cpu"))
    result = {
        "train_images": args.train,
        "test_images": args.test,
        "steps": args.steps,
        "batch_size": config.train.batch_size,
        "train_minutes": round(train_seconds / 60, 1),
        "untrained_pa_mpjpe_mm": round(untrained["pa_mpjpe_mm"], 2),
        "trained_pa_mpjpe_mm": round(trained["pa_mpjpe_mm"], 2),
        "untrained_f_score_15mm": round(untrained["f_score_15mm"], 3),
        "trained_f_score_15mm": round(trained["f_score_15mm"], 3),
        "total_minutes": round((time.perf_counter() - start) / 60, 1),
    }
    print(json.dumps(result, indent=2))
    (args.out / "learning.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
