"""Where the gap between renders and photos comes from, for a checkpoint.

    python bench/sim_to_real.py [--checkpoint CKPT] [--images 96]

Reads ../shared/real/freihand_eval200 (evaluation material: nothing here trains on it). Prints:
- how much of the frame the hand spans: MediaPipe's landmarks on the real photos beside the
  projected joints of the synthetic generator's defaults (a network only knows the sizes it saw);
- the checkpoint on the same synthetic hands (seed 987) composited over cliphand's own
  backgrounds, over the real photos, and over the largest square of each photo that leaves out
  the photo's own hand (MediaPipe's box, padded 10 px), scaled to 224 px. The photos hold a real
  hand near their centre, which becomes a second hand behind the rendered one; the last row is
  what real backgrounds alone cost, with the hand's appearance held fixed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from cliphand.data.geometry import project
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.infer import HandPoseEstimator
from cliphand.synth.generator import Generator, SynthConfig

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    parser.add_argument("--images", type=int, default=96)
    args = parser.parse_args()
    if not (ROOT / "mediapipe_reference.json").exists():
        raise SystemExit(f"real photos not found under {ROOT} (see ../shared/real/README.md)")
    estimator = HandPoseEstimator.from_checkpoint(args.checkpoint) if args.checkpoint else HandPoseEstimator.default()
    hand = load_hand_model("openhand")

    reference = [r for r in json.loads((ROOT / "mediapipe_reference.json").read_text())["items"] if r["detected"]]
    real_span = [np.ptp(np.asarray(r["landmarks_2d_px"]), axis=0).max() / 224 for r in reference]
    synthetic = [Generator(hand, SynthConfig(), seed=987).sample(i) for i in range(args.images)]
    synth_span = [np.ptp(project(s.joints_3d, s.K), axis=0).max() / s.image.shape[0] for s in synthetic]
    print("joints' box side / image side, percentiles 5 25 50 75 95:")
    print(f"  real photos (MediaPipe)  {np.percentile(real_span, [5, 25, 50, 75, 95]).round(2)}")
    print(f"  synthetic defaults       {np.percentile(synth_span, [5, 25, 50, 75, 95]).round(2)}")

    with tempfile.TemporaryDirectory(prefix="cliphand_backgrounds_") as folder:
        hand_free = Path(folder)
        for item in reference:
            square = square_beside(np.asarray(item["landmarks_2d_px"]), 224)
            if square is not None:
                with Image.open(ROOT / "evaluation" / "rgb" / item["image"]) as photo:
                    photo.convert("RGB").crop(square).resize((224, 224), Image.Resampling.BILINEAR).save(
                        hand_free / f"{Path(item['image']).stem}.png"
                    )
        composites(estimator, hand, args.images, hand_free)


def composites(estimator: HandPoseEstimator, hand, images: int, hand_free: Path) -> None:
    """Print the checkpoint's scores on the same synthetic hands over three kinds of background."""
    print(f"the same {images} synthetic hands (seed 987) over:")
    for name, backgrounds in (
        ("cliphand's backgrounds", "mixed"),
        ("real photos", str(ROOT / "evaluation" / "rgb")),
        ("real photos, hand left out", str(hand_free)),
    ):
        generator = Generator(hand, SynthConfig(backgrounds=backgrounds), seed=987)
        samples = [generator.sample(i) for i in range(images)]
        predictions = []
        for start in range(0, len(samples), 32):
            batch = samples[start : start + 32]
            predictions += estimator.predict_batch([s.image for s in batch], focal=None)
        score = evaluate_freihand(
            np.stack([s.joints_3d for s in samples]), np.stack([s.vertices for s in samples]),
            np.stack([p.joints_3d for p in predictions]), np.stack([p.vertices for p in predictions]),
        )  # fmt: skip
        print(f"  {name:28} PA-MPJPE {score['pa_mpjpe_mm']:6.2f} mm, F@15 {score['f_score_15mm']:.3f}")


def square_beside(landmarks: np.ndarray, side: int, margin: float = 10, smallest: int = 40) -> tuple | None:
    """(left, top, right, bottom) of the largest square of a side x side photo that lies wholly
    left, right, above or below the hand's landmarks (21, 2) padded by margin px; None if < smallest."""
    lo, hi = landmarks.min(0) - margin, landmarks.max(0) + margin
    strips = [(0, 0, lo[0], side), (hi[0], 0, side, side), (0, 0, side, lo[1]), (0, hi[1], side, side)]
    x0, y0, x1, y1 = max(strips, key=lambda s: min(s[2] - s[0], s[3] - s[1]))
    extent = min(x1 - x0, y1 - y0)
    if extent < smallest:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (int(cx - extent / 2), int(cy - extent / 2), int(cx + extent / 2), int(cy + extent / 2))


if __name__ == "__main__":
    main()
