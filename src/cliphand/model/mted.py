"""MTED: Multi-layer Transformer Encoder-Decoder (paper §3.4), FastMETRO-style.

Stage by stage (model width 512, then 128: progressive dimension reduction), an encoder refines
the global image tokens, and a decoder lets the 217 query tokens (camera, joints, vertices)
attend to each other and cross-attend to the image tokens. The decoder's self-attention is
masked over the coarse mesh graph with hop radii 7, 5, 3, 1 across its layers ("Sampling is
Matter"); camera and joint tokens are never masked. With MTED off (ablation), a plain
transformer encoder-decoder replaces it: one width (dims[0]), no masks.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MTED(nn.Module):
    """memory (B, M, C) image tokens + queries (B, T, dims[0]) -> (B, T, dims[-1]).

    Args:
        memory_dim: C, the channels of the image tokens.
        num_memory: M, number of image tokens (for learned positional embeddings).
        dims, ff_dims: model and feed-forward widths per stage.
        masks: (L, T, T) bool, True = may attend, one per decoder layer over all stages (the last
            is repeated if there are more layers), or None for unmasked attention.
    """

    def __init__(
        self,
        memory_dim: int,
        num_memory: int,
        dims: tuple[int, ...] = (512, 128),
        ff_dims: tuple[int, ...] = (2048, 512),
        heads: int = 8,
        encoder_layers: int = 1,
        decoder_layers: int = 2,
        dropout: float = 0.1,
        masks: torch.Tensor | None = None,
        enabled: bool = True,
    ) -> None:
        super().__init__()
        self.enabled = enabled
        if not enabled:  # a plain decoder: one width, no masks
            dims, ff_dims, masks = dims[:1], ff_dims[:1], None
        self.out_dim = dims[-1]
        self.memory_in = nn.ModuleList()
        self.query_in = nn.ModuleList()
        self.positions = nn.ParameterList()
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        previous_memory, previous_query = memory_dim, dims[0]
        for dim, ff in zip(dims, ff_dims, strict=True):
            self.memory_in.append(nn.Linear(previous_memory, dim))
            self.query_in.append(nn.Identity() if previous_query == dim else nn.Linear(previous_query, dim))
            self.positions.append(nn.Parameter(torch.randn(num_memory, dim) * 0.02))
            kwargs = dict(d_model=dim, nhead=heads, dim_feedforward=ff, dropout=dropout, batch_first=True)
            self.encoders.append(nn.ModuleList(nn.TransformerEncoderLayer(**kwargs) for _ in range(encoder_layers)))
            self.decoders.append(nn.ModuleList(nn.TransformerDecoderLayer(**kwargs) for _ in range(decoder_layers)))
            previous_memory = previous_query = dim
        total = len(dims) * decoder_layers
        if masks is not None:
            # PyTorch's boolean attn_mask marks positions that may NOT attend.
            blocked = ~masks.bool()
            schedule = torch.stack([blocked[min(i, len(blocked) - 1)] for i in range(total)])
            self.register_buffer("blocked", schedule, persistent=False)
        else:
            self.blocked = None

    def forward(self, memory: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        layer = 0
        for memory_in, query_in, position, encoders, decoders in zip(
            self.memory_in, self.query_in, self.positions, self.encoders, self.decoders, strict=True
        ):
            memory = memory_in(memory) + position
            queries = query_in(queries)
            for encoder in encoders:
                memory = encoder(memory)
            for decoder in decoders:
                mask = None if self.blocked is None else self.blocked[layer]
                queries = decoder(queries, memory, tgt_mask=mask)
                layer += 1
        return queries


def resize_positions(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """weights with every MTED position table (M, D) resampled to the network's (M', D).

    The image tokens form a square grid (image_size / 32 on a side), so weights trained at one
    input size can start a network at another: each table is read as a (sqrt M, sqrt M) image of
    D channels and resized bilinearly, as ViT-style models do. Other tensors are left as they are.
    """
    expected = model.state_dict()
    resized = dict(weights)
    for name, tensor in weights.items():
        target = expected.get(name)
        if ".positions." not in name or target is None or tensor.shape == target.shape or tensor.dim() != 2:
            continue
        old, new = math.isqrt(tensor.shape[0]), math.isqrt(target.shape[0])
        if old * old != tensor.shape[0] or new * new != target.shape[0] or tensor.shape[1] != target.shape[1]:
            continue  # not a square grid of the same width: load_weights will name the mismatch
        grid = tensor.float().T.reshape(1, -1, old, old)
        grid = nn.functional.interpolate(grid, size=(new, new), mode="bilinear", align_corners=False)
        resized[name] = grid.reshape(-1, new * new).T.to(tensor.dtype).contiguous()
    return resized


def widen_feed_forward(weights: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """weights with every MTED feed-forward layer widened to the network's hidden width, computing
    what they computed: the trained units come first, the new ones keep the network's fresh input
    weights and get zero output weights, so they feed nothing until training moves them (they
    still get gradients, unlike copies of trained units, which would stay copies). Any other
    mismatch is left for load_weights to name.
    """
    expected = model.state_dict()
    widened = dict(weights)
    for name, tensor in weights.items():
        target = expected.get(name)
        if not name.startswith("mted.") or target is None or tensor.shape == target.shape:
            continue
        fresh, trained, wanted = target.detach().clone().to(tensor.dtype), tensor.shape, target.shape
        if name.endswith((".linear1.weight", ".linear1.bias")) and trained[1:] == wanted[1:] and trained[0] < wanted[0]:
            fresh[: trained[0]] = tensor
        elif name.endswith(".linear2.weight") and trained[0] == wanted[0] and trained[1] < wanted[1]:
            fresh.zero_()
            fresh[:, : trained[1]] = tensor
        else:
            continue
        widened[name] = fresh
    return widened
