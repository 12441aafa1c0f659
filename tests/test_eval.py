import json
import zipfile

import numpy as np
import pytest
from official_freihand import official_scores
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from cliphand.eval import metrics
from cliphand.eval.predictions import (
    EvalFileError,
    load_dexter_gt,
    load_freihand_predictions,
    write_freihand_predictions,
    zip_predictions,
)
from cliphand.eval.protocols import DEXTER_PROTOCOL, RHD_PROTOCOL, evaluate_freihand, evaluate_pck
from cliphand.eval.report import comparison_table


def _hands(n, n_verts=778, seed=0):
    rng = np.random.default_rng(seed)
    gt_xyz = rng.normal(scale=0.04, size=(n, 21, 3)) + [0.0, 0.0, 0.6]
    gt_verts = rng.normal(scale=0.04, size=(n, n_verts, 3)) + [0.0, 0.0, 0.6]
    return rng, gt_xyz, gt_verts


def test_matches_the_official_code_sample_by_sample():
    rng, gt_xyz, gt_verts = _hands(30)
    pred_xyz = gt_xyz + rng.normal(scale=0.01, size=gt_xyz.shape)
    pred_verts = gt_verts + rng.normal(scale=0.006, size=gt_verts.shape)
    pred_xyz[3] *= [-1, 1, 1]  # a mirrored prediction: the official Procrustes may reflect it
    pred_verts[3] *= [-1, 1, 1]
    pred_xyz[5] += 0.3  # a prediction far off
    ours = evaluate_freihand(gt_xyz, gt_verts, pred_xyz, pred_verts)
    official = official_scores(gt_xyz, gt_verts, pred_xyz, pred_verts)
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_other_mesh_topologies_use_the_official_keypoint_trafo():
    rng, gt_xyz, gt_verts = _hands(12)
    pred_xyz = gt_xyz + rng.normal(scale=0.01, size=gt_xyz.shape)
    pred_verts = rng.normal(scale=0.04, size=(12, 300, 3)) + [0.0, 0.0, 0.6]
    ours = evaluate_freihand(gt_xyz, gt_verts, pred_xyz, pred_verts)
    official = official_scores(gt_xyz, gt_verts, pred_xyz, pred_verts)
    assert ours["mpvpe_mm"] is None and ours["pa_mpvpe_mm"] is None
    for key in ("f_score_5mm", "f_score_15mm", "pa_mpjpe_mm"):
        assert ours[key] == pytest.approx(official[key], rel=1e-9)


def test_similarity_transformed_ground_truth_scores_perfectly():
    rng, gt_xyz, gt_verts = _hands(8)
    rot = Rotation.random(8, random_state=1).as_matrix()
    scale = rng.uniform(0.5, 2.0, size=(8, 1, 1))
    shift = rng.normal(size=(8, 1, 3))
    move = lambda x: scale * np.einsum("bij,bkj->bki", rot, x) + shift  # noqa: E731
    scores = evaluate_freihand(gt_xyz, gt_verts, move(gt_xyz), move(gt_verts))
    # Not exactly 0: the official code adds 1e-8 to both norms, a ~1e-6 mm scale mismatch.
    assert scores["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-4)
    assert scores["pa_mpvpe_mm"] == pytest.approx(0.0, abs=1e-4)
    assert scores["f_score_5mm"] == 1.0 and scores["f_score_15mm"] == 1.0
    # Every keypoint is within the second threshold (0.5 mm); at 0 mm only exact zeros count.
    assert scores["auc_pa_joints_0_50mm"] >= 1 - 0.5 / 99 - 1e-12
    assert scores["mpjpe_mm"] > 10  # unaligned errors see the transform


def test_hand_computed_shift():
    _, gt_xyz, gt_verts = _hands(1)
    scores = evaluate_freihand(gt_xyz, gt_verts, gt_xyz + [0.01, 0.0, 0.0], gt_verts + [0.01, 0.0, 0.0])
    assert scores["mpjpe_mm"] == pytest.approx(10.0)
    assert scores["mpvpe_mm"] == pytest.approx(10.0)
    assert scores["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-4)  # the official +1e-8 in the norms
    # PCK steps from 0 to 1 between thresholds 19 and 20 of linspace(0, 0.05, 100):
    # area = (0.05 - 20 h) + h / 2 with h = 0.05 / 99, so AUC = 1 - 19.5 / 99.
    assert scores["auc_joints_0_50mm"] == pytest.approx(1 - 19.5 / 99)


def test_reflection_is_aligned_as_in_the_official_code():
    _, gt_xyz, gt_verts = _hands(4)
    mirrored = gt_xyz * [-1, 1, 1]
    aligned = metrics.procrustes_align(gt_xyz, mirrored)
    np.testing.assert_allclose(aligned, gt_xyz, atol=1e-9)  # no det(R) = +1 correction
    rot, *_ = metrics.similarity_transform(gt_xyz, mirrored)
    assert np.allclose(np.linalg.det(rot), -1.0)


def test_procrustes_mean_undoes_pose_scale_and_position():
    """Copies of one shape, each turned, scaled and moved, with a little noise, average back to
    that shape (up to a similarity); a plain mean of the copies would not."""
    rng = np.random.default_rng(5)
    _, gt_xyz, _ = _hands(1)
    shape = gt_xyz[0] - gt_xyz[0].mean(0)
    rotations = Rotation.random(50, random_state=6).as_matrix()
    copies = np.einsum("bij,kj->bki", rotations, shape) * rng.uniform(0.5, 2.0, (50, 1, 1))
    copies += rng.normal(scale=0.05, size=(50, 1, 3)) + rng.normal(scale=1e-4, size=copies.shape)
    mean = metrics.procrustes_mean(copies)
    assert np.linalg.norm(mean) == pytest.approx(np.linalg.norm(copies[0] - copies[0].mean(0)))
    recovered = metrics.procrustes_align(shape[None], mean[None])[0]
    assert np.abs(recovered - shape).max() < 1e-3
    plain = metrics.procrustes_align(shape[None], copies.mean(0)[None])[0]
    assert np.abs(plain - shape).max() > 1e-2


def test_f_score_equals_brute_force():
    rng = np.random.default_rng(3)
    gt = rng.normal(scale=0.03, size=(6, 200, 3))
    pred = gt[:, :150] + rng.normal(scale=0.006, size=(6, 150, 3))
    ours = metrics.f_scores(gt, pred, (0.005, 0.015))
    for t, threshold in enumerate((0.005, 0.015)):
        for b in range(6):
            d = cdist(gt[b], pred[b])
            p, r = np.mean(d.min(1) < threshold), np.mean(d.min(0) < threshold)
            assert ours[t, b] == pytest.approx(2 * p * r / (p + r))
    # Hand-computed: one of two points matched each way -> P = R = 0.5 -> F = 0.5.
    two_gt = np.array([[[0.0, 0, 0], [1.0, 0, 0]]])
    two_pred = np.array([[[0.001, 0, 0], [0.5, 0, 0]]])
    assert metrics.f_scores(two_gt, two_pred, (0.005,))[0, 0] == pytest.approx(0.5)
    assert metrics.f_scores(two_gt, two_pred + 10, (0.005,))[0, 0] == 0.0


def test_auc_bounds():
    thresholds = metrics.FREIHAND_THRESHOLDS
    errors = np.random.default_rng(4).uniform(0, 0.08, size=(50, 21))
    value = metrics.auc(metrics.pck_curve(errors, thresholds), thresholds)
    assert 0.0 < value < 1.0
    assert metrics.auc(metrics.pck_curve(np.zeros((5, 21)), thresholds), thresholds) == pytest.approx(1.0)
    assert metrics.auc(metrics.pck_curve(np.full((5, 21), 0.06), thresholds), thresholds) == 0.0


def test_rhd_protocol_is_root_relative_and_bone_scaled():
    _, gt, _ = _hands(10)
    pred = 1.3 * gt + [0.2, -0.1, 0.5]  # other scale and position, same shape
    visible = np.ones((10, 21), bool)
    visible[0, 7] = False
    pred[0, 7] += 1.0  # an invisible keypoint is not scored
    scores = evaluate_pck(gt, pred, RHD_PROTOCOL, visible)
    assert scores["auc_20_50mm"] == pytest.approx(1.0)
    assert scores["epe_mean_mm"] == pytest.approx(0.0, abs=1e-9)
    assert scores["n_scored_keypoints"] == 10 * 21 - 1
    shifted = gt.copy()
    shifted[:, 1:] += [0.03, 0, 0]  # every non-root joint 30 mm off; the root defines the origin
    scores = evaluate_pck(gt, shifted, _no_scale(), None)
    # 20 of 21 keypoints are 30 mm off: PCK is 1/21 below 30 mm and 1 from 30 mm on.
    assert scores["epe_mean_mm"] == pytest.approx(30.0 * 20 / 21)


def _no_scale():
    from dataclasses import replace

    return replace(RHD_PROTOCOL, scale_bone=None)


def test_dexter_object_drops_missing_tips_and_aligns_tip_centroids(tmp_path):
    tips = [[[10.0, 20.0, 500.0], [30.0, 25.0, 510.0], None, [32001, 32001, 32001], [50.0, 0.0, 505.0]]]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"tips": tips, "units": "mm"}))
    xyz, visible = load_dexter_gt(path)
    assert visible[0].sum() == 3 and visible[0, [4, 8, 20]].all()
    np.testing.assert_allclose(xyz[0, 8], [0.03, 0.025, 0.51])
    pred = xyz + [0.1, 0.2, -0.05]
    pred[:, 12] = 99.0  # a missing tip's prediction is not scored
    scores = evaluate_pck(xyz, pred, DEXTER_PROTOCOL, visible)
    assert scores["epe_mean_mm"] == pytest.approx(0.0, abs=1e-9)
    assert scores["n_scored_keypoints"] == 3


def test_pred_json_and_zip_round_trip(tmp_path):
    rng, gt_xyz, gt_verts = _hands(3)
    path = write_freihand_predictions(tmp_path / "pred.json", gt_xyz, gt_verts)
    xyz, verts = load_freihand_predictions(path, 3)
    np.testing.assert_allclose(xyz, gt_xyz, atol=1e-6)
    np.testing.assert_allclose(verts, gt_verts, atol=1e-6)
    archive = zip_predictions(path)
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["pred.json"]
        assert json.loads(z.read("pred.json")) == json.loads(path.read_text())
    joints_only = write_freihand_predictions(tmp_path / "joints.json", gt_xyz)
    assert load_freihand_predictions(joints_only, 3)[1] is None
    with pytest.raises(EvalFileError, match="2 joint sets, but the ground truth has 3"):
        load_freihand_predictions(write_freihand_predictions(tmp_path / "short.json", gt_xyz[:2]), 3)


def test_comparison_table(tmp_path):
    a = tmp_path / "s12" / "scores.json"
    a.parent.mkdir()
    a.write_text(json.dumps({"dataset": "freihand", "pa_mpjpe_mm": 7.04, "f_score_15mm": 0.9791, "params_m": 30.64}))
    b = tmp_path / "rhd.json"
    b.write_text(json.dumps({"dataset": "rhd", "method": "CLIP-Hand S24", "auc_20_50mm": 0.9412}))
    table = comparison_table([a, b]).splitlines()
    assert table[0].startswith("| Method | Dataset | Params (M)")
    assert table[2] == "| s12 | freihand | 30.64 | - | - | 7.04 | - | - | 0.979 | - |"
    assert table[3].startswith("| CLIP-Hand S24 | rhd |") and table[3].endswith("| 0.941 |")
