import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from cliphand import default_checkpoint
from cliphand.model.checkpoint import load_checkpoint, load_model_from_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_finetune.sh"


def _run(cwd: Path, **settings: str) -> subprocess.CompletedProcess:
    env = os.environ | {"WORK": "work", "OUT": "out", "PYTHON": sys.executable} | settings
    return subprocess.run(["bash", str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_prepared_gpu_script_renders_trains_and_releases_on_a_cpu_too(tmp_path):
    config = tmp_path / "small.yaml"  # mobile_gpu's batch and 14 loaders are for a GPU machine
    config.write_text("base: mobile_gpu\ntrain:\n  batch_size: 4\n  num_workers: 0\n  val_fraction: 0.25\n")
    result = _run(tmp_path, NUM="12", STEPS="2", CONFIG="small.yaml")  # relative paths: from where it is called
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "out"
    assert {"cliphand_gpu.pt", "val.csv", "metrics.csv", "loss_curve.png"} <= {p.name for p in out.iterdir()}
    rows = list(csv.DictReader((out / "val.csv").open()))
    assert rows[-1]["step"] == "2" and float(rows[-1]["pa_mpjpe_mm"]) > 0
    released, shipped = load_checkpoint(out / "cliphand_gpu.pt"), load_checkpoint(default_checkpoint())
    assert all(t.dtype != torch.float32 for t in released["model"].values())  # fp16, as shipped weights are
    moved = [n for n, t in shipped["model"].items() if not torch.equal(released["model"][n], t)]
    assert moved, "two training steps left every weight of the shipped model as it was"
    model = load_model_from_checkpoint(out / "cliphand_gpu.pt")
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(1, 3, 128, 128))["joints"]).all()


def test_the_gpu_script_refuses_to_start_training_it_has_no_time_left_for(tmp_path):
    result = _run(tmp_path, NUM="2", STEPS="2", MINUTES="1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "no time left to train within MINUTES=1"
    assert not (tmp_path / "out" / "cliphand_gpu.pt").exists()
