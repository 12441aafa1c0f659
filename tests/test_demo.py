import json

import numpy as np

from cliphand.cli import main


def test_demo_pipeline_on_a_reduced_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--train-images", "24", "--test-images", "8", "--steps", "3", "--workers", "1"]
    assert main(argv) == 0
    assert f"report: {out / 'index.html'}" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    for link in ("run/loss_curve.png", "eval/scores_pck.png", "eval/overlays.png", "predictions/index.html"):
        assert link in page and (out / link).exists(), link
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scores"]["n_samples"] == 8 and summary["scores"]["pa_mpjpe_mm"] > 0
    assert (
        len(list((out / "predictions").glob("*.json"))) == 8
        and len(list((out / "predictions").glob("*_hand0.obj"))) == 8
    )
    assert summary["config"] == "mobile" and summary["template_baseline"]["pa_mpjpe_mm"] > 0
    # Predictions differ between images: the network looks at them (a constant hand gives 0).
    a, b = (
        np.asarray(json.loads(p.read_text())["hands"][0]["joints_3d"])
        for p in sorted((out / "predictions").glob("*.json"))[:2]
    )
    assert np.abs((a - a[:1]) - (b - b[:1])).max() > 1e-4 and summary["prediction_spread_mm"] > 0.1
    # The shipped model runs on the same held-out set and beats the best fixed hand there.
    shipped = summary["shipped_model"]
    assert "shipped/synthetic/index.html" in page and (out / "shipped" / "synthetic" / "index.html").exists()
    assert 0 < shipped["pa_mpjpe_mm"] < summary["template_baseline"]["pa_mpjpe_mm"]
    if shipped["real_photos"]:  # ../shared/real is beside this checkout
        assert (out / "shipped" / "real" / "index.html").exists()
