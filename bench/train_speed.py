"""Benchmark: training throughput (samples/s) on this CPU, with the network's tensors in the
default (NCHW) layout and in channels_last (NHWC), which the trainer uses, side by side.

Random images and labels, so only the network, loss and optimiser are timed (data loading is
measured by bench/data_loader.py).

    python bench/train_speed.py [--configs tiny s12 mobile] [--batch 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from cliphand.model import build_model, load_config
from cliphand.model.losses import compute_losses


def batch_for(config, model, size: int) -> dict:
    n = model.upsample.shape[0]
    return {
        "image": torch.rand(size, 3, config.image_size, config.image_size),
        "rotation": torch.zeros(size),
        "scale": torch.ones(size),
        "joints_3d": torch.randn(size, 21, 3) * 0.05 + torch.tensor([0, 0, 0.6]),
        "joints_2d": torch.rand(size, 21, 2) * config.image_size,
        "visible": torch.ones(size, 21, dtype=torch.bool),
        "K": torch.tensor([[400.0, 0, config.image_size / 2], [0, 400.0, config.image_size / 2], [0, 0, 1]]).expand(
            size, 3, 3
        ),
        "vertices": torch.randn(size, n, 3) * 0.05 + torch.tensor([0, 0, 0.6]),
        "has_vertices": torch.ones(size, dtype=torch.bool),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["tiny", "s12", "mobile"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for name in args.configs:
        nchw, size = time_config(name, args.batch, args.steps, torch.contiguous_format)
        nhwc, _ = time_config(name, args.batch, args.steps, torch.channels_last)
        print(
            f"{name:<6} {size}px: NCHW {nchw:6.2f} samples/s ({args.batch / nchw:.2f} s per step), "
            f"channels_last {nhwc:6.2f} ({args.batch / nhwc:.2f} s), {nhwc / nchw:.2f}x"
        )


def time_config(name: str, batch_size: int, steps: int, layout: torch.memory_format) -> tuple[float, int]:
    """Samples per second of forward + loss + backward + AdamW for one config."""
    config = load_config(name)
    torch.manual_seed(0)
    model = build_model(config).to(memory_format=layout).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = batch_for(config, model, batch_size)
    for i in range(steps + 1):
        if i == 1:  # the first step warms up
            start = time.perf_counter()
        outputs = model(batch["image"])
        loss = compute_losses(outputs, batch, model, config.loss_weights)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start), config.image_size


if __name__ == "__main__":
    main()
