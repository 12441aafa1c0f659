"""HFA: High-resolution Feature Aggregation (paper §3.2).

The stage features f2, f3, f4 are upsampled to H/4, concatenated with f1, and one PAT block
compresses the concatenation to D (64) channels: f1234 (B, D, H/4, W/4). With HFA off, the
last stage f4 alone is projected to D channels and upsampled to H/4 (the ablation's baseline:
a plain backbone's output).

With `stage_dim` set, a 1x1 conv first brings each stage to that width at its own resolution,
so the PAT block at H/4 mixes 4 x stage_dim channels instead of the sum of the stage widths: at
the mobile widths (32, 64, 128, 256) and 128 px, the paper's form is the costliest part of the
network (docs/training.md), and the projection is where that cost goes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cliphand.model.pat import PATBlock


class HFA(nn.Module):
    """[f1..f4] with channels `in_dims` -> (B, out_dim, H/4, W/4)."""

    def __init__(
        self,
        in_dims: tuple[int, ...],
        out_dim: int = 64,
        enabled: bool = True,
        mlp_ratio: float = 4.0,
        stage_dim: int = 0,
    ) -> None:
        super().__init__()
        self.enabled = enabled
        self.project = None
        if enabled:
            if stage_dim:
                self.project = nn.ModuleList(nn.Conv2d(dim, stage_dim, 1) for dim in in_dims)
                in_dims = (stage_dim,) * len(in_dims)
            self.compress = PATBlock(sum(in_dims), mlp_ratio, out_dim=out_dim)
        else:
            self.compress = nn.Conv2d(in_dims[-1], out_dim, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        if not self.enabled:  # the last stage alone, brought to the same H/4 grid
            return F.interpolate(self.compress(features[-1]), size=size, mode="bilinear", align_corners=False)
        if self.project is not None:
            features = [project(f) for project, f in zip(self.project, features, strict=True)]
        upsampled = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features[1:]]
        return self.compress(torch.cat([features[0], *upsampled], dim=1))
