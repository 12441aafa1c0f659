"""Hand models: skeleton and forward kinematics, the open hand model, the MANO loader, the
coarse mesh with its attention masks, and the gesture templates."""

from __future__ import annotations

from typing import Any

from cliphand.hand.model import HandModel, HandModelData, HandModelError

HAND_MODELS = ("openhand", "mano")


def load_hand_model(name: str, **options: Any) -> HandModel:
    """Load a hand model by name.

    `load_hand_model("openhand")` needs nothing; `load_hand_model("mano", path="MANO_RIGHT.pkl")`
    needs the user's MANO file (options: pca_components, flat_hand_mean).
    """
    if name == "openhand":
        from cliphand.hand.openhand import load_openhand

        return load_openhand(**options)
    if name == "mano":
        from cliphand.hand.mano import load_mano

        return load_mano(**options)
    raise HandModelError(f"unknown hand model '{name}'; choose one of: {', '.join(HAND_MODELS)}")


__all__ = ["HAND_MODELS", "HandModel", "HandModelData", "HandModelError", "load_hand_model"]
