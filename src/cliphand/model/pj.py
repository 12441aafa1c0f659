"""PJ: Predefined 3D Joint module (paper §3.6).

The 19 gesture templates (21 x 3 each), turned and scaled like the training image, are keys and
values; the predicted joints are the query. Attention weights fuse the templates softly into
one reference pose, and a zero-initialised linear layer turns (prediction, reference) into a
correction of the prediction, so an untrained PJ leaves the joints unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PJ(nn.Module):
    """joints (B, 21, 3) root-relative -> refined joints (B, 21, 3) and template weights (B, 19)."""

    def __init__(self, templates: torch.Tensor, dim: int = 128) -> None:
        super().__init__()
        self.register_buffer("templates", templates.float())  # (G, 21, 3), wrist at the origin
        self.query = nn.Sequential(nn.Linear(63, dim), nn.GELU(), nn.Linear(dim, dim))
        self.key = nn.Sequential(nn.Linear(63, dim), nn.GELU(), nn.Linear(dim, dim))
        self.correct = nn.Linear(126, 63)
        nn.init.zeros_(self.correct.weight)
        nn.init.zeros_(self.correct.bias)
        self.dim = dim

    def forward(
        self, joints: torch.Tensor, rotation: torch.Tensor | None = None, scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b = joints.shape[0]
        templates = self.templates[None].expand(b, -1, -1, -1)  # (B, G, 21, 3)
        if rotation is not None:  # the augmentation's roll about the optical axis
            c, s = torch.cos(rotation), torch.sin(rotation)
            zero, one = torch.zeros_like(c), torch.ones_like(c)
            rz = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], -1).reshape(b, 1, 3, 3)
            templates = templates @ rz.transpose(-1, -2)
        if scale is not None:
            templates = templates * scale.reshape(b, 1, 1, 1)
        relative = joints - joints[:, :1]
        q = self.query(relative.reshape(b, 63))  # (B, D)
        k = self.key(templates.reshape(b, -1, 63))  # (B, G, D)
        weights = (k @ q[..., None])[..., 0].div(math.sqrt(self.dim)).softmax(-1)  # (B, G)
        reference = (weights[..., None, None] * templates).sum(1)  # (B, 21, 3)
        delta = self.correct(torch.cat([relative, reference], -1).reshape(b, 126)).reshape(b, 21, 3)
        return joints + delta, weights
