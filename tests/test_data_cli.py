import json

import pytest
from data_fixtures import write_dexter_object, write_freihand, write_rhd
from PIL import Image

from cliphand.cli import main


@pytest.fixture
def roots(tmp_path):
    return {
        "freihand": write_freihand(tmp_path / "freihand"),
        "rhd": write_rhd(write_rhd(tmp_path / "rhd"), "evaluation"),
        "dexter-object": write_dexter_object(tmp_path / "do"),
    }


@pytest.mark.parametrize("dataset, samples", [("freihand", 15), ("rhd", 6), ("dexter-object", 2)])
def test_check_clean_datasets(roots, capsys, dataset, samples):
    assert main(["data", "check", "--dataset", dataset, "--root", str(roots[dataset]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == dataset and report["num_samples"] == samples and report["problems"] == []
    if dataset == "rhd":
        assert report["reprojection_error_px"]["max"] < 0.01


def test_check_reports_problems_and_exits_non_zero(roots, capsys):
    root = roots["freihand"]
    (root / "training" / "rgb" / "00000005.jpg").unlink()
    (root / "training" / "mask" / "00000001.jpg").write_bytes(b"")
    (root / "evaluation" / "rgb" / "00000002.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["data", "check", "--dataset", "freihand", "--root", str(root), "--json", "--full"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert any("missing image" in p and "00000005.jpg" in p for p in problems)
    assert any("corrupt image" in p and "evaluation/rgb/00000002.jpg" in p for p in problems)
    rhd = roots["rhd"] / "training" / "anno_training.pickle"
    rhd.write_bytes(rhd.read_bytes()[:100])
    assert main(["data", "check", "--dataset", "rhd", "--root", str(roots["rhd"])]) == 1
    out = capsys.readouterr().out
    assert "corrupt annotation file" in out and "anno_training.pickle" in out


def test_show_draws_a_sample(roots, tmp_path):
    out = tmp_path / "sample.png"
    for dataset in ("freihand", "rhd", "dexter-object"):
        split = "evaluation" if dataset == "dexter-object" else "training"
        argv = ["data", "show", "--dataset", dataset, "--root", str(roots[dataset]), "--split", split]
        assert main([*argv, "--index", "1", "--augment", "--out", str(out)]) == 0
        assert Image.open(out).size[0] > 300


def test_show_bad_index_is_one_line(roots, capsys):
    argv = ["data", "show", "--dataset", "rhd", "--root", str(roots["rhd"]), "--index", "7"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "index 7 out of range" in err and "\n" not in err
