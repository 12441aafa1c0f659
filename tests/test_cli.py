import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_mano import write_fake_mano
from PIL import Image

from cliphand.cli import main
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import gesture_pose
from cliphand.hand.meshio import load_mesh


def test_hand_info_json(capsys):
    assert main(["hand", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("n_vertices", "n_faces", "n_joints", "n_coarse_vertices", "mean_neighbours", "license"):
        assert key in info
    assert info["n_vertices"] == 1609 and info["n_joints"] == 21 and info["n_coarse_vertices"] == 195
    neighbours = [info["mean_neighbours"][k] for k in ("1", "3", "5", "7")]
    assert neighbours == sorted(neighbours) and neighbours[0] > 1
    assert "CC0" in info["license"]


def test_hand_info_text_and_mano(tmp_path, capsys):
    path = tmp_path / "MANO_RIGHT.pkl"
    write_fake_mano(path)
    assert main(["hand", "info", "--model", "mano", "--mano-path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "n_vertices" in out and "778" in out and "MANO licence" in out


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_hand_export_round_trip(tmp_path, suffix):
    out = tmp_path / f"peace{suffix}"
    assert main(["hand", "export", "--gesture", "peace", "--out", str(out)]) == 0
    verts, faces = load_mesh(out)
    model = load_hand_model("openhand")
    with torch.no_grad():
        expected, _ = model(gesture_pose(model, "peace")[None])
    np.testing.assert_allclose(verts, expected[0].numpy(), atol=1e-5)
    np.testing.assert_array_equal(faces, model.faces.numpy())


def test_hand_show_writes_a_labelled_grid(tmp_path):
    out = tmp_path / "gestures.png"
    assert main(["hand", "show", "--gesture", "all", "--out", str(out)]) == 0
    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert (image < 200).mean() > 0.05  # hands were drawn, not just a blank canvas
    single = tmp_path / "ok.png"
    assert main(["hand", "show", "--gesture", "ok,fist", "--out", str(single)]) == 0
    assert single.stat().st_size > 1000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["hand", "export", "--gesture", "wave", "--out", "x.obj"], "unknown gesture 'wave'"),
        (["hand", "export", "--out", "x.stl"], "unsupported mesh format '.stl'"),
        (["hand", "show", "--gesture", "fist,nope", "--out", "x.png"], "unknown gesture 'nope'"),
        (["hand", "info", "--model", "mano"], "needs its file"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "cliphand"  # installed beside the interpreter running the tests
    assert exe.exists()
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("cliphand ")
