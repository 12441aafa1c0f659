"""`cliphand live`: hands from a webcam (or any video as a stand-in camera), tracked and drawn.

Shows the overlay in a window when a display and OpenCV's GUI are available, and writes an
annotated video with --out. Track ids stay with their hand; the detector runs only every few
frames or when a track weakens (infer.tracking).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from cliphand.infer.estimator import HandPoseEstimator, InferenceError
from cliphand.infer.predict import overlay
from cliphand.infer.tracking import HandTracker, TrackerSettings


def open_source(source: int | str | Path):
    """Frames (H, W, 3) uint8 from camera number `source` or a video file, and its frame rate."""
    try:
        import imageio.v3 as iio
    except ImportError:
        raise InferenceError("live needs imageio and imageio-ffmpeg: pip install 'cliphand[video]'") from None
    name = f"<video{source}>" if isinstance(source, int) else str(source)
    if not isinstance(source, int) and not Path(source).is_file():
        raise InferenceError(f"video not found: {source}")
    try:
        fps = float(iio.immeta(name).get("fps") or 30.0)
        return iio.imiter(name), fps
    except Exception as exc:  # imageio raises many kinds for a missing camera or a bad file
        what = f"camera {source}" if isinstance(source, int) else f"video {source}"
        raise InferenceError(f"cannot open {what}: {str(exc).splitlines()[0]}") from None


def _window():
    """cv2 when a window can be shown, else None."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")):
        return None
    try:
        import cv2

        cv2.namedWindow("cliphand live")
        return cv2
    except Exception:  # headless OpenCV builds raise on window calls
        return None


def run_live(
    estimator: HandPoseEstimator,
    source: int | str | Path = 0,
    out: Path | None = None,
    settings: TrackerSettings | None = None,
    max_frames: int | None = None,
    show: bool = True,
) -> dict:
    """Track hands until the source ends, `max_frames`, Esc/q in the window, or Ctrl-C.
    Returns counts: frames, detector runs, track ids seen, mean ms per frame."""
    frames, fps = open_source(source)
    tracker = HandTracker(estimator, settings)
    window = _window() if show else None
    writer = None
    if out is not None:
        import imageio.v2 as iio2

        out.parent.mkdir(parents=True, exist_ok=True)
        writer = iio2.get_writer(out, fps=fps, codec="libx264", macro_block_size=1)
    count, ids, start = 0, set(), time.perf_counter()
    try:
        for index, frame in enumerate(frames):
            frame = np.asarray(frame)[..., :3]
            hands = tracker.update(frame, index / fps)
            ids.update(hand.track_id for hand in hands)
            picture = overlay(frame, [hand.prediction for hand in hands])
            if writer is not None:
                writer.append_data(picture)
            if window is not None:
                window.imshow("cliphand live", picture[..., ::-1])
                if window.waitKey(1) & 0xFF in (27, ord("q")):
                    break
            count += 1
            if max_frames is not None and count >= max_frames:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a live session normally; the video written so far is kept
    finally:
        if writer is not None:
            writer.close()
        if window is not None:
            window.destroyAllWindows()
    elapsed = time.perf_counter() - start
    return {"frames": count, "detector_runs": tracker.detector_runs, "track_ids": sorted(ids),
            "ms_per_frame": 1000 * elapsed / max(count, 1)}  # fmt: skip
