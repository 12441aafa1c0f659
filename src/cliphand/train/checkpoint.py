"""Checkpoints: written atomically (temporary file, then rename) and checked when read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cliphand import __version__
from cliphand.fileio import atomic_path
from cliphand.model.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint

__all__ = ["CheckpointError", "config_differences", "load_checkpoint", "release_checkpoint", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save into a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    state = {**state, "code_version": __version__, "format": CHECKPOINT_FORMAT}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


RESUME_NEUTRAL = {"train.num_workers"}  # settings that cannot change what a run computes


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose values differ between two config dicts (nested keys joined with dots), except
    those in RESUME_NEUTRAL."""
    out = []
    for key in sorted(set(a) | set(b)):
        if f"{prefix}{key}" in RESUME_NEUTRAL:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb and not (
            isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)) and list(va) == list(vb)
        ):
            out.append(f"{prefix}{key}")
    return out


def release_checkpoint(source: str | Path, out: str | Path, **card: Any) -> Path:
    """The network of a training checkpoint alone, floating-point tensors in fp16: what ships.

    Drops the optimiser, scheduler and RNG states (two thirds of a training checkpoint) and
    halves the weights; `card` entries (data, recipe, scores) are stored under "release".
    Loads like any checkpoint: load_state_dict casts the weights back to fp32.
    """
    state = load_checkpoint(source)
    # Contiguous (NCHW) storage whatever layout training used, as other tools that read the file expect.
    weights = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state["model"].items()}
    keep = {k: state[k] for k in ("config", "step", "hand_model")}
    return save_checkpoint(out, {**keep, "model": weights, "release": card})
