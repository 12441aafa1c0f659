"""PJ: Predefined 3D Joint module (paper §3.6).

The 19 gesture templates (21 x 3, in the hand's own frame) are keys and values; the predicted
joints are the query. Predictions live in the camera frame and templates in the hand frame, so
PJ first brings them together: a similarity (rotation + scale, Kabsch on the wrist and the five
MCP joints) maps each prediction onto the templates' mean palm, and a second fit of the whole
hand onto the templates that frame selects refines it. The paper turns and scales the
templates like the image instead; fitting the frame from the prediction does the same for any
view, at training and at inference alike. In that frame attention fuses the templates softly
into one reference pose (a learned similarity plus a distance prior), a correction moves the
prediction toward it, and the inverse similarity maps the result back. The correction starts
at zero, so an untrained PJ leaves the joints unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PALM_JOINTS = [0, 1, 5, 9, 13, 17]  # wrist and the five MCPs (FreiHAND order): rigid in any gesture


def similarity(
    points: torch.Tensor, target: torch.Tensor, joints: list[int] | slice = PALM_JOINTS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation and scale that best map root-relative `points` (B, 21, 3) onto `target` ((21, 3) or
    (B, 21, 3)) on the given joints (Umeyama, proper rotation): target ~ s * points @ R^T.
    -> R (B, 3, 3), s (B, 1, 1)."""
    x = points[:, joints]
    y = target[..., joints, :].expand_as(x)
    x_c, y_c = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    cov = torch.nan_to_num(y_c.transpose(1, 2) @ x_c)  # (B, 3, 3); NaN inputs stay NaN downstream, SVD must not fail
    u, sigma, vt = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vt))
    fix = torch.ones_like(sigma)
    fix[:, 2] = d
    rotation = u @ torch.diag_embed(fix) @ vt
    scale = (sigma * fix).sum(-1) / x_c.pow(2).sum((1, 2)).clamp_min(1e-12)
    return rotation, scale[:, None, None]


class PJ(nn.Module):
    """joints (B, 21, 3) root-relative -> refined joints (B, 21, 3) and template weights (B, 19)."""

    def __init__(self, templates: torch.Tensor, dim: int = 128) -> None:
        super().__init__()
        templates = templates.float() - templates[:, :1].float()
        self.register_buffer("templates", templates)  # (G, 21, 3), hand frame, wrist at the origin
        self.register_buffer("palm", templates.mean(0))  # (21, 3) the frame every prediction is fitted to
        self.query = nn.Sequential(nn.Linear(63, dim), nn.GELU(), nn.Linear(dim, dim))
        self.key = nn.Sequential(nn.Linear(63, dim), nn.GELU(), nn.Linear(dim, dim))
        # Distance prior: templates near the prediction weigh more from the start (sigma in metres).
        self.log_sigma = nn.Parameter(torch.tensor(math.log(0.005)))
        self.correct = nn.Linear(126, 63)
        nn.init.zeros_(self.correct.weight)
        nn.init.zeros_(self.correct.bias)
        self.pull = nn.Parameter(torch.zeros(21, 1))  # per joint: how far to move toward the reference
        self.dim = dim

    def forward(self, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        relative = joints - joints[:, :1]
        with torch.no_grad():  # the frame is a change of coordinates, not something to learn through
            # A first frame from the rigid palm, then a better one from the whole hand fitted to
            # the templates that frame selects (a noisy palm alone tilts the fingers by degrees).
            rotation, scale = similarity(relative, self.palm)
            _, reference = self.fuse(scale * relative @ rotation.transpose(1, 2))
            rotation, scale = similarity(relative, reference, slice(None))
        local = scale * relative @ rotation.transpose(1, 2)  # (B, 21, 3) in the templates' frame
        weights, reference = self.fuse(local)
        delta = self.pull * (reference - local)
        delta = delta + self.correct(torch.cat([local, reference], -1).reshape(-1, 126)).reshape(-1, 21, 3)
        refined = (local + delta) @ rotation / scale  # back to the camera frame
        return joints[:, :1] + refined, weights

    def fuse(self, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention over the templates: (B, 21, 3) in their frame -> weights (B, G), reference (B, 21, 3)."""
        q = self.query(local.reshape(-1, 63))  # (B, D)
        k = self.key(self.templates.reshape(-1, 63))  # (G, D)
        distance = (local[:, None] - self.templates[None]).pow(2).sum(-1).mean(-1)  # (B, G) m^2
        logits = q @ k.T / math.sqrt(self.dim) - distance / (2 * self.log_sigma.exp() ** 2)
        weights = logits.softmax(-1)
        return weights, torch.einsum("bg,gjc->bjc", weights, self.templates)
