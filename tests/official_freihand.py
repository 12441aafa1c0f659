"""Test oracle: FreiHAND's official evaluation as its eval.py / EvalUtil behave, one sample at
a time, with scipy's orthogonal_procrustes and brute-force nearest neighbours standing in for
Open3D. Deliberately slow and literal, to check the vectorised code against."""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist


def align_w_scale(gt, pred, return_trafo=False):
    t1, t2 = gt.mean(0), pred.mean(0)
    gt_c, pred_c = gt - t1, pred - t2
    s1 = np.linalg.norm(gt_c) + 1e-8
    s2 = np.linalg.norm(pred_c) + 1e-8
    rot, s = orthogonal_procrustes(gt_c / s1, pred_c / s2)
    if return_trafo:
        return rot, s, s1, t1 - t2
    return (pred_c / s2) @ rot.T * s * s1 + t1


def align_by_trafo(verts, trafo):
    rot, s, s1, shift = trafo
    centre = verts.mean(0)
    return (verts - centre) @ rot.T * s * s1 + shift + centre


def fscore(gt, pred, threshold):
    d = cdist(gt, pred)
    precision = np.mean(d.min(1) < threshold)  # gt points matched by a prediction
    recall = np.mean(d.min(0) < threshold)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


class KeypointStats:
    """EvalUtil: distances per keypoint, mean of per-keypoint means, per-keypoint AUC."""

    def __init__(self, num_kp):
        self.data = [[] for _ in range(num_kp)]

    def feed(self, gt, pred, visible=None):
        dist = np.sqrt(((gt - pred) ** 2).sum(1))
        for k, d in enumerate(dist):
            if visible is None or visible[k]:
                self.data[k].append(d)

    def measures(self, lo, hi, steps):
        thresholds = np.linspace(lo, hi, steps)
        norm = np.trapezoid(np.ones_like(thresholds), thresholds)
        means, aucs, curves = [], [], []
        for values in self.data:
            if not values:
                continue
            values = np.array(values)
            means.append(values.mean())
            curve = np.array([np.mean(values <= t) for t in thresholds])
            curves.append(curve)
            aucs.append(np.trapezoid(curve, thresholds) / norm)
        return float(np.mean(means)), float(np.mean(aucs)), np.mean(curves, 0)


def official_scores(gt_xyz, gt_verts, pred_xyz, pred_verts):
    n_gt_verts = gt_verts.shape[1]
    mano = pred_verts.shape[1] == n_gt_verts
    xyz, xyz_al = KeypointStats(21), KeypointStats(21)
    mesh, mesh_al = KeypointStats(n_gt_verts), KeypointStats(n_gt_verts)
    f5, f15 = [], []
    for g, gv, p, pv in zip(gt_xyz, gt_verts, pred_xyz, pred_verts, strict=True):
        xyz.feed(g, p)
        xyz_al.feed(g, align_w_scale(g, p))
        if mano:
            mesh.feed(gv, pv)
            pv_al = align_w_scale(gv, pv)
            mesh_al.feed(gv, pv_al)
        else:
            pv_al = align_by_trafo(pv, align_w_scale(g, p, return_trafo=True))
        f5.append(fscore(gv, pv_al, 0.005))
        f15.append(fscore(gv, pv_al, 0.015))
    out = {
        "mpjpe_mm": 1000 * xyz.measures(0, 0.05, 100)[0],
        "auc_joints_0_50mm": xyz.measures(0, 0.05, 100)[1],
        "pa_mpjpe_mm": 1000 * xyz_al.measures(0, 0.05, 100)[0],
        "auc_pa_joints_0_50mm": xyz_al.measures(0, 0.05, 100)[1],
        "f_score_5mm": float(np.mean(f5)),
        "f_score_15mm": float(np.mean(f15)),
    }
    if mano:
        out["mpvpe_mm"] = 1000 * mesh.measures(0, 0.05, 100)[0]
        out["pa_mpvpe_mm"] = 1000 * mesh_al.measures(0, 0.05, 100)[0]
        out["auc_pa_verts_0_50mm"] = mesh_al.measures(0, 0.05, 100)[1]
    return out
