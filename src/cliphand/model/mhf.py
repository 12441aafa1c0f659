"""MHF: Multi-scale Heatmap Fusion (paper §3.3).

ResBlocks on the HFA map give 21 joint heatmaps, 195 vertex heatmaps and N3 attention maps;
softmax over the pixels of each heatmap, times the attention maps, gives one N3-d token per
joint and vertex; a linear layer on the global feature gives the camera token. Tokens come out
in cliphand's one token order: camera, 21 joints, 195 vertices (cliphand.hand.coarse).

Every token adds a learned embedding of its identity. With MHF off (ablation), the tokens are
those learned embeddings plus a projection of the global feature, and there are no heatmaps.
"""

from __future__ import annotations

import torch
from torch import nn

from cliphand.hand.coarse import NUM_COARSE_VERTICES


class ResBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and a (1x1 when widths differ) shortcut. (B, i, H, W) -> (B, o, H, W)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_dim, out_dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_dim, out_dim, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_dim),
        )
        self.shortcut = nn.Identity() if in_dim == out_dim else nn.Conv2d(in_dim, out_dim, 1, bias=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class MHF(nn.Module):
    """hr (B, D, h, w) + global feature (B, G) -> tokens (B, 217, N3) and heatmaps (B, 216, h, w)
    (joints first, then vertices, like the tokens), or None when disabled."""

    def __init__(
        self, in_dim: int, global_dim: int, token_dim: int = 512, num_joints: int = 21, enabled: bool = True
    ) -> None:
        super().__init__()
        self.enabled = enabled
        self.num_maps = num_joints + NUM_COARSE_VERTICES
        self.camera = nn.Linear(global_dim, token_dim)
        # Each query token's identity (camera, joint j, vertex v): without it the heatmap-pooled
        # tokens start as near-identical global averages and the heads cannot tell them apart.
        self.token_embedding = nn.Parameter(torch.randn(1 + self.num_maps, token_dim))  # unit scale, like the features
        if enabled:
            self.trunk = ResBlock(in_dim, in_dim)
            # Heatmap logits end in a plain conv: a ReLU'd BatchNorm output would flatten the softmax.
            self.joint_maps = nn.Sequential(ResBlock(in_dim, in_dim), nn.Conv2d(in_dim, num_joints, 1))
            self.vertex_maps = nn.Sequential(ResBlock(in_dim, in_dim), nn.Conv2d(in_dim, NUM_COARSE_VERTICES, 1))
            self.attention_maps = ResBlock(in_dim, token_dim)
        else:
            self.context = nn.Linear(global_dim, token_dim)

    def forward(self, hr: torch.Tensor, global_feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        camera = self.camera(global_feature)[:, None]  # (B, 1, N3)
        if not self.enabled:  # learned queries that all see the global feature
            context = self.context(global_feature)[:, None].expand(-1, self.num_maps, -1)
            return torch.cat([camera, context], dim=1) + self.token_embedding, None
        x = self.trunk(hr)
        heatmaps = torch.cat([self.joint_maps(x), self.vertex_maps(x)], dim=1)  # (B, 216, h, w)
        weights = heatmaps.flatten(2).softmax(-1)  # (B, 216, hw)
        attention = self.attention_maps(x).flatten(2)  # (B, N3, hw)
        tokens = weights @ attention.transpose(1, 2)  # (B, 216, N3)
        return torch.cat([camera, tokens], dim=1) + self.token_embedding, heatmaps
