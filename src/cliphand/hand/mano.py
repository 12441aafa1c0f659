"""MANO from the user's own MANO_RIGHT.pkl / MANO_LEFT.pkl, without chumpy.

MANO's licence forbids redistribution, so cliphand never ships it; download it yourself and
pass its path. The official files are Python 2 pickles holding chumpy arrays and scipy sparse
matrices; chumpy does not import on modern Python, so a custom unpickler reads chumpy
objects as plain containers and keeps their numpy payload.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import torch

from cliphand.hand.model import HandModel, HandModelData, HandModelError
from cliphand.hand.skeleton import ROT_PARENTS

LICENSE = "MANO licence (user-supplied file; not redistributable)"
FREIHAND_TIP_IDS = (744, 320, 443, 555, 672)
"""Fingertip vertices (thumb, index, middle, ring, pinky) used by FreiHAND's official code."""
SMPLX_TIP_IDS = (744, 320, 443, 554, 671)
REQUIRED_KEYS = ("v_template", "f", "J_regressor", "weights", "shapedirs", "posedirs", "kintree_table")
FREIHAND_ROOT = 9
"""FreiHAND's 61-value vector places the middle-finger MCP (joint 9) at its (u, v, scale) root."""


class _ChumpyObject:
    """Stands in for any chumpy class while unpickling; keeps the pickled state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


class _ManoUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return _ChumpyObject
        if module.startswith("scipy.sparse") and hasattr(scipy.sparse, name):
            return getattr(scipy.sparse, name)  # old pickles name private scipy modules
        return super().find_class(module, name)


def read_mano_pickle(path: str | Path) -> dict[str, Any]:
    """Read a MANO .pkl into a dict of numpy arrays (sparse matrices made dense)."""
    path = Path(path)
    if not path.is_file():
        raise HandModelError(f"MANO file not found: {path} (download MANO_RIGHT.pkl from the MANO website)")
    try:
        with path.open("rb") as f:
            raw = _ManoUnpickler(f, encoding="latin1").load()
    except Exception as exc:  # any unpickling failure means "not a MANO file"
        raise HandModelError(f"{path} is not a readable MANO pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict):
        raise HandModelError(f"{path} is not a MANO model: expected a dict, found {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise HandModelError(f"{path} is not a MANO model: missing {', '.join(missing)}")
    return {k: _to_numpy(k, v, path) for k, v in raw.items() if k in REQUIRED_KEYS + ("hands_components", "hands_mean")}


def mano_data(path: str | Path, tip_vertex_ids: tuple[int, ...] = FREIHAND_TIP_IDS) -> HandModelData:
    """Turn a MANO pickle into HandModelData, checking the shapes it must have."""
    raw = read_mano_pickle(path)
    v = raw["v_template"]
    n = v.shape[0] if v.ndim == 2 else -1
    expected = {
        "v_template": (n, 3),
        "J_regressor": (16, n),
        "weights": (n, 16),
        "shapedirs": (n, 3, None),
        "posedirs": (n, 3, 135),
    }
    for key, shape in expected.items():
        got = raw[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got, strict=False)):
            raise HandModelError(f"{path}: {key} has shape {got}, expected {shape} (is this a MANO file?)")
    parents = tuple(int(p) for p in raw["kintree_table"][0])
    if parents[1:] != ROT_PARENTS[1:]:
        raise HandModelError(f"{path}: kinematic tree {parents} is not MANO's")
    if max(tip_vertex_ids) >= n:
        raise HandModelError(f"{path}: fingertip vertex ids {tip_vertex_ids} exceed the {n} vertices")
    side = "left" if "left" in Path(path).name.lower() else "right"
    return HandModelData(
        name="mano",
        v_template=raw["v_template"],
        faces=raw["f"].astype(np.int64),
        weights=raw["weights"],
        joint_regressor=raw["J_regressor"],
        shapedirs=raw["shapedirs"],
        posedirs=raw["posedirs"],
        pca_components=raw.get("hands_components"),
        pose_mean=raw.get("hands_mean"),
        tip_vertex_ids=np.asarray(tip_vertex_ids, dtype=np.int64),
        shape_names=tuple(f"beta{i}" for i in range(raw["shapedirs"].shape[-1])),
        license=LICENSE,
        side=side,
    )


def load_mano(
    path: str | Path | None = None,
    pca_components: int | None = None,
    flat_hand_mean: bool = False,
    tip_vertex_ids: tuple[int, ...] = FREIHAND_TIP_IDS,
    coarse_path: str | Path | None = None,
) -> HandModel:
    """MANO as a HandModel. `flat_hand_mean=False` (MANO's and FreiHAND's convention) adds the
    mean finger pose to the given pose; `pca_components=K` takes 3 + K pose values;
    `coarse_path` is an optional METRO/FastMETRO mano_downsampling.npz for the coarse mesh."""
    if path is None:
        raise HandModelError("the MANO model needs its file: pass path=... (--mano-path on the command line)")
    data = mano_data(path, tip_vertex_ids)
    return HandModel(data, pca_components=pca_components, flat_hand_mean=flat_hand_mean, coarse_path=coarse_path)


def freihand_params(mano: torch.Tensor, K: torch.Tensor, model: HandModel) -> tuple[torch.Tensor, ...]:
    """FreiHAND's per-sample 61-value MANO vector -> (pose (B,48), shape (B,10), trans (B,3)).

    The vector is 48 pose values (for a model with flat_hand_mean=False), 10 shape values, and
    the root keypoint as image position (u, v) and a scale s: root = ((u, v) - pp, f) / s with
    f = mean(fx, fy) and pp the principal point of K (B, 3, 3). Translation puts joint 9 there.
    """
    mano = torch.as_tensor(mano, dtype=torch.float32).reshape(-1, 61)
    K = torch.as_tensor(K, dtype=torch.float32).reshape(-1, 3, 3)
    if model.name != "mano" or not bool(model.pose_mean.any()):
        raise HandModelError("FreiHAND's MANO vectors need load_hand_model('mano', path=..., flat_hand_mean=False)")
    pose, shape, uv, scale = mano[:, :48], mano[:, 48:58], mano[:, 58:60], mano[:, 60:61]
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    root = torch.cat([uv - K[:, :2, 2], focal[:, None]], dim=1) / scale
    _, joints = model(pose, shape)
    return pose, shape, root - joints[:, FREIHAND_ROOT]


def _to_numpy(key: str, value: Any, path: Path) -> np.ndarray:
    if isinstance(value, _ChumpyObject):
        if "x" not in value.__dict__:
            raise HandModelError(f"{path}: cannot read chumpy object '{key}' (no array payload)")
        value = value.x
    if scipy.sparse.issparse(value):
        value = value.toarray()
    array = np.asarray(value)
    return array if key in ("f", "kintree_table") else array.astype(np.float32)
