"""Size, cost and speed of a network: what `cliphand model summary` prints."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from cliphand.model.cliphand import CLIPHand
from cliphand.model.config import ModelConfig

MODULES = ("backbone", "hfa", "mhf", "mted", "camera_head", "joint_head", "vertex_head", "pj")


def count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def summarize(model: CLIPHand, config: ModelConfig, latency_runs: int = 10, with_cm: bool = True) -> dict[str, Any]:
    """Parameters (inference path, per module), GFLOPs at the config's image size, output
    shapes and CPU latency at batch 1 (median of `latency_runs`). CM encoders, when the config
    enables CM and their packages are installed, are counted separately."""
    model = model.eval()
    size = config.image_size
    image = torch.rand(1, 3, size, size)
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            outputs = model(image)
        model(image)  # warm-up
        times = []
        for _ in range(latency_runs):
            start = time.perf_counter()
            model(image)
            times.append((time.perf_counter() - start) * 1000)
    by_module = {name: count(getattr(model, name, None)) for name in MODULES}
    summary: dict[str, Any] = {
        "config": config.name,
        "hand_model": model.hand_name,
        "image_size": size,
        "params": count(model),
        "params_m": round(count(model) / 1e6, 2),
        "params_by_module": by_module,
        "gflops": round(counter.get_total_flops() / 1e9, 2),  # torch counts 2 FLOPs per multiply-add
        "gmacs": round(counter.get_total_flops() / 2e9, 2),
        "latency_ms": round(sorted(times)[len(times) // 2], 1),
        "threads": torch.get_num_threads(),
        "output_shapes": {k: list(v.shape) for k, v in outputs.items() if v is not None},
    }
    if config.cm and with_cm:
        summary["cm"] = _cm_params(config, model.backbone.dims[-1])
    return summary


def _cm_params(config: ModelConfig, feature_dim: int) -> dict[str, Any]:
    """CM is training-only: its frozen encoders and trainable projections, counted apart."""
    try:
        from cliphand.model.cm import ClipEncoders, CLIPModule

        encoders = ClipEncoders(config.cm_encoders)
        module = CLIPModule(feature_dim, encoders=encoders)
    except (ImportError, ValueError, OSError) as exc:
        return {"available": False, "reason": str(exc).splitlines()[0]}
    trainable = sum(p.numel() for n, p in module.named_parameters() if not n.startswith("encoders"))
    return {"available": True, "frozen_encoder_params": count(encoders), "trainable_params": trainable}
