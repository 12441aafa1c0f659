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
    (B, 21, 3)) on the given joints, in the least-squares sense: target ~ s * points @ R^T.
    -> R (B, 3, 3), a proper rotation, and s (B, 1, 1).

    Horn's closed form: R is the rotation of the dominant eigenvector of a 4 x 4 symmetric matrix,
    found here by repeated squaring rather than an SVD, so the network still exports to ONNX
    (which has no SVD) and a near-degenerate fit cannot fail.
    """
    x = points[:, joints]
    y = target[..., joints, :].expand_as(x)
    x_c, y_c = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    m = torch.nan_to_num(x_c.transpose(1, 2) @ y_c)  # (B, 3, 3) sum of x y^T; NaN inputs stay NaN below
    (sxx, sxy, sxz), (syx, syy, syz), (szx, szy, szz) = (m[:, i].unbind(-1) for i in range(3))
    n = torch.stack(
        [
            torch.stack([sxx + syy + szz, syz - szy, szx - sxz, sxy - syx], -1),
            torch.stack([syz - szy, sxx - syy - szz, sxy + syx, szx + sxz], -1),
            torch.stack([szx - sxz, sxy + syx, syy - sxx - szz, syz + szy], -1),
            torch.stack([sxy - syx, szx + sxz, syz + szy, szz - sxx - syy], -1),
        ],
        1,
    )  # (B, 4, 4); its eigenvalues lie within +-sqrt(3) |m|
    power = n + 2 * m.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None] * torch.eye(4, dtype=m.dtype)
    for _ in range(10):  # power^(2^10): every column turns to the dominant eigenvector
        power = power @ power
        power = power / power.flatten(1).norm(dim=1).clamp_min(1e-30)[:, None, None]
    column = power.norm(dim=1).argmax(-1)  # the column with the most weight on it
    q = torch.gather(power, 2, column[:, None, None].expand(-1, 4, 1))[..., 0]
    w, a, b, c = torch.nn.functional.normalize(q, dim=-1).unbind(-1)
    rotation = torch.stack(
        [
            torch.stack([w * w + a * a - b * b - c * c, 2 * (a * b - w * c), 2 * (a * c + w * b)], -1),
            torch.stack([2 * (a * b + w * c), w * w - a * a + b * b - c * c, 2 * (b * c - w * a)], -1),
            torch.stack([2 * (a * c - w * b), 2 * (b * c + w * a), w * w - a * a - b * b + c * c], -1),
        ],
        1,
    )
    scale = (rotation * m.transpose(1, 2)).sum((1, 2)) / x_c.pow(2).sum((1, 2)).clamp_min(1e-12)
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
