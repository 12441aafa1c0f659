"""Video: every hand in every frame (detection + tracking, or one given box), smoothed over time
(One Euro filter per hand), written as an overlay video and one JSON line per frame."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cliphand.data.geometry import project
from cliphand.infer.estimator import HandPoseEstimator, InferenceError
from cliphand.infer.predict import overlay
from cliphand.infer.smoothing import OneEuroFilter, OneEuroSettings
from cliphand.infer.tracking import HandTracker, TrackedHand, TrackerSettings

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")


def predict_video(
    estimator: HandPoseEstimator,
    path: Path,
    out: Path,
    bbox: Sequence[float] | None = None,
    is_left: bool | None = None,
    focal: float | None = None,
    smoothing: OneEuroSettings | None = None,
    with_vertices: bool = False,
    detect: bool = True,
    tracker: TrackerSettings | None = None,
    intrinsics: np.ndarray | None = None,
) -> tuple[Path, Path]:
    """Writes <stem>_overlay.mp4 and <stem>.jsonl: per frame {"frame", "time", "hands": [...]},
    each hand with its track_id, handedness, score, bbox, joints_3d, joints_2d, camera and
    confidence (vertices with `with_vertices`). Without a box (and with detect) hands are
    detected and tracked; with a box, or detect=False (the whole frame), one hand, track 0.
    `smoothing` defaults to OneEuroSettings(); min_cutoff=inf turns smoothing off. A frame that
    cannot be processed is reported and skipped. Returns both paths."""
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
    if bbox is None and detect:
        settings = replace(tracker or TrackerSettings(), smoothing=smoothing)
        if is_left is not None:  # one side for every hand, over the detector's vote
            settings = replace(settings, is_left=is_left)
        hand_tracker = HandTracker(estimator, settings, focal=focal, intrinsics=intrinsics)
        step = hand_tracker.update
    else:
        step = _fixed_box(estimator, bbox, bool(is_left), focal, smoothing, intrinsics)
    count, complete = 0, False
    # Frames stream through: memory stays flat however long the video is.
    writer = iio2.get_writer(partial, fps=fps, codec="libx264", macro_block_size=1)
    try:
        with lines_out.open("w") as lines:
            for index, frame in enumerate(tqdm(frames, desc=f"video {path.name}", unit="frame")):
                frame = np.asarray(frame)[..., :3]
                t = index / fps
                try:
                    hands = step(frame, t)
                except InferenceError as exc:  # one bad frame: say so, keep going
                    print(f"cliphand: warning: {path} frame {index}: {exc}", file=sys.stderr)
                    continue
                records = [_hand_record(hand, with_vertices) for hand in hands]
                lines.write(json.dumps({"frame": index, "time": round(t, 4), "hands": records}) + "\n")
                writer.append_data(overlay(frame, [hand.prediction for hand in hands]))
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


def _fixed_box(estimator: HandPoseEstimator, bbox, is_left: bool, focal: float | None, smoothing: OneEuroSettings,
               intrinsics: np.ndarray | None = None):  # fmt: skip
    """One hand in the same box (or the whole frame) in every frame, as track 0."""
    joint_filter, vertex_filter = OneEuroFilter(smoothing), OneEuroFilter(smoothing)

    def step(frame: np.ndarray, t: float) -> list[TrackedHand]:
        pred = estimator.predict(frame, bbox=bbox, is_left=is_left, focal=focal, detect=False, intrinsics=intrinsics)
        joints, vertices = joint_filter(pred.joints_3d, t), vertex_filter(pred.vertices, t)
        return [TrackedHand(0, replace(pred, joints_3d=joints, vertices=vertices, joints_2d=project(joints, pred.K)))]

    return step


def _hand_record(hand: TrackedHand, with_vertices: bool) -> dict:
    record = hand.to_dict()
    if with_vertices:
        record["vertices"] = hand.prediction.vertices.round(6).tolist()
    return record
