import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cliphand.cli import main
from cliphand.model import load_config
from cliphand.synth.writer import write_dataset
from cliphand.train import trainer as trainer_module
from cliphand.train.checkpoint import CheckpointError, load_checkpoint
from cliphand.train.runs import train_runs

TRAIN = {"batch_size": 4, "num_workers": 0, "val_fraction": 0.2, "checkpoint_every_steps": 2,
         "val_every_steps": 1000, "lr": 0.0005}  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synth"), 24, seed=11, progress=False)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny_test.yaml"
    raw = yaml.safe_load(Path(_tiny_yaml()).read_text())
    raw["train"] = {**raw.get("train", {}), **TRAIN}
    raw["name"] = "tiny_test"
    path.write_text(yaml.safe_dump(raw))
    return path


def _tiny_yaml() -> str:
    from importlib import resources

    return str(resources.files("cliphand.model.configs").joinpath("tiny.yaml"))


def _run(config_file, data, out, steps, resume=False, seed=0):
    return train_runs(load_config(config_file), data, out, max_steps=steps, resume=resume, seed=seed)


def test_a_few_steps_lower_the_loss_and_write_logs(config_file, data, tmp_path):
    _run(config_file, data, tmp_path / "run", 10)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[4]) for r in rows]
    assert len(losses) == 10 and sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
    for name in ("last.pt", "best.pt", "val.csv", "loss_curve.png"):
        assert (tmp_path / "run" / name).exists(), name
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 10 and state["hand_model"]["name"] == "openhand" and "code_version" in state


def test_interrupted_and_resumed_equals_uninterrupted(config_file, data, tmp_path):
    _run(config_file, data, tmp_path / "straight", 8)  # crosses an epoch boundary (16 train samples / 4)
    _run(config_file, data, tmp_path / "split", 6)
    _run(config_file, data, tmp_path / "split", 8, resume=True)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "last.pt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_run_killed_mid_epoch_resumes_from_its_last_checkpoint(config_file, data, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "cliphand", "train", "--config", str(config_file), "--data", str(data),
           "--out", str(out), "--max-steps", "40"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "last.pt").exists():
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = load_checkpoint(out / "last.pt")["step"]  # whole, even if the kill came mid-save
    assert 2 <= saved < 40
    (out / "best.ptkilled.tmp").write_bytes(b"half a checkpoint")  # as a kill during a save leaves
    assert main(["train", "--config", str(config_file), "--data", str(data), "--out", str(out),
                 "--max-steps", str(saved + 4), "--resume"]) == 0  # fmt: skip
    assert load_checkpoint(out / "last.pt")["step"] == saved + 4
    assert not list(out.glob("*.tmp"))  # the resumed run cleared what the killed one left


def test_bad_checkpoints_and_mismatched_configs(config_file, data, tmp_path, capsys):
    out = tmp_path / "run"
    _run(config_file, data, out, 2)
    with pytest.raises(Exception, match="already holds a run"):
        _run(config_file, data, out, 4)
    other = tmp_path / "other.yaml"
    raw = yaml.safe_load(config_file.read_text())
    raw["hfa_dim"] = 64
    other.write_text(yaml.safe_dump(raw))
    with pytest.raises(CheckpointError, match="another config.*hfa_dim"):
        _run(other, data, out, 4, resume=True)
    (out / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt checkpoint"):
        load_checkpoint(out / "last.pt")
    assert main(["eval", "--checkpoint", str(out / "last.pt"), "--data", str(data), "--out", str(tmp_path / "e")]) == 2
    assert "corrupt checkpoint" in capsys.readouterr().err


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(config_file, data, tmp_path, monkeypatch):
    real = trainer_module.compute_losses
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise FloatingPointError("non-finite loss term(s): vertices")
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "compute_losses", flaky)
    with pytest.raises(trainer_module.TrainingError, match=r"stopped at step 5: non-finite.*vertices.*\(step 4\)"):
        _run(config_file, data, tmp_path / "nan", 10)
    assert load_checkpoint(tmp_path / "nan" / "last.pt")["step"] == 4


def test_eval_writes_scores_predictions_and_overlays(config_file, data, tmp_path):
    _run(config_file, data, tmp_path / "run", 2)
    out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(data), "--split", "training",
            "--out", str(out), "--overlays", "4"]  # fmt: skip
    assert main(argv) == 0
    import json

    scores = json.loads((out / "scores.json").read_text())
    assert scores["n_samples"] == 24 and scores["pa_mpjpe_mm"] > 0 and scores["f_score_15mm"] is not None
    for name in ("pred.json", "pred.zip", "scores_pck.png", "overlays.png"):
        assert (out / name).exists(), name


def test_several_seeds_are_summarised(config_file, data, tmp_path):
    summary = train_runs(load_config(config_file), data, tmp_path / "seeds", max_steps=2, seed=3, seeds=2)
    assert [r["seed"] for r in summary["runs"]] == [3, 4]
    assert summary["best_pa_mpjpe_mm_mean"] > 0 and summary["best_pa_mpjpe_mm_std"] >= 0
    assert (tmp_path / "seeds" / "seed_4" / "last.pt").exists() and (tmp_path / "seeds" / "seeds_summary.json").exists()


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")  # fmt: skip
def test_two_process_gloo_run(config_file, data, tmp_path):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", "29533", "-m", "cliphand", "train", "--config",
           str(config_file), "--data", str(data), "--out", str(out), "--max-steps", "3"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == 3
    from cliphand.model.checkpoint import load_model_from_checkpoint

    model = load_model_from_checkpoint(out / "last.pt")
    assert model(torch.rand(1, 3, 128, 128))["joints"].shape == (1, 21, 3)
