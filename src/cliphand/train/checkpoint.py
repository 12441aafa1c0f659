"""Checkpoints: written atomically (temporary file, then rename) and checked when read."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from cliphand import __version__


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the run."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save into a temporary file beside `path`, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {**state, "code_version": __version__}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint, or raise CheckpointError in one line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = path.read_bytes()
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"corrupt checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    required = ("config", "model", "step", "hand_model")
    if not isinstance(state, dict) or any(k not in state for k in required):
        raise CheckpointError(f"{path} is not a cliphand checkpoint (needs {', '.join(required)})")
    return state


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Keys whose values differ between two config dicts (nested keys joined with dots)."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_differences(va, vb, f"{prefix}{key}.")
        elif va != vb and not (
            isinstance(va, (list, tuple)) and isinstance(vb, (list, tuple)) and list(va) == list(vb)
        ):
            out.append(f"{prefix}{key}")
    return out
