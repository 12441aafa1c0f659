"""The three evaluation protocols: FreiHAND (official eval.py), RHD and Dexter+Object (3D PCK).

Each `evaluate_*` takes arrays in metres and returns a flat dict of scores (errors in mm) plus
the PCK curves under "curves" for plotting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cliphand.eval import metrics

FINGERTIPS = (4, 8, 12, 16, 20)
"""Fingertips in FreiHAND joint order (thumb, index, middle, ring, pinky)."""
DEXTER_MISSING = 32001.0
"""Dexter+Object marks fingertips without annotation with this value."""


def evaluate_freihand(
    gt_xyz: np.ndarray,
    gt_verts: np.ndarray,
    pred_xyz: np.ndarray,
    pred_verts: np.ndarray | None = None,
    unaligned_fscore: bool = False,
) -> dict[str, Any]:
    """FreiHAND's official evaluation, vectorised.

    Args:
        gt_xyz: (N, 21, 3) and gt_verts: (N, 778, 3) ground truth, camera frame, metres.
        pred_xyz: (N, 21, 3) predicted joints. pred_verts: (N, V, 3) predicted vertices or None.

    Returns scores named as in scores.json. mpjpe_mm / mpvpe_mm are the official unaligned
    errors in the camera frame; pa_* are after per-sample Procrustes. f_score_* are the F-scores
    of Procrustes-aligned vertices (the numbers papers quote); f_score_unaligned_* without
    alignment (computed only with `unaligned_fscore`, as it doubles the F-score time; None
    otherwise). A mesh with V != 778 gets no vertex errors and is aligned with the keypoint trafo
    for its F-scores, as the official code does. Without vertices all vertex scores are None.
    """
    thresholds = metrics.FREIHAND_THRESHOLDS
    err = metrics.keypoint_errors(gt_xyz, pred_xyz)
    pa_err = metrics.keypoint_errors(gt_xyz, metrics.procrustes_align(gt_xyz, pred_xyz))
    curves: dict[str, Any] = {"thresholds_mm": (thresholds * 1000).tolist()}
    curves["joints"] = metrics.pck_curve(err, thresholds).tolist()
    curves["pa_joints"] = metrics.pck_curve(pa_err, thresholds).tolist()
    scores: dict[str, Any] = {
        "mpjpe_mm": 1000 * metrics.mean_error(err),
        "pa_mpjpe_mm": 1000 * metrics.mean_error(pa_err),
        "mpvpe_mm": None,
        "pa_mpvpe_mm": None,
        "f_score_5mm": None,
        "f_score_15mm": None,
        "f_score_unaligned_5mm": None,
        "f_score_unaligned_15mm": None,
        "auc_joints_0_50mm": metrics.auc(np.array(curves["joints"]), thresholds),
        "auc_pa_joints_0_50mm": metrics.auc(np.array(curves["pa_joints"]), thresholds),
        "auc_verts_0_50mm": None,
        "auc_pa_verts_0_50mm": None,
        "n_samples": int(len(gt_xyz)),
    }
    if pred_verts is not None:
        same_topology = pred_verts.shape[1] == gt_verts.shape[1]
        if same_topology:
            aligned = metrics.procrustes_align(gt_verts, pred_verts)
            v_err = metrics.keypoint_errors(gt_verts, pred_verts)
            pa_v_err = metrics.keypoint_errors(gt_verts, aligned)
            curves["verts"] = metrics.pck_curve(v_err, thresholds).tolist()
            curves["pa_verts"] = metrics.pck_curve(pa_v_err, thresholds).tolist()
            scores["mpvpe_mm"] = 1000 * metrics.mean_error(v_err)
            scores["pa_mpvpe_mm"] = 1000 * metrics.mean_error(pa_v_err)
            scores["auc_verts_0_50mm"] = metrics.auc(np.array(curves["verts"]), thresholds)
            scores["auc_pa_verts_0_50mm"] = metrics.auc(np.array(curves["pa_verts"]), thresholds)
        else:
            aligned = metrics.align_by_keypoint_trafo(gt_xyz, pred_xyz, pred_verts)
        f_aligned = metrics.f_scores(gt_verts, aligned, (0.005, 0.015)).mean(1)
        scores["f_score_5mm"], scores["f_score_15mm"] = (float(f) for f in f_aligned)
        if unaligned_fscore:
            f_plain = metrics.f_scores(gt_verts, pred_verts, (0.005, 0.015)).mean(1)
            scores["f_score_unaligned_5mm"], scores["f_score_unaligned_15mm"] = (float(f) for f in f_plain)
    scores["curves"] = curves
    return scores


@dataclass(frozen=True)
class PCKProtocol:
    """How a 3D PCK evaluation (RHD, Dexter+Object) prepares and scores predictions.

    Attributes:
        name: for reports.
        keypoints: FreiHAND-order indices that are scored.
        alignment: "root" (subtract the root joint from both) or "tip-centroid" (translate the
            prediction so the centroid of its visible scored keypoints meets the ground truth's).
        root: root joint for "root" alignment.
        scale_bone: (a, b) joints; the prediction is scaled so |pred_b - pred_a| equals the
            ground truth's, or None for no scaling.
        thresholds_mm: (start, stop, count) of np.linspace for the PCK curve.
    """

    name: str
    keypoints: tuple[int, ...] = tuple(range(21))
    alignment: str = "root"
    root: int = 0
    scale_bone: tuple[int, int] | None = (0, 9)
    thresholds_mm: tuple[float, float, int] = (20.0, 50.0, 31)
    description: str = field(default="", compare=False)

    def thresholds(self) -> np.ndarray:
        start, stop, count = self.thresholds_mm
        return np.linspace(start / 1000, stop / 1000, int(count))


RHD_PROTOCOL = PCKProtocol(
    name="rhd",
    description="root-relative (wrist), prediction scaled to the ground-truth wrist->middle-MCP bone, "
    "all 21 visible keypoints, PCK over 20-50 mm in 1 mm steps (hand3d / Zimmermann & Brox convention)",
)
DEXTER_PROTOCOL = PCKProtocol(
    name="dexter-object",
    keypoints=FINGERTIPS,
    alignment="tip-centroid",
    scale_bone=None,
    description="5 fingertips only, missing annotations (32001) dropped, prediction translated to the "
    "centroid of the annotated fingertips, metric scale kept, PCK over 20-50 mm in 1 mm steps",
)


def evaluate_pck(
    gt_xyz: np.ndarray,
    pred_xyz: np.ndarray,
    protocol: PCKProtocol,
    visible: np.ndarray | None = None,
) -> dict[str, Any]:
    """3D PCK evaluation under `protocol`.

    Args:
        gt_xyz: (N, 21, 3) ground truth in metres (only `protocol.keypoints` need be valid).
        pred_xyz: (N, 21, 3) predictions, right-hand FreiHAND order, metres.
        visible: (N, 21) bool; keypoints that are False are not scored.

    Returns auc_20_50mm (for the default thresholds; the key names the range), epe_mean_mm,
    epe_median_mm, n_samples, the protocol and the PCK curve.
    """
    gt = np.asarray(gt_xyz, np.float64)
    pred = np.asarray(pred_xyz, np.float64).copy()
    vis = np.ones(gt.shape[:2], bool) if visible is None else np.asarray(visible, bool).copy()
    if protocol.alignment == "root":
        gt = gt - gt[:, protocol.root : protocol.root + 1]
        pred = pred - pred[:, protocol.root : protocol.root + 1]
    if protocol.scale_bone is not None:
        a, b = protocol.scale_bone
        gt_len = np.linalg.norm(gt[:, b] - gt[:, a], axis=-1)
        pred_len = np.linalg.norm(pred[:, b] - pred[:, a], axis=-1)
        pred = pred * (gt_len / np.maximum(pred_len, 1e-12))[:, None, None]
    keys = list(protocol.keypoints)
    gt, pred, vis = gt[:, keys], pred[:, keys], vis[:, keys]
    if protocol.alignment == "tip-centroid":
        weights = vis[:, :, None].astype(np.float64)
        count = np.maximum(weights.sum(1, keepdims=True), 1)
        pred = pred - (pred * weights).sum(1, keepdims=True) / count + (gt * weights).sum(1, keepdims=True) / count
    err = metrics.keypoint_errors(gt, pred)
    thresholds = protocol.thresholds()
    curve = metrics.pck_curve(err, thresholds, vis)
    start, stop, _ = protocol.thresholds_mm
    return {
        f"auc_{start:g}_{stop:g}mm": metrics.auc(curve, thresholds),
        "epe_mean_mm": 1000 * metrics.mean_error(err, vis),
        "epe_median_mm": 1000 * metrics.median_error(err, vis),
        "n_samples": int(len(gt)),
        "n_scored_keypoints": int(vis.sum()),
        "protocol": asdict(protocol),
        "curves": {"thresholds_mm": (thresholds * 1000).tolist(), "joints": curve.tolist()},
    }
