"""Test inputs: a random training batch in the shape collate_samples produces, a tiny checkpoint,
and a rendered two-hand scene for detection."""

from __future__ import annotations

import numpy as np
import torch

from cliphand.hand import load_hand_model
from cliphand.synth.generator import Generator, SynthConfig


def random_batch(size: int, num_vertices: int, image_size: int, focal: float = 300.0) -> dict[str, torch.Tensor]:
    """Hands 0.6 m in front of the camera, random images, every label present."""
    centre = (image_size - 1) / 2
    return {
        "image": torch.rand(size, 3, image_size, image_size),
        "rotation": torch.zeros(size),
        "scale": torch.ones(size),
        "joints_3d": torch.randn(size, 21, 3) * 0.05 + torch.tensor([0, 0, 0.6]),
        "joints_2d": torch.rand(size, 21, 2) * image_size,
        "visible": torch.ones(size, 21, dtype=torch.bool),
        "K": torch.tensor([[focal, 0, centre], [0, focal, centre], [0, 0, 1]]).expand(size, 3, 3),
        "vertices": torch.randn(size, num_vertices, 3) * 0.05 + torch.tensor([0, 0, 0.6]),
        "has_vertices": torch.ones(size, dtype=torch.bool),
        "mask": torch.ones(size, 1, image_size, image_size),
        "has_mask": torch.zeros(size, dtype=torch.bool),
        "prompt": ['an image of a hand on a green background in a gesture that means "fist"'] * size,
    }


def tiny_checkpoint(path, layer_scale: float | None = None):
    """Write an untrained `tiny` network as a checkpoint at `path` (seed 0) and return the path.

    layer_scale: set every PAT layer scale to this, as after training, so that every path of
    the network counts (at init they are near zero)."""
    from cliphand.hand import load_hand_model
    from cliphand.model import build_model, load_config
    from cliphand.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config, hand = load_config("tiny"), load_hand_model("openhand")
    model = build_model(config, hand)
    if layer_scale is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.rsplit(".", 1)[-1] in ("scale1", "scale2"):
                    param.fill_(layer_scale)
    hand_id = {"name": hand.name, "mesh_hash": hand.mesh_hash}
    return save_checkpoint(
        path, {"config": config.to_dict(), "model": model.state_dict(), "step": 0, "hand_model": hand_id}
    )


def two_hand_scene() -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A 480x320 frame with a right hand on the left and a mirrored (left) hand on the right,
    both rendered by the synthetic generator (palm to the camera, fingers up), and their boxes."""
    config = SynthConfig(
        view_spread_deg=25, occluder_prob=0.0, backgrounds="colors", sleeve_prob=0.0, fill=(0.7, 0.8), skin_folds=0.0
    )  # the scene of earlier releases, which MediaPipe finds whole
    generator = Generator(load_hand_model("openhand"), config, seed=3)
    frame = np.full((320, 480, 3), 235, np.uint8)
    boxes = {}
    for side, x0 in (("right", 10), ("left", 250)):
        # Sample 2's right hand is one MediaPipe calls right in every frame of a drifting clip;
        # sample 0's, used before, it called left in two frames of three once the renders changed.
        sample = generator.sample(2 if side == "right" else 1)
        image, mask = sample.image, sample.mask
        if side == "left":
            image, mask = image[:, ::-1], mask[:, ::-1]
        frame[48:272, x0 : x0 + 224] = image
        ys, xs = np.nonzero(mask)
        boxes[side] = (x0 + xs.min(), 48 + ys.min(), xs.max() - xs.min(), ys.max() - ys.min())
    return frame, boxes
