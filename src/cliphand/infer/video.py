"""Video: predict every frame, smooth joints and vertices over time (One Euro filter), and write
an overlay video and one JSON line per frame."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cliphand.data.geometry import project
from cliphand.infer.estimator import HandPoseEstimator, HandPrediction, InferenceError
from cliphand.infer.predict import overlay
from cliphand.infer.smoothing import OneEuroFilter, OneEuroSettings

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")


def predict_video(
    estimator: HandPoseEstimator,
    path: Path,
    out: Path,
    bbox: Sequence[float] | None = None,
    is_left: bool = False,
    focal: float | None = None,
    smoothing: OneEuroSettings | None = None,
    with_vertices: bool = False,
) -> tuple[Path, Path]:
    """Writes <stem>_overlay.mp4 and <stem>.jsonl (frame, time, joints_3d, joints_2d, camera,
    confidence; vertices with `with_vertices`). `smoothing` defaults to OneEuroSettings();
    min_cutoff=inf turns smoothing off. Returns both paths."""
    smoothing = smoothing or OneEuroSettings()
    try:
        import imageio.v2 as iio2
        import imageio.v3 as iio
    except ImportError as exc:
        raise InferenceError("video needs imageio and imageio-ffmpeg: pip install 'cliphand[video]'") from exc
    if not Path(path).is_file():
        raise InferenceError(f"video not found: {path}")
    try:
        meta = iio.immeta(path)
        frames = iio.imiter(path)  # lazy: decoding errors surface while iterating, handled below
    except Exception as exc:  # imageio raises many kinds for unreadable or missing files
        raise InferenceError(f"cannot read video {path}: {str(exc).splitlines()[0]}") from None
    fps = float(meta.get("fps") or 30.0)
    out.mkdir(parents=True, exist_ok=True)
    video_out = out / f"{path.stem}_overlay.mp4"
    lines_out = out / f"{path.stem}.jsonl"
    partial = video_out.with_name(video_out.stem + ".partial.mp4")  # renamed once complete
    joint_filter, vertex_filter = OneEuroFilter(smoothing), OneEuroFilter(smoothing)
    count, complete = 0, False
    # Frames stream through: memory stays flat however long the video is.
    writer = iio2.get_writer(partial, fps=fps, codec="libx264", macro_block_size=1)
    try:
        with lines_out.open("w") as lines:
            for index, frame in enumerate(tqdm(frames, desc=f"video {path.name}", unit="frame")):
                pred = estimator.predict(frame, bbox=bbox, is_left=is_left, focal=focal, detect=False)
                t = index / fps
                pred = _smoothed(pred, joint_filter(pred.joints_3d, t), vertex_filter(pred.vertices, t))
                record = {"frame": index, "time": round(t, 4), **_frame_record(pred, with_vertices)}
                lines.write(json.dumps(record) + "\n")
                writer.append_data(overlay(np.asarray(frame)[..., :3], pred))
                count += 1
        if not count:
            raise InferenceError(f"video {path} has no frames")
        complete = True
    except InferenceError:
        raise
    except (OSError, RuntimeError, ValueError, StopIteration) as exc:
        raise InferenceError(f"cannot read video {path}: {str(exc).splitlines()[0]}") from None
    finally:
        writer.close()
        if not complete:
            partial.unlink(missing_ok=True)
    partial.replace(video_out)
    return video_out, lines_out


def _smoothed(pred: HandPrediction, joints: np.ndarray, vertices: np.ndarray) -> HandPrediction:
    from dataclasses import replace

    return replace(pred, joints_3d=joints, vertices=vertices, joints_2d=project(joints, pred.K))


def _frame_record(pred: HandPrediction, with_vertices: bool) -> dict:
    record = pred.to_dict()
    record.pop("faces")
    if not with_vertices:
        record.pop("vertices")
    return record
