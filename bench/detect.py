"""Hand detection on synthetic scenes, and the whole photo pipeline's latency beside MediaPipe's.

    python bench/detect.py [--scenes 60] [--out detect_report]

Each scene is a 640x480 clutter frame with 1-3 synthetic hands (right, or mirrored into left)
pasted at known places and sizes (48-220 px tall), turned any way or (a second set) shown to
the camera within 60 degrees. Prints, in one run:
- detection recall and precision at IoU 0.5 against the hands' landmark boxes, and handedness
  accuracy of the matched hands;
- PA-MPJPE of the shipped model on hands cropped from the detector's box vs from the true box;
- how many of the 200 real FreiHAND photos (hand crops, ../shared/real/freihand_eval200, when
  present) hold a detected hand, and how many hands are found in 240 hand-free backgrounds,
  with and without `zoom_out` (a border around an image in which nothing was found); how many
  of those right hands the detector calls left (they come out mirrored);
- per-frame latency of MediaPipe Hands alone and of detector + crop + cliphand network, one
  hand per frame.
Writes a contact sheet of ../shared/real/wild (when present) with every detected hand drawn,
to check by eye. Needs `pip install 'cliphand[detect]'`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cliphand import default_checkpoint
from cliphand.data.augment import background_image
from cliphand.data.geometry import project
from cliphand.detect import default_detector, detect_hands
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.infer import HandPoseEstimator
from cliphand.infer.estimator import load_image
from cliphand.infer.onnx import cached_onnx_export
from cliphand.infer.tracking import box_iou
from cliphand.synth.generator import Generator, SynthConfig

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real"
WILD = REAL / "wild"
FREIHAND_PHOTOS = REAL / "freihand_eval200" / "evaluation" / "rgb"


def make_scene(generator: Generator, rng: np.random.Generator, index: int) -> tuple[np.ndarray, list[dict]]:
    """A frame and its hands: box (tight around the projected joints), side, joints (camera frame)."""
    frame = background_image(640, rng, "clutter")[0][:480].copy()
    hands, taken = [], []
    for k in range(int(rng.integers(1, 4))):
        sample = generator.sample(index * 4 + k)
        uv = project(sample.joints_3d, sample.K)
        side = "left" if rng.random() < 0.5 else "right"
        image, mask = sample.image, sample.mask
        if side == "left":
            image, mask, uv = image[:, ::-1], mask[:, ::-1], uv * [-1, 1] + [223, 0]
        lo, hi = uv.min(0), uv.max(0)
        scale = rng.uniform(48, 220) / max(hi[1] - lo[1], 1)
        size = max(32, int(224 * scale))
        if size > 460:
            continue
        x0, y0 = int(rng.integers(0, 640 - size)), int(rng.integers(0, 480 - size))
        if any(abs(x0 - a) < size and abs(y0 - b) < size for a, b, _ in taken):
            continue  # keep hands apart: overlapping pastes would hide each other
        taken.append((x0, y0, size))
        patch = np.asarray(Image.fromarray(image).resize((size, size)))
        alpha = np.asarray(Image.fromarray(mask).resize((size, size)))[..., None] / 255.0
        region = frame[y0 : y0 + size, x0 : x0 + size]
        frame[y0 : y0 + size, x0 : x0 + size] = (patch * alpha + region * (1 - alpha)).astype(np.uint8)
        box_lo, box_hi = lo * size / 224 + [x0, y0], hi * size / 224 + [x0, y0]
        hands.append({"bbox": (*box_lo, *(box_hi - box_lo)), "side": side, "joints": sample.joints_3d,
                      "left": side == "left"})  # fmt: skip
    return frame, hands


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


VIEWS = {"any view": 180.0, "palm or back within 60 deg of the camera": 60.0}
"""Scene sets: hands turned any way (edge-on, fingers toward the camera, upside down), and hands
shown to the camera as people do in photos."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=60, help="scenes per view set")
    parser.add_argument("--out", type=Path, default=Path("detect_report"))
    args = parser.parse_args()
    estimator, hand = HandPoseEstimator.default(), load_hand_model("openhand")
    for view, spread in VIEWS.items():
        generator = Generator(hand, SynthConfig(occluder_prob=0.0, view_spread_deg=spread), seed=21)
        score_scenes(generator, np.random.default_rng(21), args.scenes, estimator, view)
    zoom_out_counts()
    generator = Generator(hand, SynthConfig(occluder_prob=0.0), seed=21)
    one_hand = [make_scene(generator, np.random.default_rng(22), 1000 + i)[0] for i in range(20)]
    mediapipe = [timed(lambda f=f: default_detector().detect(f, 1)) for f in one_hand]  # one search, as MediaPipe runs
    onnx = HandPoseEstimator.from_checkpoint(
        cached_onnx_export(default_checkpoint()), backend="onnx"
    )  # as `serve` runs
    m = statistics.median(mediapipe)
    print(f"per frame (median of 20, one hand): MediaPipe Hands {m:.1f} ms")
    for name, runner in (("PyTorch", estimator), ("ONNX Runtime", onnx)):
        o = statistics.median(timed(lambda f=f, r=runner: r.predict_hands(f, max_hands=1)) for f in one_hand)
        print(f"  detector + cliphand ({name}) {o:.1f} ms ({o / m:.2f}x MediaPipe)")
    if WILD.is_dir():
        sheet(sorted(WILD.glob("*.jpg")), estimator, args.out / "wild.png")
        print(f"wrote {args.out / 'wild.png'}")


def score_scenes(generator: Generator, rng: np.random.Generator, scenes: int, estimator: HandPoseEstimator,
                 view: str) -> None:  # fmt: skip
    """Prints recall, precision, handedness and the detector-vs-true-box PA-MPJPE on `scenes` frames."""
    found = truth = correct_side = matched = 0
    gt_joints, with_detector, with_truth = [], [], []
    for index in range(scenes):
        frame, hands = make_scene(generator, rng, index)
        detections = detect_hands(frame, max_hands=4)
        truth += len(hands)
        found += len(detections)
        for hand in hands:
            best = max(detections, key=lambda d, h=hand: box_iou(d.bbox, h["bbox"]), default=None)
            if best is None or box_iou(best.bbox, hand["bbox"]) < 0.5:
                continue
            matched += 1
            correct_side += best.handedness == hand["side"]
            a, b = estimator.predict_batch([frame, frame], [best.bbox, hand["bbox"]], [best.is_left, hand["left"]])
            gt_joints.append(hand["joints"] * ([-1, 1, 1] if hand["left"] else 1))
            with_detector.append(a.joints_3d)
            with_truth.append(b.joints_3d)
    recall, precision = matched / max(truth, 1), matched / max(found, 1)
    gt = np.stack(gt_joints)
    pa_det = evaluate_freihand(gt, None, np.stack(with_detector), None)["pa_mpjpe_mm"]
    pa_box = evaluate_freihand(gt, None, np.stack(with_truth), None)["pa_mpjpe_mm"]
    print(f"{view}: {scenes} synthetic scenes, {truth} hands 48-220 px tall, {found} detections")
    print(f"  recall@0.5 {recall:.3f}  precision@0.5 {precision:.3f}  handedness {correct_side / max(matched, 1):.3f}")
    print(f"  PA-MPJPE, crop from the detector's box {pa_det:.2f} mm, from the true box {pa_box:.2f} mm")


def zoom_out_counts() -> None:
    """Prints hands found with and without `zoom_out` on hand crops (recall) and hand-free images
    (false hands)."""
    rng = np.random.default_rng(5)
    empty = [background_image(int(rng.choice([224, 640])), rng, kind)[0]
             for kind in ("clutter", "photos", "fractal", "textures") for _ in range(60)]  # fmt: skip
    false_hands = [sum(len(detect_hands(image, zoom_out=z)) for image in empty) for z in (False, True)]
    print(f"{len(empty)} hand-free images: {false_hands[0]} hands found, {false_hands[1]} with zoom_out")
    if FREIHAND_PHOTOS.is_dir():
        photos = [load_image(path) for path in sorted(FREIHAND_PHOTOS.glob("*.jpg"))]
        without = sum(bool(detect_hands(image, zoom_out=False)) for image in photos)
        best = [hands[0] for image in photos if (hands := detect_hands(image))]  # the best-scored hand
        print(f"{len(photos)} FreiHAND photos (hand crops): a hand in {without}, {len(best)} with zoom_out")
        called_left = sum(hand.is_left for hand in best)  # every FreiHAND hand is a right hand
        print(f"  of those {len(best)} right hands, {called_left} called left ({called_left / len(best):.1%})")


def sheet(paths: list[Path], estimator: HandPoseEstimator, out: Path) -> None:
    from cliphand.infer.predict import overlay

    out.parent.mkdir(parents=True, exist_ok=True)
    tiles = []
    for path in paths:
        image = load_image(path)
        picture = Image.fromarray(overlay(image, estimator.predict_hands(image)))
        picture.thumbnail((480, 480))
        tiles.append(picture)
    canvas = Image.new("RGB", (480 * len(tiles), 480), "white")
    for k, tile in enumerate(tiles):
        canvas.paste(tile, (480 * k, 0))
    canvas.save(out)


if __name__ == "__main__":
    main()
