"""Vectorised evaluation metrics, written to reproduce the official FreiHAND code.

FreiHAND's eval.py (lmb-freiburg/freihand) and its EvalUtil define the conventions followed
here: Procrustes per sample through scipy's orthogonal_procrustes without a reflection fix;
mean errors averaged per keypoint first; PCK with `<=` over np.linspace(0, 0.05, 100) and
AUC = trapz(pck) / trapz(ones) per keypoint, then averaged; F-score with strict `<` on
nearest-neighbour distances in both directions. Units are metres unless a name says mm.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

FREIHAND_THRESHOLDS = np.linspace(0.0, 0.05, 100)
"""Official PCK thresholds for FreiHAND's AUC (metres)."""


def procrustes_align(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Align each prediction to its ground truth as FreiHAND's `align_w_scale` does.

    Both sets are centred and divided by their Frobenius norm (+1e-8); R, s come from the SVD
    of gt_n^T pred_n (scipy.linalg.orthogonal_procrustes(gt_n, pred_n)), with no det(R) = +1
    correction, so a mirrored prediction can be aligned by a reflection, as in the official code.

    Args:
        gt: (B, K, 3) ground truth.
        pred: (B, K, 3) predictions.

    Returns:
        (B, K, 3) aligned predictions.
    """
    pred = np.asarray(pred, np.float64)
    r, s, s1, s2, t1, t2 = similarity_transform(gt, pred)
    return ((pred - t2) / s2) @ r.transpose(0, 2, 1) * (s * s1)[:, None, None] + t1


def procrustes_mean(joints: np.ndarray, rounds: int = 5) -> np.ndarray:
    """(K, 3) generalised Procrustes mean of (B, K, 3) point sets, centred, at the first set's size:
    the mean shape once position, rotation and scale are taken out of each set."""
    joints = np.asarray(joints, np.float64)
    mean = joints[0] - joints[0].mean(0)
    size = np.linalg.norm(mean)
    for _ in range(rounds):
        mean = procrustes_align(np.repeat(mean[None], len(joints), 0), joints).mean(0)
        mean = (mean - mean.mean(0)) * size / np.linalg.norm(mean - mean.mean(0))
    return mean


def similarity_transform(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """The per-sample trafo behind FreiHAND's `align_w_scale`, batched over (B, K, 3) inputs.

    Returns R (B, 3, 3), s (B,) the sum of singular values, the norms s1 = |gt - t1| + 1e-8
    (B,) and s2 = |pred - t2| + 1e-8 (B, 1, 1), and the means t1 = mean(gt), t2 = mean(pred)
    (B, 1, 3).
    """
    gt, pred = np.asarray(gt, np.float64), np.asarray(pred, np.float64)
    t1, t2 = gt.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    s1 = np.linalg.norm(gt - t1, axis=(1, 2)) + 1e-8
    s2 = np.linalg.norm(pred - t2, axis=(1, 2))[:, None, None] + 1e-8
    u, w, vt = np.linalg.svd(np.einsum("bkc,bkd->bcd", (gt - t1) / s1[:, None, None], (pred - t2) / s2))
    return u @ vt, w.sum(-1), s1, s2, t1, t2


def align_by_keypoint_trafo(gt_xyz: np.ndarray, pred_xyz: np.ndarray, pred_verts: np.ndarray) -> np.ndarray:
    """Align vertices with the keypoint trafo, exactly as the official `align_by_trafo`.

    The official code uses this when the predicted mesh is not MANO's 778 vertices. It centres
    the vertices on their own mean, applies R and s * s1 (without dividing by the prediction's
    norm s2) and adds mean(gt_xyz) - mean(pred_xyz) + mean(verts). Reproduced as is, so
    non-MANO meshes score as on the official server.

    Args:
        gt_xyz, pred_xyz: (B, 21, 3). pred_verts: (B, V, 3).

    Returns:
        (B, V, 3) aligned vertices.
    """
    r, s, s1, _, t1, t2 = similarity_transform(gt_xyz, pred_xyz)
    verts = np.asarray(pred_verts, np.float64)
    centre = verts.mean(1, keepdims=True)
    return (verts - centre) @ r.transpose(0, 2, 1) * (s * s1)[:, None, None] + (t1 - t2) + centre


def keypoint_errors(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(B, K) Euclidean distance per sample and keypoint."""
    return np.linalg.norm(np.asarray(gt, np.float64) - np.asarray(pred, np.float64), axis=-1)


def mean_error(errors: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Mean over keypoints of each keypoint's mean error over visible samples (EvalUtil)."""
    means, _ = _per_keypoint(errors, visible, lambda d: (d.mean(), np.median(d)))
    return float(np.mean(means))


def median_error(errors: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Mean over keypoints of each keypoint's median error (EvalUtil's epe_median)."""
    _, medians = _per_keypoint(errors, visible, lambda d: (d.mean(), np.median(d)))
    return float(np.mean(medians))


def pck_curve(errors: np.ndarray, thresholds: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """(T,) fraction of keypoints within each threshold (`<=`), per keypoint then averaged."""
    errors = np.asarray(errors, np.float64)
    visible = np.ones(errors.shape, bool) if visible is None else np.asarray(visible, bool)
    counts = visible.sum(0)  # (K,)
    keep = counts > 0  # keypoints never visible are skipped, as EvalUtil does
    # Sort each keypoint's errors (invisible ones pushed to +inf) and count those <= t.
    ranked = np.sort(np.where(visible, errors, np.inf)[:, keep], axis=0)  # (B, K')
    within = np.stack([np.searchsorted(col, thresholds, side="right") for col in ranked.T])  # (K', T)
    return (within / counts[keep][:, None]).mean(0)


def auc(curve: np.ndarray, thresholds: np.ndarray) -> float:
    """Area under a PCK curve normalised to [0, 1]: trapz(curve) / trapz(ones)."""
    return float(np.trapezoid(curve, thresholds) / np.trapezoid(np.ones_like(thresholds), thresholds))


def f_scores(gt_verts: np.ndarray, pred_verts: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """(T, B) F-scores per sample at each threshold (metres), as the official `calculate_fscore`.

    Precision: fraction of ground-truth points with a predicted point closer than the threshold
    (strict <); recall: the converse (the official names); F = 2PR / (P + R), 0 when both are 0.

    Args:
        gt_verts: (B, N, 3). pred_verts: (B, V, 3); V may differ from N.

    All samples share one KD-tree per direction: sample b is shifted by b times a spacing larger
    than any distance that can matter, so nearest neighbours never cross samples, and the
    search is bounded by the largest threshold.
    """
    gt = np.asarray(gt_verts, np.float64)
    pred = np.asarray(pred_verts, np.float64)
    bound = max(thresholds)
    lo = min(gt.min(), pred.min())
    spacing = max(gt.max(), pred.max()) - lo + 4 * bound + 1.0
    shift = (np.arange(len(gt)) * spacing)[:, None, None] * np.array([1.0, 0.0, 0.0])
    gt_flat, pred_flat = (gt - lo + shift).reshape(-1, 3), (pred - lo + shift).reshape(-1, 3)
    d_gt = _bounded_nn(pred_flat, gt_flat, bound).reshape(gt.shape[:2])  # gt point -> nearest pred
    d_pred = _bounded_nn(gt_flat, pred_flat, bound).reshape(pred.shape[:2])
    out = np.empty((len(thresholds), len(gt)))
    for t, threshold in enumerate(thresholds):
        precision, recall = (d_gt < threshold).mean(1), (d_pred < threshold).mean(1)
        total = precision + recall
        out[t] = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)
    return out


def _bounded_nn(points: np.ndarray, queries: np.ndarray, bound: float) -> np.ndarray:
    """Distance from each query (M, 3) to its nearest point (P, 3); inf when none is closer than `bound`."""
    tree = cKDTree(points, balanced_tree=False, compact_nodes=False)
    distances, _ = tree.query(queries, distance_upper_bound=bound, workers=-1)
    return distances


def _per_keypoint(errors, visible, stat):
    errors = np.asarray(errors)
    visible = np.ones(errors.shape, bool) if visible is None else np.asarray(visible, bool)
    pairs = [stat(errors[visible[:, k], k]) for k in range(errors.shape[1]) if visible[:, k].any()]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
