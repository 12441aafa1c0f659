"""CLIP-Hand's training loss (paper §3.7, Eq. 1).

    L = w_v L1(vertices) + w_j [MSE(joints) + MSE(joints regressed from vertices)]   (with PJ, the
        joints before PJ are supervised too)
        + w_2d L1(2D joints through the predicted camera) + w_hm L_heatmap + w_c NT-Xent

3D terms compare root-relative coordinates (the wrist at the origin). Heatmap targets come
from the ground truth (2D joints, and coarse vertices projected with the ground-truth K), never
from the predicted camera. Samples without a mesh skip the vertex terms; joints marked
invisible skip the 2D term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cliphand.model.config import LossWeights
from cliphand.model.pj import similarity


def weak_perspective(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """(B, K, 3) points and (B, 3) camera (scale, tx, ty) -> (B, K, 2) crop coordinates in [-1, 1]."""
    return camera[:, None, :1] * points[..., :2] + camera[:, None, 1:]


def normalise_pixels(uv: torch.Tensor, size: int) -> torch.Tensor:
    """Pixels of an S x S crop (centres at integers) -> [-1, 1]."""
    return uv * (2.0 / (size - 1)) - 1.0


def gaussian_heatmaps(points: torch.Tensor, size: int, out: int, sigma: float) -> torch.Tensor:
    """(B, P, 2) crop pixels -> (B, P, out, out) Gaussians normalised to sum 1 (heatmap grid)."""
    scale = out / size
    centres = (points + 0.5) * scale - 0.5  # same pixel-centre convention at the lower resolution
    grid = torch.arange(out, dtype=points.dtype, device=points.device)
    gx = torch.exp(-((grid[None, None, :] - centres[..., :1]) ** 2) / (2 * sigma**2))  # (B, P, out)
    gy = torch.exp(-((grid[None, None, :] - centres[..., 1:]) ** 2) / (2 * sigma**2))
    maps = gy[..., :, None] * gx[..., None, :]
    return maps / maps.flatten(2).sum(-1).clamp_min(1e-12)[..., None, None]


def heatmap_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """KL(target || softmax(logits)) per map, averaged over maps with weight > 0.

    logits, target: (B, P, h, w); weight: (B, P).
    """
    log_p = logits.flatten(2).log_softmax(-1)
    q = target.flatten(2)
    kl = (q * (torch.log(q.clamp_min(1e-12)) - log_p)).sum(-1)  # (B, P)
    return (kl * weight).sum() / weight.sum().clamp_min(1.0)


def compute_losses(
    outputs: dict[str, torch.Tensor | None],
    batch: dict[str, torch.Tensor],
    model: torch.nn.Module,
    weights: LossWeights,
    contrastive: torch.Tensor | None = None,
    sigma: float = 1.5,
) -> dict[str, torch.Tensor]:
    """All loss terms (unweighted) and "total" (weighted sum). Raises FloatingPointError on a
    non-finite term, naming it.

    outputs: the network's dict. batch: joints_3d (B, 21, 3), joints_2d (B, 21, 2), visible
    (B, 21), K (B, 3, 3), vertices (B, N, 3) with has_vertices (B,), image (B, 3, S, S).
    model: provides regress_joints and coarse_ids for the hand model the data uses.
    """
    gt_joints = batch["joints_3d"]
    gt_root = gt_joints[:, :1]
    gt_rel = gt_joints - gt_root
    joints = outputs["joints"]
    terms: dict[str, torch.Tensor] = {}
    terms["joints"] = F.l1_loss(joints - joints[:, :1], gt_rel)
    if outputs.get("joints_before_pj") is not None and outputs["joints_before_pj"] is not joints:
        raw = outputs["joints_before_pj"]
        terms["joints"] = terms["joints"] + F.l1_loss(raw - raw[:, :1], gt_rel)

    # The same joints after the similarity that best fits them to the labels (the PA in PA-MPJPE):
    # the articulation's error alone, which the global rotation's error would otherwise drown.
    rel = joints - joints[:, :1]
    with torch.no_grad():
        rotation, scale = similarity(rel, gt_rel, slice(None))
    aligned = scale * rel @ rotation.transpose(1, 2)
    shift = (gt_rel - aligned).mean(1, keepdim=True)
    terms["joints_aligned"] = F.l1_loss(aligned + shift, gt_rel)

    vertices = outputs["vertices"]
    regressed = model.regress_joints(vertices)
    terms["joints_from_vertices"] = F.l1_loss(regressed - regressed[:, :1], gt_rel)
    has_mesh = batch["has_vertices"].to(vertices.dtype)
    if bool(has_mesh.any()):
        pred_v = vertices - regressed[:, :1]
        gt_v = batch["vertices"] - gt_root
        per_sample = (pred_v - gt_v).abs().mean((1, 2))
        terms["vertices"] = (per_sample * has_mesh).sum() / has_mesh.sum()
    else:
        terms["vertices"] = vertices.sum() * 0.0

    size = batch["image"].shape[-1]
    visible = batch["visible"].to(joints.dtype)[..., None]
    projected = weak_perspective(joints - joints[:, :1], outputs["camera"])
    target_2d = normalise_pixels(batch["joints_2d"], size)
    terms["joints_2d"] = ((projected - target_2d).abs() * visible).sum() / (visible.sum() * 2).clamp_min(1.0)

    heatmaps = outputs.get("heatmaps")
    if heatmaps is not None:
        b, _, h, _ = heatmaps.shape
        coarse_gt = batch["vertices"][:, model.coarse_ids]  # (B, 195, 3), zeros without a mesh
        uvw = coarse_gt @ batch["K"].transpose(1, 2)
        coarse_2d = uvw[..., :2] / uvw[..., 2:].clamp_min(1e-6)
        points = torch.cat([batch["joints_2d"], coarse_2d], 1)
        target = gaussian_heatmaps(points, size, h, sigma)
        map_weight = torch.cat([batch["visible"].to(heatmaps.dtype), has_mesh[:, None].expand(b, 195)], 1)
        terms["heatmap"] = heatmap_loss(heatmaps, target, map_weight)
    else:
        terms["heatmap"] = joints.sum() * 0.0
    terms["contrastive"] = contrastive if contrastive is not None else joints.sum() * 0.0

    bad = [name for name, value in terms.items() if not torch.isfinite(value).all()]
    if bad:
        raise FloatingPointError(f"non-finite loss term(s): {', '.join(bad)}")
    terms["total"] = (
        weights.vertices * terms["vertices"]
        + weights.joints * (terms["joints"] + terms["joints_from_vertices"])
        + weights.joints_aligned * terms["joints_aligned"]
        + weights.joints_2d * terms["joints_2d"]
        + weights.heatmap * terms["heatmap"]
        + weights.contrastive * terms["contrastive"]
    )
    return terms
