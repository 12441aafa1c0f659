import json

import numpy as np
import pytest

from cliphand.cli import main

FREIHAND_KEYS = (
    "mpjpe_mm", "pa_mpjpe_mm", "mpvpe_mm", "pa_mpvpe_mm", "f_score_5mm", "f_score_15mm",
    "auc_joints_0_50mm", "auc_pa_joints_0_50mm", "auc_pa_verts_0_50mm", "n_samples",
)  # fmt: skip


@pytest.fixture
def freihand(tmp_path):
    rng = np.random.default_rng(0)
    xyz = rng.normal(scale=0.04, size=(5, 21, 3)) + [0, 0, 0.6]
    verts = rng.normal(scale=0.04, size=(5, 778, 3)) + [0, 0, 0.6]
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "evaluation_xyz.json").write_text(json.dumps(xyz.tolist()))
    (gt / "evaluation_verts.json").write_text(json.dumps(verts.tolist()))
    noisy = lambda a: (a + rng.normal(scale=0.005, size=a.shape)).tolist()  # noqa: E731
    return gt, noisy(xyz), noisy(verts)


def _run(tmp_path, gt, pred, dataset="freihand"):
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(pred if isinstance(pred, str) else json.dumps(pred))
    out = tmp_path / "out" / "scores.json"
    code = main(
        ["evaluate-predictions", "--dataset", dataset, "--gt", str(gt), "--pred", str(pred_path), "--out", str(out)]
    )
    return code, out


def test_freihand_scores_table_and_plot(tmp_path, freihand, capsys):
    gt, xyz, verts = freihand
    code, out = _run(tmp_path, gt, [xyz, verts])
    assert code == 0
    scores = json.loads(out.read_text())
    assert all(scores[k] is not None for k in FREIHAND_KEYS) and scores["n_samples"] == 5
    assert 3 < scores["mpjpe_mm"] < 15 and scores["pa_mpjpe_mm"] < scores["mpjpe_mm"]
    assert (out.parent / "scores_pck.png").stat().st_size > 5000
    printed = capsys.readouterr().out
    assert "pa_mpjpe_mm" in printed and "f_score_15mm" in printed


def test_freihand_without_vertices(tmp_path, freihand):
    gt, xyz, _ = freihand
    for pred in ([xyz, []], [xyz, None], [xyz]):
        code, out = _run(tmp_path, gt, pred)
        scores = json.loads(out.read_text())
        assert code == 0 and scores["pa_mpjpe_mm"] is not None
        assert scores["mpvpe_mm"] is None and scores["f_score_15mm"] is None and scores["auc_pa_verts_0_50mm"] is None


@pytest.mark.parametrize(
    "make_pred, message",
    [
        (lambda xyz, verts: "{not json", "is not valid JSON"),
        (lambda xyz, verts: [xyz[:4], verts[:4]], "4 joint sets, but the ground truth has 5"),
        (lambda xyz, verts: [xyz, verts[:3]], "3 vertex sets, but the ground truth has 5"),
        (
            lambda xyz, verts: [xyz[:2] + [xyz[2][:20]] + xyz[3:], verts],
            "sample 2 has shape (20, 3), expected (21 x 3)",
        ),
        (lambda xyz, verts: json.dumps([xyz[:1] + [[[float("nan")] * 3] * 21] + xyz[2:], verts]), "sample 1 has NaN"),
        (lambda xyz, verts: {"xyz": xyz}, "expected [xyz_list, verts_list]"),
        (lambda xyz, verts: [xyz[:1] + [["a"] * 21] + xyz[2:], verts], "sample 1 is not a numeric array"),
    ],
)
def test_malformed_predictions_fail_in_one_line(tmp_path, freihand, capsys, make_pred, message):
    gt, xyz, verts = freihand
    code, out = _run(tmp_path, gt, make_pred(xyz, verts))
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err
    assert not out.exists()


def test_missing_ground_truth(tmp_path, freihand, capsys):
    _, xyz, verts = freihand
    code, _ = _run(tmp_path, tmp_path / "nowhere", [xyz, verts])
    assert code == 2 and "ground truth not found" in capsys.readouterr().err


def test_rhd_and_dexter_object(tmp_path):
    rng = np.random.default_rng(1)
    xyz = rng.normal(scale=0.04, size=(4, 21, 3)) + [0, 0, 0.6]
    rhd_gt = tmp_path / "rhd_gt.json"
    rhd_gt.write_text(json.dumps({"xyz": xyz.tolist()}))
    code, out = _run(tmp_path, rhd_gt, {"xyz": (xyz * 1.2).tolist()}, dataset="rhd")
    scores = json.loads(out.read_text())
    assert code == 0 and scores["auc_20_50mm"] == pytest.approx(1.0) and scores["protocol"]["name"] == "rhd"
    tips = xyz[:, [4, 8, 12, 16, 20]].tolist()
    tips[0][2] = None
    do_gt = tmp_path / "do_gt.json"
    do_gt.write_text(json.dumps({"tips": tips}))
    code, out = _run(tmp_path, do_gt, (xyz + 0.02).tolist(), dataset="dexter-object")
    scores = json.loads(out.read_text())
    assert code == 0 and scores["n_scored_keypoints"] == 19 and scores["epe_mean_mm"] == pytest.approx(0, abs=1e-6)


def test_report_command(tmp_path, freihand, capsys):
    gt, xyz, verts = freihand
    _, out = _run(tmp_path, gt, [xyz, verts])
    capsys.readouterr()
    table_path = tmp_path / "table.md"
    assert main(["report", str(out), "--out", str(table_path)]) == 0
    printed = capsys.readouterr().out
    assert "| out | freihand |" in printed and table_path.read_text().strip() == printed.strip()
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_evaluation_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, cliphand.eval.evaluate, cliphand.eval.report; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
