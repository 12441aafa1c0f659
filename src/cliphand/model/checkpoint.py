"""Reading checkpoints and the network in them (training writes them: cliphand.train.checkpoint)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch

from cliphand.hand import HandModel
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
    data = path.read_bytes()
    if _looks_like_onnx(path, data):
        raise CheckpointError(
            f"{path} is an ONNX model, not a training checkpoint: `cliphand predict/live/serve --checkpoint` and "
            "HandPoseEstimator.from_checkpoint(path, backend='onnx') take it; eval, export and training need the .pt"
        )
    if data[:2] == b"PK" and b"PK\x05\x06" not in data[-1024:]:  # a zip (torch.save) without its end record
        raise CheckpointError(f"truncated or corrupt checkpoint {path}: the file ends early ({len(data)} bytes)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise CheckpointError(f"truncated or corrupt checkpoint {path} ({type(exc).__name__}: {reason})") from None
    required = ("config", "model", "step", "hand_model")
    if not isinstance(state, dict) or any(k not in state for k in required):
        raise CheckpointError(f"{path} is not a cliphand checkpoint (needs {', '.join(required)})")
    if state.get("format", 1) != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} was written by cliphand {state.get('code_version', '< 0.2')} (checkpoint format "
            f"{state.get('format', 1)}); this cliphand reads format {CHECKPOINT_FORMAT}: retrain, or use that version"
        )
    return state


def hand_identity(hand: HandModel) -> dict[str, str]:
    """What a checkpoint records of the hand model it was trained with (checked when it is loaded)."""
    return {"name": hand.name, "mesh_hash": hand.mesh_hash}


def load_model_from_checkpoint(path: str | Path) -> CLIPHand:
    """The network stored in a checkpoint, in eval mode, checked against its hand model."""
    return model_from_state(load_checkpoint(path), path)


def model_from_state(state: dict[str, Any], source: str | Path) -> CLIPHand:
    """The network in a checkpoint already read by load_checkpoint, in eval mode."""
    config = config_from_dict(state["config"], f"{source} config")
    hand = load_config_hand(config)
    if state["hand_model"] != hand_identity(hand):
        raise CheckpointError(
            f"{source} was trained with hand model {state['hand_model']}, which is not available here"
        )
    model = build_model(config, hand, pretrained=False)  # the checkpoint brings every weight
    load_weights(model, state["model"], source)
    if trained_on_rig_joints(state):
        # Its mesh and joints were learnt around the rig's joints: read the mesh's joints the same way.
        model.joint_regressor.copy_(hand.kinematic_regressor)
        warnings.warn(
            f"{source} was trained by cliphand {state['code_version']}, whose openhand joints were the rig's, "
            "not MANO's convention (0.8.0): it predicts the rig's joints",
            stacklevel=2,
        )
    # channels_last: oneDNN's convolutions are faster on NHWC (v8, batch 1 on 2 cores: 54 -> 40 ms)
    return model.to(memory_format=torch.channels_last).eval()


def trained_on_rig_joints(state: dict[str, Any]) -> bool:
    """An openhand checkpoint from before 0.8.0, when openhand's output joints were its rig's."""
    version = state.get("code_version")  # every saved checkpoint has it; a state built in memory is today's
    if version is None or state["hand_model"].get("name") != "openhand":
        return False
    return tuple(int(part) for part in str(version).split(".")[:2] if part.isdigit()) < (0, 8)


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | Path) -> None:
    """model.load_state_dict, with one line naming the first tensor that does not fit."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in weights:
            raise CheckpointError(f"{source} does not fit its config: it has no tensor {name}")
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source} does not fit its config: {name} is {tuple(weights[name].shape)} in the file, "
                f"{tuple(tensor.shape)} in the network"
            )
    extra = [name for name in weights if name not in expected]
    if extra:
        raise CheckpointError(f"{source} does not fit its config: the network has no tensor {extra[0]}")
    model.load_state_dict(weights)


def _looks_like_onnx(path: Path, data: bytes) -> bool:
    """An ONNX protobuf: by its suffix, or by its first field (ir_version, tag 0x08) and no zip header."""
    return path.suffix.lower() == ".onnx" or (data[:1] == b"\x08" and data[:2] != b"PK" and b"onnx" in data[:200])
