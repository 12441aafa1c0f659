"""PoolAttnFormer (PAT) backbone, after POTTER (Zheng et al., CVPR 2023).

A PAT block mixes tokens with pooling attention instead of softmax attention: the feature map
is average-pooled to (H, 4) and (4, W) and their product (B, C, H, W) mixes information along
rows and columns (patch-wise); the same is done over channels split into groups of 32
(embedding-wise). A 1x1-conv MLP follows, as in PoolFormer. Four stages at strides 4, 8, 16,
32 give the features f1..f4 that HFA aggregates.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

PAT_VARIANTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "pat_s12": ((2, 2, 6, 2), (64, 128, 320, 512)),
    "pat_s24": ((4, 4, 12, 4), (64, 128, 320, 512)),
    "pat_tiny": ((1, 1, 1, 1), (32, 64, 128, 256)),
}
CHANNEL_GROUP = 32  # embedding-wise pooling attention reshapes channels into groups of 32


class GroupNorm1(nn.GroupNorm):
    """GroupNorm with one group: LayerNorm over (C, H, W) for (B, C, H, W) maps."""

    def __init__(self, channels: int) -> None:
        super().__init__(1, channels)


class PoolAttention(nn.Module):
    """Pooling attention token mixer. (B, C, H, W) -> (B, C, H, W); C must divide by 32."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim % CHANNEL_GROUP:
            raise ValueError(f"PAT blocks need channels divisible by {CHANNEL_GROUP}, got {dim}")
        self.norm = GroupNorm1(dim)
        self.patch_proj = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.embed_proj = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.out_proj = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        patch = self.patch_proj(_pool_last(x) @ _pool_rows(x))  # (B,C,H,4) @ (B,C,4,W)
        groups = x.flatten(2).transpose(1, 2).reshape(b, h * w, CHANNEL_GROUP, c // CHANNEL_GROUP)
        embed = _pool_last(groups) @ _pool_rows(groups)  # (B,HW,32,4) @ (B,HW,4,C/32)
        embed = self.embed_proj(embed.reshape(b, h * w, c).transpose(1, 2).reshape(b, c, h, w))
        return self.out_proj(self.norm(patch + embed))


def _pool_last(x: torch.Tensor) -> torch.Tensor:
    """Adaptive average pooling of the last axis to 4 bins: (..., N) -> (..., 4)."""
    return x @ _pool_matrix(int(x.shape[-1]), x.dtype, x.device)


def _pool_rows(x: torch.Tensor) -> torch.Tensor:
    """Adaptive average pooling of the second-to-last axis to 4 bins: (..., N, M) -> (..., 4, M)."""
    return _pool_matrix(int(x.shape[-2]), x.dtype, x.device).T @ x


@lru_cache(maxsize=64)
def _pool_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(n, 4) averaging weights with AdaptiveAvgPool's bins [floor(i n / 4), ceil((i + 1) n / 4)).
    A constant matrix instead of adaptive pooling, so the network exports to ONNX. `n` must be a
    Python int: a traced size would export the bin arithmetic, and ONNX's integer division
    truncates where Python's floors, which moved the bins of short axes."""
    weights = torch.zeros(n, 4, dtype=dtype)
    for i in range(4):
        start, end = (i * n) // 4, -(-((i + 1) * n) // 4)
        weights[start:end, i] = 1.0 / (end - start)
    return weights.to(device)


class PATBlock(nn.Module):
    """Norm -> pooling attention -> residual; norm -> 1x1-conv MLP -> residual, with layer scale.

    With `out_dim` different from `dim` the MLP also changes the width (HFA's compression) and
    the second residual goes through a 1x1 projection. (B, dim, H, W) -> (B, out_dim, H, W).
    """

    def __init__(self, dim: int, mlp_ratio: float = 4.0, out_dim: int | None = None, scale_init: float = 1e-5) -> None:
        super().__init__()
        out_dim = out_dim or dim
        hidden = int(dim * mlp_ratio)
        self.norm1, self.mixer = GroupNorm1(dim), PoolAttention(dim)
        self.norm2 = GroupNorm1(dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, out_dim, 1))
        self.scale1 = nn.Parameter(torch.full((dim, 1, 1), scale_init))
        self.scale2 = nn.Parameter(torch.full((out_dim, 1, 1), scale_init if out_dim == dim else 1.0))
        self.shortcut = nn.Identity() if out_dim == dim else nn.Conv2d(dim, out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.scale1 * self.mixer(self.norm1(x))
        return self.shortcut(x) + self.scale2 * self.mlp(self.norm2(x))


class PoolAttnFormer(nn.Module):
    """Four-stage PAT backbone. (B, 3, H, W) -> [f1 (B, C1, H/4, W/4), ..., f4 (B, C4, H/32, W/32)]."""

    def __init__(self, layers: tuple[int, ...], dims: tuple[int, ...], mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.stem = nn.Conv2d(3, dims[0], 7, stride=4, padding=2)
        self.downs = nn.ModuleList(nn.Conv2d(dims[i], dims[i + 1], 3, stride=2, padding=1) for i in range(3))
        self.stages = nn.ModuleList(
            nn.Sequential(*[PATBlock(dims[i], mlp_ratio) for _ in range(layers[i])]) for i in range(4)
        )
        self.norms = nn.ModuleList(GroupNorm1(d) for d in dims)
        self.apply(_init)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(image)
        features = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downs[i - 1](x)
            x = stage(x)
            features.append(self.norms[i](x))
        return features


def build_pat(name: str, weights: str | None = None) -> PoolAttnFormer:
    """A PAT variant by name (pat_s12, pat_s24, pat_tiny), optionally with ImageNet weights from
    a local file (a state dict; a classifier head in it is ignored)."""
    if name not in PAT_VARIANTS:
        raise ValueError(f"unknown PAT backbone '{name}'; choose one of: {', '.join(PAT_VARIANTS)}")
    model = PoolAttnFormer(*PAT_VARIANTS[name])
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = state.get("model", state.get("state_dict", state))
        missing, _ = model.load_state_dict(state, strict=False)
        if len(missing) == len(model.state_dict()):
            raise ValueError(f"{weights}: no parameter names match the {name} backbone")
    return model


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
