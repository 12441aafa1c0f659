"""Reading and checking ground-truth and prediction files; writing pred.json and its zip.

Formats (all metres, camera frame, FreiHAND joint order, right hands):

* FreiHAND ground truth: a folder with evaluation_xyz.json (N x 21 x 3) and
  evaluation_verts.json (N x 778 x 3), the official layout.
* FreiHAND predictions: the official submission pred.json, `[xyz_list, verts_list]`; the
  vertex list may be empty, null or left out (joint metrics only).
* RHD ground truth: `{"xyz": N x 21 x 3, "visible": N x 21 booleans (optional)}`.
* Dexter+Object ground truth: `{"tips": N x 5 x 3}` fingertips (thumb..pinky); a missing
  fingertip is null or holds Dexter+Object's 32001 marker; `"units": "mm"` if not metres.
* RHD / Dexter+Object predictions: `{"xyz": N x 21 x 3}`, a bare N x 21 x 3 list, or a
  FreiHAND-style `[xyz_list, verts_list]`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cliphand.eval.protocols import DEXTER_MISSING, FINGERTIPS
from cliphand.fileio import atomic_path, write_text


class EvalFileError(ValueError):
    """A ground-truth or prediction file that cannot be used, with a one-line reason."""


def load_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise EvalFileError(f"{what} not found: {path}")
    try:
        with path.open() as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise EvalFileError(f"{what} {path} is not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{what} {path} cannot be read: {exc}") from None


def as_points(values: Any, tail: tuple[int | None, int], what: str, allow_nan: bool = False) -> np.ndarray:
    """A list of per-sample point sets -> (N, *tail) float64, naming the first bad sample."""
    if not isinstance(values, list) or not values:
        raise EvalFileError(f"{what}: expected a non-empty list of samples")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if (
        array is None
        or array.ndim != 1 + len(tail)
        or any(t is not None and t != s for t, s in zip(tail, array.shape[1:], strict=True))
    ):
        for i, sample in enumerate(values):
            try:
                shape = np.asarray(sample, dtype=np.float64).shape
            except (ValueError, TypeError):
                raise EvalFileError(f"{what}: sample {i} is not a numeric array") from None
            if len(shape) != len(tail) or any(t is not None and t != s for t, s in zip(tail, shape, strict=True)):
                want = " x ".join("V" if t is None else str(t) for t in tail)
                raise EvalFileError(f"{what}: sample {i} has shape {shape}, expected ({want})")
        raise EvalFileError(f"{what}: samples have different shapes")
    if not allow_nan:
        bad = ~np.isfinite(array).reshape(len(array), -1).all(1)
        if bad.any():
            raise EvalFileError(f"{what}: sample {int(np.argmax(bad))} has NaN or infinite values")
    return array


def load_freihand_gt(folder: str | Path, split: str = "evaluation") -> tuple[np.ndarray, np.ndarray]:
    """(N, 21, 3) joints and (N, V, 3) vertices from the official evaluation files, or from the
    training split's (a cliphand synth set has only that one)."""
    folder = Path(folder)
    if not (folder / f"{split}_xyz.json").exists() and (folder / "training_xyz.json").exists():
        raise EvalFileError(
            f"{folder} has no {split}_xyz.json; a cliphand synth set has only the training split: pass --split "
            "training (or score a checkpoint on it with `cliphand eval --split training`)"
        )
    xyz = as_points(load_json(folder / f"{split}_xyz.json", "ground truth"), (21, 3), f"{split}_xyz.json")
    verts = as_points(load_json(folder / f"{split}_verts.json", "ground truth"), (None, 3), f"{split}_verts.json")
    if len(xyz) != len(verts):
        raise EvalFileError(f"{folder}: {len(xyz)} joint sets but {len(verts)} vertex sets")
    return xyz, verts


def load_freihand_predictions(path: str | Path, n_samples: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 21, 3) joints and (N, V, 3) vertices or None from an official pred.json."""
    data = load_json(path, "predictions")
    if not isinstance(data, list) or not 1 <= len(data) <= 2:
        raise EvalFileError(f"{path}: expected [xyz_list, verts_list] (the official FreiHAND format)")
    xyz = as_points(data[0], (21, 3), f"{path} joints")
    _check_count(path, "joint sets", len(xyz), n_samples)
    verts_list = data[1] if len(data) == 2 else None
    if not verts_list:
        return xyz, None
    verts = as_points(verts_list, (None, 3), f"{path} vertices")
    _check_count(path, "vertex sets", len(verts), n_samples)
    return xyz, verts


def load_joint_predictions(path: str | Path, n_samples: int) -> np.ndarray:
    """(N, 21, 3) joints from {"xyz": ...}, a bare list, or a FreiHAND [xyz, verts] file."""
    data = load_json(path, "predictions")
    if isinstance(data, dict):
        if "xyz" not in data:
            raise EvalFileError(f"{path}: expected a key 'xyz' with N x 21 x 3 joints")
        data = data["xyz"]
    elif _depth(data) == 4:
        data = data[0]  # FreiHAND-style [xyz_list, verts_list]
    xyz = as_points(data, (21, 3), f"{path} joints")
    _check_count(path, "joint sets", len(xyz), n_samples)
    return xyz


def load_rhd_gt(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 21, 3) joints and (N, 21) visibility from an RHD ground-truth JSON."""
    data = load_json(path, "ground truth")
    if not isinstance(data, dict) or "xyz" not in data:
        raise EvalFileError(f"{path}: expected {{'xyz': N x 21 x 3, 'visible': N x 21}}")
    xyz = as_points(data["xyz"], (21, 3), f"{path} xyz")
    if data.get("visible") is None:
        return xyz, np.ones(xyz.shape[:2], bool)
    visible = np.asarray(data["visible"], dtype=bool)
    if visible.shape != xyz.shape[:2]:
        raise EvalFileError(f"{path}: visible has shape {visible.shape}, expected {xyz.shape[:2]}")
    return xyz, visible


def load_dexter_gt(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 21, 3) joints with the fingertips filled in and (N, 21) visibility (tips annotated)."""
    data = load_json(path, "ground truth")
    if not isinstance(data, dict) or "tips" not in data:
        raise EvalFileError(f"{path}: expected {{'tips': N x 5 x 3}}")
    tips_raw = [[[np.nan] * 3 if t is None else t for t in sample] for sample in data["tips"]]
    tips = as_points(tips_raw, (5, 3), f"{path} tips", allow_nan=True)
    missing = np.isnan(tips).any(-1) | (np.abs(tips) >= DEXTER_MISSING - 0.5).any(-1)
    scale = {"m": 1.0, "mm": 0.001}.get(data.get("units", "m"))
    if scale is None:
        raise EvalFileError(f"{path}: units must be 'm' or 'mm', got {data.get('units')!r}")
    xyz = np.zeros((len(tips), 21, 3))
    xyz[:, list(FINGERTIPS)] = np.where(missing[..., None], 0.0, tips * scale)
    visible = np.zeros((len(tips), 21), bool)
    visible[:, list(FINGERTIPS)] = ~missing
    return xyz, visible


def write_freihand_predictions(path: str | Path, xyz: np.ndarray, verts: np.ndarray | None = None) -> Path:
    """Write the official pred.json: [xyz_list (N x 21 x 3), verts_list (N x V x 3)], atomically."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (21, 3):
        raise ValueError(f"joints must be (N, 21, 3), got {xyz.shape}")
    verts_list: list = []
    if verts is not None:
        verts = np.asarray(verts, dtype=np.float64)
        if verts.ndim != 3 or verts.shape[0] != len(xyz) or verts.shape[2] != 3:
            raise ValueError(f"vertices must be (N, V, 3) with N = {len(xyz)}, got {verts.shape}")
        verts_list = np.round(verts, 6).tolist()
    return write_text(path, json.dumps([np.round(xyz, 6).tolist(), verts_list]))


def zip_predictions(pred_json: str | Path, zip_path: str | Path | None = None) -> Path:
    """Pack pred.json as the FreiHAND competition server expects: a zip with pred.json at its root."""
    pred_json = Path(pred_json)
    zip_path = Path(zip_path) if zip_path is not None else pred_json.with_suffix(".zip")
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(pred_json, arcname="pred.json")
    return zip_path


def _depth(value: Any) -> int:
    """Nesting depth of the first elements of nested lists (a bare N x 21 x 3 list has 3)."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth


def _check_count(path: str | Path, what: str, got: int, want: int) -> None:
    if got != want:
        raise EvalFileError(f"{path}: {got} {what}, but the ground truth has {want} samples")
