"""Reading checkpoints and the network in them (training writes them: cliphand.train.checkpoint)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from cliphand.model.cliphand import CLIPHand, build_model, load_config_hand
from cliphand.model.config import config_from_dict

CHECKPOINT_FORMAT = 2  # bump when the network's layout or outputs change meaning


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or does not fit the run."""


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
    if state.get("format", 1) != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} was written by cliphand {state.get('code_version', '< 0.2')} (checkpoint format "
            f"{state.get('format', 1)}); this cliphand reads format {CHECKPOINT_FORMAT}: retrain, or use that version"
        )
    return state


def load_model_from_checkpoint(path: str | Path) -> CLIPHand:
    """The network stored in a checkpoint, in eval mode, checked against its hand model."""
    state = load_checkpoint(path)
    config = config_from_dict(state["config"], f"{path} config")
    hand = load_config_hand(config)
    if state["hand_model"] != {"name": hand.name, "mesh_hash": hand.mesh_hash}:
        raise CheckpointError(f"{path} was trained with hand model {state['hand_model']}, which is not available here")
    model = build_model(config, hand)
    model.load_state_dict(state["model"])
    return model.eval()
