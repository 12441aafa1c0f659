"""HFA: High-resolution Feature Aggregation (paper §3.2).

The stage features f2, f3, f4 are upsampled to H/4, concatenated with f1, and one PAT block
compresses the concatenation to D (64) channels: f1234 (B, D, H/4, W/4). With HFA off, the
last stage f4 alone is projected to D channels and upsampled to H/4 (the ablation's baseline:
a plain backbone's output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cliphand.model.pat import PATBlock


class HFA(nn.Module):
    """[f1..f4] with channels `in_dims` -> (B, out_dim, H/4, W/4)."""

    def __init__(
        self, in_dims: tuple[int, ...], out_dim: int = 64, enabled: bool = True, mlp_ratio: float = 4.0
    ) -> None:
        super().__init__()
        self.enabled = enabled
        if enabled:
            self.compress = PATBlock(sum(in_dims), mlp_ratio, out_dim=out_dim)
        else:
            self.compress = nn.Conv2d(in_dims[-1], out_dim, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        f1 = features[0]
        size = f1.shape[-2:]
        if not self.enabled:  # the last stage alone, brought to the same H/4 grid
            return F.interpolate(self.compress(features[-1]), size=size, mode="bilinear", align_corners=False)
        upsampled = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features[1:]]
        return self.compress(torch.cat([f1, *upsampled], dim=1))
