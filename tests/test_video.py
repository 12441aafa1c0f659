import json

import numpy as np
import pytest

from cliphand.infer.smoothing import OneEuroFilter, OneEuroSettings


def test_one_euro_passes_constants_and_reduces_jitter():
    f = OneEuroFilter(OneEuroSettings(min_cutoff=1.0, beta=0.0))
    constant = np.full((21, 3), 0.3)
    for k in range(10):
        np.testing.assert_allclose(f(constant, k / 30), constant)
    rng = np.random.default_rng(0)
    noisy = [0.5 + rng.normal(0, 0.01, (21, 3)) for _ in range(120)]
    g = OneEuroFilter(OneEuroSettings(min_cutoff=1.0, beta=0.0))
    smoothed = np.stack([g(x, k / 30) for k, x in enumerate(noisy)])
    assert smoothed[30:].std(0).mean() < 0.4 * np.stack(noisy)[30:].std(0).mean()


def test_one_euro_follows_fast_motion_with_beta():
    t = np.arange(60) / 30
    ramp = 2.0 * t  # 2 m/s
    lag = {}
    for beta in (0.0, 5.0):
        f = OneEuroFilter(OneEuroSettings(min_cutoff=1.0, beta=beta))
        out = np.array([f(np.array([x]), ti)[0] for x, ti in zip(ramp, t, strict=True)])
        lag[beta] = abs(ramp[-1] - out[-1])
    assert lag[5.0] < 0.5 * lag[0.0]
    off = OneEuroFilter(OneEuroSettings(min_cutoff=float("inf")))
    assert off(np.array([1.0]), 0.0)[0] == 1.0 and off(np.array([5.0]), 0.1)[0] == 5.0  # no smoothing


def test_video_prediction_writes_overlay_video_and_json_lines(tmp_path):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("imageio_ffmpeg")
    from batches import tiny_checkpoint

    from cliphand.cli import main

    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    rng = np.random.default_rng(1)
    frames = (rng.random((5, 64, 80, 3)) * 255).astype(np.uint8)
    clip = tmp_path / "clip.mp4"
    iio.imwrite(clip, frames, fps=10, codec="libx264", macro_block_size=1)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "out"
    code = main(
        ["predict", str(clip), str(broken), "--checkpoint", str(ckpt), "--out", str(out), "--bbox", "8,8,48,48"]
    )
    assert code == 1  # the broken video failed, the good one was processed
    lines = [json.loads(line) for line in (out / "clip.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(5))
    (hand,) = lines[0]["hands"]
    assert np.asarray(hand["joints_3d"]).shape == (21, 3) and hand["track_id"] == 0 and "vertices" not in hand
    assert iio.imread(out / "clip_overlay.mp4").shape[0] == 5
    assert sorted(p.name for p in out.iterdir()) == ["clip.jsonl", "clip_overlay.mp4"]  # nothing half-written
