"""Benchmark: training data throughput (samples/s) from a FreiHAND-layout folder.

Writes a FreiHAND-layout set of random hands (openhand gestures, 224 x 224 JPEGs with masks)
to a temporary folder, then times a DataLoader with training augmentation at 0 and 2 workers.

    python bench/data_loader.py [--annotations 128] [--batches 40] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cliphand.data import AugmentConfig, collate_samples, load_dataset
from cliphand.data.geometry import project, rotation_z
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import GESTURES, gesture_templates


def write_freihand_like(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    templates = gesture_templates(load_hand_model("openhand")).numpy()
    K = np.array([[480.0, 0, 111.5], [0, 480.0, 111.5], [0, 0, 1]])
    xyz = []
    for a in range(n):
        joints = templates[a % len(GESTURES)] @ (rotation_z(rng.uniform(0, 6.3)) @ np.diag([1, -1, -1])).T
        xyz.append(joints - joints[9] + [0, 0, 0.6])
    (root / "training" / "rgb").mkdir(parents=True)
    (root / "training" / "mask").mkdir()
    (root / "training_K.json").write_text(json.dumps([K.tolist()] * n))
    (root / "training_xyz.json").write_text(json.dumps([x.tolist() for x in xyz]))
    for a, joints in enumerate(xyz):
        uv = project(joints, K)
        yy, xx = np.mgrid[0:224, 0:224]
        near = np.min((xx[..., None] - uv[:, 0]) ** 2 + (yy[..., None] - uv[:, 1]) ** 2, axis=-1) < 100
        Image.fromarray((near * 255).astype(np.uint8)).save(root / "training" / "mask" / f"{a:08d}.jpg")
        for v in range(4):
            pixels = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "training" / "rgb" / f"{v * n + a:08d}.jpg", quality=90)


def throughput(root: Path, workers: int, batches: int, batch_size: int) -> float:
    dataset = load_dataset("freihand", root, augment=AugmentConfig(), vertices=False)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=workers, collate_fn=collate_samples
    )
    iterator = iter(loader)
    next(iterator)  # start-up (worker launch, first templates) is not throughput
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_freihand_like(root, args.annotations)
        images, batch = 4 * args.annotations, args.batch_size
        print(f"FreiHAND layout, {images} images of 224 x 224, training augmentation, batch {batch}")
        for workers in (0, 2):
            rate = throughput(root, workers, args.batches, args.batch_size)
            print(f"workers={workers}: {rate:7.1f} samples/s")


if __name__ == "__main__":
    main()
