"""How a checkpoint does on real photos: FreiHAND evaluation images against MediaPipe Hands.

    python bench/real_photos.py                       # the shipped model
    python bench/real_photos.py --checkpoint runs/x/best.pt --out /tmp/real

Reads ../shared/real/freihand_eval200 (200 real 224x224 photos, their K, and what MediaPipe
Hands 0.10.21 predicts on them; not part of the repository, see its README). On the images
MediaPipe detects it prints, beside each other, for two ways of cropping (the whole 224 x 224
photo, as FreiHAND's evaluation does, and a box around MediaPipe's landmarks, as `predict`
crops the hands its detector finds):
- PA-MPJPE (mm) of cliphand's 3D joints against MediaPipe's world landmarks, and the same for
  the best fixed answer (the one gesture template that scores best over all images);
- mean 2D distance (px) between cliphand's joints and MediaPipe's landmarks;
- the spread of cliphand's predictions (0 = the same hand for every photo);
- the detector-crop figures again, averaged over six boxes moved by 5 % of their side (left,
  right, up, down) or scaled by 0.94 and 1.06: one box is one draw, and a checkpoint's figure at
  the exact box moves by 0.3-0.6 mm under such a shift, so compare checkpoints on the average;
- on whole photos, the error per finger after Procrustes, and PA-MPJPE on the odd-numbered half
  alone (the training prior's angles are fitted to MediaPipe's hands on the even half);
- on detector crops, PA-MPJPE by which way the hand faces in MediaPipe's landmarks (palm to the
  camera, edge-on, back to the camera).
MediaPipe is a peer, not ground truth (11.1 mm PA-MPJPE on a labelled real benchmark), so
agreement below ~10 mm cannot be read as accuracy. Writes real_photos.json and a montage of
overlays (cliphand in colour, MediaPipe in white) to --out.

    python bench/real_photos.py --checkpoint new.pt --compare old.pt

also runs old.pt on the same photos and boxes and prints, for the whole photo, the detector crop
and the six moved boxes in mm and px, the mean per-photo difference new - old (negative: new is
closer to MediaPipe) with a 95 % bootstrap interval (photos resampled 4,000 times). Two
checkpoints err on the same hard photos, so the paired difference is far less noisy than the two
figures side by side. The interval covers only which photos happen to be in the set, not how
much a training run varies; one that spans 0 is no evidence of a difference, and among six
intervals one may exclude 0 by chance. `shipped` names the model in the package, for either
option.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cliphand.eval.metrics import keypoint_errors, procrustes_align
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import GESTURES, gesture_templates
from cliphand.infer.estimator import HandPoseEstimator, load_image
from cliphand.synth.views import view_features

# Box changes a real detector makes: (shift x, shift y) as a fraction of the box's longer side, scale.
BOX_JITTER = [(0.05, 0, 1), (-0.05, 0, 1), (0, 0.05, 1), (0, -0.05, 1), (0, 0, 0.94), (0, 0, 1.06)]

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200"


FINGER_JOINTS = {"wrist": [0], "thumb": [1, 2, 3, 4], "index": [5, 6, 7, 8], "middle": [9, 10, 11, 12],
                 "ring": [13, 14, 15, 16], "little": [17, 18, 19, 20], "tips": [4, 8, 12, 16, 20]}  # fmt: skip


def pa_mpjpe(gt: np.ndarray, pred: np.ndarray) -> float:
    return evaluate_freihand(gt, None, pred, None)["pa_mpjpe_mm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="shipped", help="a .pt checkpoint (default: shipped, the package's)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the freihand_eval200 folder")
    parser.add_argument("--out", type=Path, default=Path("real_photos"), help="report folder")
    parser.add_argument(
        "--compare", metavar="BASELINE", help="a checkpoint (or shipped) to print paired differences to"
    )
    args = parser.parse_args()
    if not (args.root / "mediapipe_reference.json").exists():
        raise SystemExit(f"real photos not found under {args.root} (see ../shared/real/README.md)")

    estimator = load_estimator(args.checkpoint)
    baseline = load_estimator(args.compare) if args.compare else None  # a bad path fails before the long run
    reference = json.loads((args.root / "mediapipe_reference.json").read_text())["items"]
    Ks = np.asarray(json.loads((args.root / "evaluation_K.json").read_text()))
    detected = [i for i, r in enumerate(reference) if r["detected"]]

    mp_3d = np.stack([np.asarray(reference[i]["world_landmarks_m"]) for i in detected])
    mp_2d = np.stack([np.asarray(reference[i]["landmarks_2d_px"]) for i in detected])
    images = [load_image(args.root / "evaluation" / "rgb" / f"{i:08d}.jpg") for i in detected]
    focals = [float(Ks[i][0][0]) for i in detected]
    start = time.perf_counter()
    predictions, boxed, jittered = predict_photos(estimator, images, focals, mp_2d)
    seconds = time.perf_counter() - start

    errors = per_photo_errors(predictions, boxed, jittered, mp_3d, mp_2d)
    ours = np.stack([p.joints_3d for p in predictions])
    ours_2d = np.stack([p.joints_2d for p in predictions])
    templates = gesture_templates(load_hand_model("openhand")).numpy()
    fixed = {name: pa_mpjpe(mp_3d, np.repeat(templates[g : g + 1], len(mp_3d), 0)) for g, name in enumerate(GESTURES)}
    best = min(fixed, key=fixed.get)
    relative = ours - ours[:, :1]
    results = {
        "checkpoint": args.checkpoint,
        "images": len(detected),
        "pa_mpjpe_vs_mediapipe_mm": float(errors["whole_photo_mm"].mean()),
        "best_fixed_template": best,
        "best_fixed_template_pa_mpjpe_mm": fixed[best],
        "mean_2d_px_vs_mediapipe": float(errors["whole_photo_px"].mean()),
        "median_2d_px_vs_mediapipe": float(np.median(errors["whole_photo_px"])),
        "prediction_spread_mm": float(relative.std(0).mean() * 1000),
        "detector_crop_pa_mpjpe_vs_mediapipe_mm": float(errors["detector_crop_mm"].mean()),
        "detector_crop_mean_2d_px_vs_mediapipe": float(errors["detector_crop_px"].mean()),
        "jittered_crop_pa_mpjpe_vs_mediapipe_mm": float(errors["moved_boxes_mm"].mean()),
        "jittered_crop_mean_2d_px_vs_mediapipe": float(errors["moved_boxes_px"].mean()),
        "ms_per_image": 1000 * seconds / ((2 + len(BOX_JITTER)) * len(detected)),
    }
    # Where the whole-photo error sits: per finger after Procrustes, and on the odd-numbered half of
    # the photos alone (bench/pose_prior.py fits the training prior's angles on the even half).
    joint_error = keypoint_errors(mp_3d, procrustes_align(mp_3d, ours)) * 1000
    results["per_finger_pa_mm"] = {name: float(joint_error[:, idx].mean()) for name, idx in FINGER_JOINTS.items()}
    results["odd_half_pa_mpjpe_vs_mediapipe_mm"] = float(errors["whole_photo_mm"][1::2].mean())
    facing = view_features(mp_3d)[2]  # -1: the palm to the camera, +1: the back of the hand
    views = {"palm": facing < -0.3, "edge-on": np.abs(facing) <= 0.3, "back": facing > 0.3}
    results["detector_crop_by_facing_mm"] = {
        name: {"images": int(chosen.sum()), "pa_mpjpe": float(errors["detector_crop_mm"][chosen].mean())}
        for name, chosen in views.items()
    }
    if baseline is not None:
        theirs = per_photo_errors(*predict_photos(baseline, images, focals, mp_2d), mp_3d, mp_2d)
        results["baseline"] = args.compare
        results["paired_vs_baseline"] = paired_differences(errors, theirs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real_photos.json").write_text(json.dumps(results, indent=2))
    montage(images[:: max(1, len(images) // 16)][:16], ours_2d[:: max(1, len(images) // 16)][:16],
            mp_2d[:: max(1, len(images) // 16)][:16], args.out / "real_photos.png")  # fmt: skip
    print(f"{results['images']} real photos that MediaPipe detects ({results['ms_per_image']:.0f} ms/image)")
    print(f"{'':34}{'whole photo':>12}{'detector crop':>15}{'fixed ' + best:>22}")
    print(
        f"{'PA-MPJPE vs MediaPipe 3D (mm)':34}{results['pa_mpjpe_vs_mediapipe_mm']:>12.2f}"
        f"{results['detector_crop_pa_mpjpe_vs_mediapipe_mm']:>15.2f}{fixed[best]:>22.2f}"
    )
    print(
        f"{'mean 2D distance to MediaPipe (px)':34}{results['mean_2d_px_vs_mediapipe']:>12.2f}"
        f"{results['detector_crop_mean_2d_px_vs_mediapipe']:>15.2f}"
    )
    print(f"{'  same, 6 moved boxes (mm)':34}{'':>12}{results['jittered_crop_pa_mpjpe_vs_mediapipe_mm']:>15.2f}")
    print(f"{'  same, 6 moved boxes (px)':34}{'':>12}{results['jittered_crop_mean_2d_px_vs_mediapipe']:>15.2f}")
    print(f"{'spread of predictions (mm)':34}{results['prediction_spread_mm']:>12.2f}")
    print(f"{'odd-numbered half only (mm)':34}{results['odd_half_pa_mpjpe_vs_mediapipe_mm']:>12.2f}")
    by_facing = results["detector_crop_by_facing_mm"].items()
    facing_text = ", ".join(f"{k} {v['pa_mpjpe']:.2f} ({v['images']})" for k, v in by_facing)
    print(f"detector crop by facing, mm (photos): {facing_text}")
    print(
        "whole photo, PA error per finger (mm): "
        + ", ".join(f"{k} {v:.1f}" for k, v in results["per_finger_pa_mm"].items())
    )
    if baseline is not None:
        print(f"paired against {args.compare}: this - baseline per photo, 95 % bootstrap interval of the mean")
        print(f"{'':22}{'this':>8}{'baseline':>10}{'difference':>12}{'95 % interval':>18}{'this better on':>16}")
        for name, row in results["paired_vs_baseline"].items():
            interval = f"[{row['low']:+.2f}, {row['high']:+.2f}]"
            print(
                f"{PAIRED_LABELS[name]:22}{row['this']:>8.2f}{row['baseline']:>10.2f}{row['difference']:>+12.2f}"
                f"{interval:>18}{row['this_better_on'] * 100:>15.0f}%"
            )
    print(f"wrote {args.out / 'real_photos.json'} and {args.out / 'real_photos.png'}")


def load_estimator(checkpoint: str) -> HandPoseEstimator:
    """The estimator for a checkpoint path, or for the model in the package when it is `shipped`."""
    return HandPoseEstimator.default() if checkpoint == "shipped" else HandPoseEstimator.from_checkpoint(checkpoint)


def predict_photos(
    estimator: HandPoseEstimator, images: list, focals: list[float], mp_2d: np.ndarray
) -> tuple[list, list, list[list]]:
    """Predictions (N each) on the whole photos, on the exact detector crops, and one list per moved box."""
    predictions, boxed = [], []
    jittered = [[] for _ in BOX_JITTER]
    for image, focal, landmarks in zip(images, focals, mp_2d, strict=True):
        predictions.append(estimator.predict(image, focal=focal, detect=False))  # the whole photo
        lo, hi = landmarks.min(0), landmarks.max(0)  # the box cliphand.detect makes from MediaPipe's landmarks
        boxes = [jittered_box(lo, hi)] + [jittered_box(lo, hi, dx, dy, scale) for dx, dy, scale in BOX_JITTER]
        exact, *moved = estimator.predict_batch([image] * len(boxes), boxes, focal=focal)
        boxed.append(exact)
        for out, prediction in zip(jittered, moved, strict=True):
            out.append(prediction)
    return predictions, boxed, jittered


def per_photo_errors(whole: list, boxed: list, jittered: list, mp_3d: np.ndarray, mp_2d: np.ndarray) -> dict:
    """The whole-photo, detector-crop and moved-box figures per photo (N,): PA-MPJPE against MediaPipe's
    world landmarks in mm and mean 2D distance to its landmarks in px (the moved boxes' averaged)."""

    def mm(predictions: list) -> np.ndarray:
        ours = np.stack([p.joints_3d for p in predictions])
        return keypoint_errors(mp_3d, procrustes_align(mp_3d, ours)).mean(-1) * 1000

    def px(predictions: list) -> np.ndarray:
        return keypoint_errors(mp_2d, np.stack([p.joints_2d for p in predictions])).mean(-1)

    return {
        "whole_photo_mm": mm(whole),
        "whole_photo_px": px(whole),
        "detector_crop_mm": mm(boxed),
        "detector_crop_px": px(boxed),
        "moved_boxes_mm": np.mean([mm(out) for out in jittered], 0),
        "moved_boxes_px": np.mean([px(out) for out in jittered], 0),
    }


PAIRED_LABELS = {"whole_photo_mm": "whole photo (mm)", "whole_photo_px": "whole photo (px)",
                 "detector_crop_mm": "detector crop (mm)", "detector_crop_px": "detector crop (px)",
                 "moved_boxes_mm": "6 moved boxes (mm)", "moved_boxes_px": "6 moved boxes (px)"}  # fmt: skip


def paired_differences(this: dict, baseline: dict, resamples: int = 4000, seed: int = 0) -> dict:
    """Per figure of `per_photo_errors` (lower is better): the two means, the mean per-photo difference
    this - baseline with its 95 % percentile-bootstrap interval (photos resampled), and the share of
    photos where this is strictly lower (ties, e.g. identical answers, count as not better)."""
    rng = np.random.default_rng(seed)
    rows = {}
    for name, errors in this.items():
        difference = errors - baseline[name]
        draws = rng.integers(0, len(difference), (resamples, len(difference)))
        means = difference[draws].mean(1)
        rows[name] = {
            "this": float(errors.mean()),
            "baseline": float(baseline[name].mean()),
            "difference": float(difference.mean()),
            "low": float(np.percentile(means, 2.5)),
            "high": float(np.percentile(means, 97.5)),
            "this_better_on": float(np.mean(difference < 0)),
        }
    return rows


def jittered_box(lo: np.ndarray, hi: np.ndarray, dx: float = 0, dy: float = 0, scale: float = 1) -> tuple:
    """(x, y, w, h) of the box lo-hi, moved by (dx, dy) times its longer side and scaled about its centre."""
    centre = (lo + hi) / 2 + np.array([dx, dy]) * (hi - lo).max()
    w, h = (hi - lo) * scale
    return (float(centre[0] - w / 2), float(centre[1] - h / 2), float(w), float(h))


def montage(images: list[np.ndarray], ours: np.ndarray, theirs: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cliphand.render.overlay import draw_skeleton

    cols = 8
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, image, a, b in zip(np.atleast_1d(axes).ravel(), images, ours, theirs, strict=False):
        ax.imshow(image)
        ax.plot(b[:, 0], b[:, 1], "w.", markersize=3)
        draw_skeleton(ax, a)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
