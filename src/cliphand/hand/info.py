"""A summary of a hand model: sizes, coarse mesh, neighbourhoods, licence."""

from __future__ import annotations

from typing import Any

import torch

from cliphand.hand.coarse import PROGRESSIVE_HOPS
from cliphand.hand.model import HandModel


def hand_info(model: HandModel) -> dict[str, Any]:
    """Counts and measurements of `model` (what `cliphand hand info` prints)."""
    coarse = model.coarse
    with torch.no_grad():
        verts, joints = model()
    error = coarse.upsampling_error_mm(verts[0].numpy())
    return {
        "model": model.name,
        "side": model.side,
        "n_vertices": model.num_vertices,
        "n_faces": int(model.faces.shape[0]),
        "n_joints": int(joints.shape[1]),
        "n_shape": model.num_shape,
        "shape_names": list(model.shape_names),
        "n_coarse_vertices": int(coarse.vertex_ids.shape[0]),
        "mean_neighbours": {str(k): round(coarse.mean_neighbours(k), 2) for k in sorted(PROGRESSIVE_HOPS)},
        "upsampling_error_mm": {k: round(float(v), 3) for k, v in error.items()},
        "hand_length_cm": round(float((joints[0, 12] - joints[0, 0]).norm()) * 100, 2),
        "license": model.license,
    }
