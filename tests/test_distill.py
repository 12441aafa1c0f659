import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cliphand import default_checkpoint
from cliphand.model.checkpoint import load_checkpoint, load_model_from_checkpoint
from cliphand.synth.writer import write_dataset

TOOL = Path(__file__).resolve().parents[1] / "tools" / "distill.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synth"), 12, seed=13, progress=False)


def _distill(config: str, data: Path, out: Path, part: str = "hfa") -> subprocess.CompletedProcess:
    args = ["--part", part, "--teacher", str(default_checkpoint()), "--config", config, "--data", str(data)]
    args += ["--out", str(out)]
    return subprocess.run([sys.executable, str(TOOL), *args, "--steps", "3", "--batch-size", "4"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_a_new_hfa_starts_from_the_teacher_everywhere_else(data, tmp_path):
    out = tmp_path / "distilled.pt"
    result = _distill("mobile_v9", data, out)
    assert result.returncode == 0, result.stderr[-2000:]
    teacher, student = load_checkpoint(default_checkpoint()), load_checkpoint(out)
    assert student["config"]["image_size"] == 160 and student["config"]["hfa_stage_dim"] == 32
    for name, tensor in teacher["model"].items():
        if name.startswith("hfa.") or ".positions." in name:
            continue
        assert torch.equal(student["model"][name], tensor.float()), name
    assert student["model"]["mted.positions.0"].shape[0] == 25  # a 5 x 5 token grid at 160 px
    model = load_model_from_checkpoint(out)
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(1, 3, 160, 160))["joints"]).all()


def test_a_config_that_differs_outside_hfa_is_refused(data, tmp_path):
    result = _distill("tiny", data, tmp_path / "x.pt")
    assert result.returncode != 0 and not (tmp_path / "x.pt").exists()
    assert result.stderr.strip().splitlines()[-1].startswith("tiny differs from the teacher outside HFA")


def test_a_new_backbone_keeps_its_pretrained_network_and_fits_its_adapters(data, tmp_path):
    pytest.importorskip("mediapipe", reason="the hand_landmark backbone's weights come with the detect extra")
    from cliphand.model import build_model, load_config

    out = tmp_path / "distilled.pt"
    result = _distill("mobile_v10", data, out, part="backbone")
    assert result.returncode == 0, result.stderr[-2000:]
    teacher, student = load_checkpoint(default_checkpoint()), load_checkpoint(out)
    for name, tensor in teacher["model"].items():
        if not name.startswith("backbone."):
            assert torch.equal(student["model"][name], tensor.float()), name
    pretrained = build_model(load_config("mobile_v10")).state_dict()
    for name, tensor in pretrained.items():
        if name.startswith("backbone.net."):
            assert torch.equal(student["model"][name], tensor), name  # MediaPipe's network as it came
    fitted = [n for n, t in pretrained.items() if n.endswith("adapters.0.0.weight")]
    assert fitted and not torch.equal(student["model"][fitted[0]], pretrained[fitted[0]])  # the adapters learned
    assert "distilling the backbone" in result.stderr and "the backbone's relative error" in result.stdout
