"""The model shipped inside the package: it loads without arguments, is small, and sees hands.

Synthetic checks use a seed the release was not trained on; the real-photo check reads
../shared/real/ and skips when it is absent.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import cliphand
from cliphand.cli import main
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import gesture_templates
from cliphand.infer import HandPoseEstimator
from cliphand.model.checkpoint import CheckpointError, load_checkpoint, load_model_from_checkpoint
from cliphand.synth.generator import Generator, heldout_config
from cliphand.train.checkpoint import save_checkpoint

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200"
CARD = Path(__file__).resolve().parents[1] / "docs" / "model_card.md"


def card_figures() -> dict:
    """The machine-checked figures of docs/model_card.md (its JSON block)."""
    text = CARD.read_text()
    return json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))


@pytest.fixture(scope="module")
def estimator():
    return HandPoseEstimator.default()


@pytest.fixture(scope="module")
def held_out():
    """32 synthetic images from a seed no release was trained on, with their labels."""
    generator = Generator(load_hand_model("openhand"), heldout_config(), seed=987)
    return [generator.sample(i) for i in range(32)]


def test_shipped_weights_are_fp16_small_and_described():
    path = cliphand.default_checkpoint()
    assert path.is_file() and path.stat().st_size < 25 * 2**20
    state = load_checkpoint(path)
    floats = [v for v in state["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert "optimizer" not in state and state["release"]["cliphand_version"]


def test_shipped_model_beats_the_best_fixed_hand_on_held_out_synthetic_images(estimator, held_out):
    predictions = estimator.predict_batch([s.image for s in held_out], focal=None)
    ours = np.stack([p.joints_3d for p in predictions])
    gt = np.stack([s.joints_3d for s in held_out])
    templates = gesture_templates(load_hand_model("openhand")).numpy()
    fixed = min(evaluate_freihand(gt, None, np.repeat(t[None], len(gt), 0), None)["pa_mpjpe_mm"] for t in templates)
    score = evaluate_freihand(gt, None, ours, None)["pa_mpjpe_mm"]
    relative = ours - ours[:, :1]
    assert relative.std(0).mean() * 1000 > 5.0  # a different hand for each image
    assert score < 0.75 * fixed, (score, fixed)  # the quality gate: broken or swapped weights fail it
    assert score == pytest.approx(card_figures()["synthetic_32_pa_mpjpe_mm"], abs=0.05)  # the card is this model


def test_predict_without_checkpoint_uses_the_shipped_model(tmp_path, held_out, capsys):
    from PIL import Image

    photo = tmp_path / "hand.jpg"
    Image.fromarray(held_out[0].image).save(photo)
    assert main(["predict", str(photo), "--out", str(tmp_path / "out"), "--no-detect"]) == 0
    result = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    (hand,) = result["hands"]
    uv = np.round(np.asarray(hand["joints_2d"])).astype(int).clip(0, 223)
    on_hand = held_out[0].mask[uv[:, 1], uv[:, 0]] > 0
    assert on_hand.mean() >= 0.6, on_hand  # the 2D joints fall on the hand


def test_a_checkpoint_of_another_format_is_refused_in_one_line(tmp_path):
    state = load_checkpoint(cliphand.default_checkpoint())
    old = tmp_path / "old.pt"
    save_checkpoint(old, state)
    raw = torch.load(old, weights_only=False)
    raw["format"] = 1
    torch.save(raw, old)
    with pytest.raises(CheckpointError, match="checkpoint format 1") as info:
        HandPoseEstimator.from_checkpoint(old)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not (REAL / "mediapipe_reference.json").exists(), reason="../shared/real is not here")
def test_shipped_model_sees_real_hands(estimator):
    """On the real photos MediaPipe detects, most predicted joints fall on the hand (inside
    MediaPipe's landmark box, padded 10 %), the 2D joints are closer to MediaPipe's than the
    best constant answer (each joint at its mean position over the photos), and the hands
    differ from photo to photo. A gate against broken weights, not a claim of accuracy: see
    docs/model_card.md for how far v1 is from MediaPipe."""
    items = json.loads((REAL / "mediapipe_reference.json").read_text())["items"]
    Ks = json.loads((REAL / "evaluation_K.json").read_text())
    chosen = [i for i, item in enumerate(items) if item["detected"]]
    images = [REAL / "evaluation" / "rgb" / items[i]["image"] for i in chosen]
    ours = np.stack([estimator.predict(im, focal=Ks[i][0][0], detect=False).joints_2d
                     for i, im in zip(chosen, images, strict=True)])  # fmt: skip
    theirs = np.stack([np.asarray(items[i]["landmarks_2d_px"]) for i in chosen])
    lo, hi = theirs.min(1, keepdims=True), theirs.max(1, keepdims=True)
    pad = 0.1 * (hi - lo)
    on_hand = ((ours >= lo - pad) & (ours <= hi + pad)).all(-1).mean()
    constant = np.linalg.norm(theirs - theirs.mean(0), axis=-1).mean()
    error = np.linalg.norm(ours - theirs, axis=-1).mean()
    assert on_hand > 0.7 and error < constant, (on_hand, error, constant)
    assert ours.std(0).mean() > 5.0  # pixels: not one answer for every photo


@pytest.mark.skipif(not (REAL / "mediapipe_reference.json").exists(), reason="../shared/real is not here")
def test_model_card_real_photo_figures_are_what_the_benchmark_prints(tmp_path):
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "real_photos.py"
    subprocess.run([sys.executable, str(bench), "--out", str(tmp_path)], check=True, capture_output=True)
    measured = json.loads((tmp_path / "real_photos.json").read_text())
    figures = card_figures()
    assert measured["pa_mpjpe_vs_mediapipe_mm"] == pytest.approx(figures["real_pa_mpjpe_vs_mediapipe_mm"], abs=0.05)
    assert measured["mean_2d_px_vs_mediapipe"] == pytest.approx(figures["real_2d_px_vs_mediapipe"], abs=0.05)
    jittered = figures["real_jittered_crop_pa_mpjpe_vs_mediapipe_mm"]
    assert measured["jittered_crop_pa_mpjpe_vs_mediapipe_mm"] == pytest.approx(jittered, abs=0.05)


def test_a_checkpoint_from_before_manos_joint_convention_keeps_the_rigs_joints(tmp_path, recwarn):
    """The shipped model reads its mesh's joints in MANO's convention; the same weights written by
    cliphand 0.7 (openhand's joints were then its rig's) load with the rig's joint regressor and a
    warning, so their mesh and skeleton stay on one wrist."""
    hand = load_hand_model("openhand")
    shipped = load_model_from_checkpoint(cliphand.default_checkpoint())
    assert not recwarn.list
    torch.testing.assert_close(shipped.joint_regressor, hand.joint_regressor)
    state = torch.load(cliphand.default_checkpoint(), map_location="cpu", weights_only=False)
    state["code_version"] = "0.7.0"
    torch.save(state, tmp_path / "old.pt")
    with pytest.warns(UserWarning, match="rig's"):
        old = load_model_from_checkpoint(tmp_path / "old.pt")
    torch.testing.assert_close(old.joint_regressor, hand.kinematic_regressor)
    with torch.no_grad():
        out = old(torch.rand(1, 3, 128, 128))
    wrist = torch.einsum("n,bnd->bd", hand.kinematic_regressor[0], out["vertices"])
    assert float(wrist.norm()) < 1e-5  # the mesh is centred on the rig's wrist, where the joints start


def load_real_photos_bench():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / "real_photos.py"
    spec = importlib.util.spec_from_file_location("real_photos_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_photo_benchmarks_per_photo_figures_average_to_the_official_ones():
    """`bench/real_photos.py` prints the means of its per-photo errors (what `--compare` pairs): each
    must be the FreiHAND protocol's PA-MPJPE, or the mean joint distance in px, of the right crops."""
    from types import SimpleNamespace

    bench = load_real_photos_bench()
    rng = np.random.default_rng(3)
    hands = gesture_templates(load_hand_model("openhand")).numpy()
    truth = hands[rng.integers(0, len(hands), 60)] + rng.normal(0, 0.004, (60, 21, 3))
    truth_2d = rng.uniform(40, 180, (60, 21, 2))

    def answers(noise_mm: float, noise_px: float) -> list:
        return [SimpleNamespace(joints_3d=t + rng.normal(0, noise_mm / 1000, (21, 3)),
                                joints_2d=t2 + rng.normal(0, noise_px, (21, 2)))
                for t, t2 in zip(truth, truth_2d, strict=True)]  # fmt: skip

    whole, boxed = answers(12, 9), answers(6, 3)
    moved = [answers(4 + k, 1 + k) for k in range(6)]
    errors = bench.per_photo_errors(whole, boxed, moved, truth, truth_2d)

    def official(predictions: list) -> float:
        return evaluate_freihand(truth, None, np.stack([p.joints_3d for p in predictions]), None)["pa_mpjpe_mm"]

    def distance(predictions: list) -> float:
        return float(np.linalg.norm(np.stack([p.joints_2d for p in predictions]) - truth_2d, axis=-1).mean())

    assert errors["whole_photo_mm"].mean() == pytest.approx(official(whole))
    assert errors["detector_crop_mm"].mean() == pytest.approx(official(boxed))
    assert errors["moved_boxes_mm"].mean() == pytest.approx(np.mean([official(m) for m in moved]))
    assert errors["whole_photo_px"].mean() == pytest.approx(distance(whole))
    assert errors["detector_crop_px"].mean() == pytest.approx(distance(boxed))
    assert errors["moved_boxes_px"].mean() == pytest.approx(np.mean([distance(m) for m in moved]))


def test_real_photo_benchmarks_paired_interval_has_the_width_of_the_paired_mean():
    """Photos hard for every checkpoint (spread 7 mm) must not widen the interval of a difference whose
    own per-photo spread is 1 mm: its width is that of the paired mean, 2 x 1.96 x sd / sqrt(n)."""
    bench = load_real_photos_bench()
    rng = np.random.default_rng(5)
    baseline = rng.uniform(5, 30, 200)
    for shift in (-0.5, 0.0):
        this = baseline + shift + rng.normal(0, 1.0, 200)
        row = bench.paired_differences({"x": this}, {"x": baseline})["x"]
        difference = this - baseline
        width = 2 * 1.96 * difference.std() / np.sqrt(len(difference))
        assert row["difference"] == pytest.approx(difference.mean())
        assert row["high"] - row["low"] == pytest.approx(width, rel=0.15)
        assert row["low"] < row["difference"] < row["high"]
        assert row["this"] == pytest.approx(this.mean()) and row["baseline"] == pytest.approx(baseline.mean())
    shifted = bench.paired_differences({"x": baseline - 0.5 + rng.normal(0, 1.0, 200)}, {"x": baseline})["x"]
    assert shifted["high"] < 0  # 0.5 under a per-photo spread of 1 is found
    half = np.r_[np.full(150, -1.0), np.full(50, 1.0)]
    assert bench.paired_differences({"x": baseline + half}, {"x": baseline})["x"]["this_better_on"] == 0.75
    assert bench.paired_differences({"x": baseline}, {"x": baseline})["x"]["this_better_on"] == 0.0
