"""The shipped model (or a checkpoint) on held-out synthetic images, FreiHAND protocol.

    python bench/synthetic_heldout.py [--checkpoint CKPT] [--images 200 32]

Images come from seed 987 with pinned generator settings (`heldout_config`: any view, forearms,
clutter; 0.3.0's pose mix, no held objects, distractor hands or skin folds, so figures stay
comparable across releases), which no release trains on. Prints, per count, PA-MPJPE,
PA-MPVPE, F@5 and F@15 beside the best fixed template on the same images, and on the first
count's images PA-MPJPE by the hand's size in the image (its joints' box over the image side:
small hands are what whole FreiHAND photos hold, 0.31-0.43; `predict`'s detector crops hold
about 0.59). The 32-image figure is the quality gate that
tests/test_pretrained.py recomputes against docs/model_card.md. Then metric placement on the
first count's images: how far the predicted wrist lands from the true one in the camera frame
(mm, and depth error as a fraction of the true distance) when `predict` is given the image's
true intrinsics, and when it must assume its default camera (focal 1.2 x the image side).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cliphand.data.geometry import project
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import gesture_templates
from cliphand.infer import HandPoseEstimator
from cliphand.synth.generator import Generator, heldout_config

SEED = 987


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    parser.add_argument("--images", type=int, nargs="+", default=[200, 32])
    args = parser.parse_args()
    estimator = HandPoseEstimator.from_checkpoint(args.checkpoint) if args.checkpoint else HandPoseEstimator.default()
    hand = load_hand_model("openhand")
    generator = Generator(hand, heldout_config(), seed=SEED)
    samples = [generator.sample(i) for i in range(max(args.images))]
    predictions = []
    for start in range(0, len(samples), 32):
        predictions += estimator.predict_batch([s.image for s in samples[start : start + 32]])
    templates = gesture_templates(hand).numpy()
    print(f"{'images':>7} {'PA-MPJPE':>9} {'PA-MPVPE':>9} {'F@5':>6} {'F@15':>6} {'best fixed template':>20}")
    for n in args.images:
        gt, gt_verts = np.stack([s.joints_3d for s in samples[:n]]), np.stack([s.vertices for s in samples[:n]])
        pred = np.stack([p.joints_3d for p in predictions[:n]])
        verts = np.stack([p.vertices for p in predictions[:n]])
        scores = evaluate_freihand(gt, gt_verts, pred, verts)
        fixed = min(evaluate_freihand(gt, None, np.repeat(t[None], n, 0), None)["pa_mpjpe_mm"] for t in templates)
        print(f"{n:>7} {scores['pa_mpjpe_mm']:>9.2f} {scores['pa_mpvpe_mm']:>9.2f} {scores['f_score_5mm']:>6.3f} "
              f"{scores['f_score_15mm']:>6.3f} {fixed:>17.2f} mm")  # fmt: skip
    n = args.images[0]
    sizes = np.array([np.ptp(project(s.joints_3d, s.K), axis=0).max() / s.image.shape[0] for s in samples[:n]])
    print("by hand size (joints' box / image side):")
    for lo, hi in ((0.0, 0.45), (0.45, 0.6), (0.6, 0.75), (0.75, 1.01)):
        chosen = [i for i in range(n) if lo <= sizes[i] < hi]
        if chosen:
            gt = np.stack([samples[i].joints_3d for i in chosen])
            pred = np.stack([predictions[i].joints_3d for i in chosen])
            score = evaluate_freihand(gt, None, pred, None)["pa_mpjpe_mm"]
            print(f"  {lo:.2f}-{min(hi, 1):.2f}: {len(chosen):>4} images {score:>7.2f} mm")
    truth = np.stack([s.joints_3d[0] for s in samples[:n]])
    known = np.stack([estimator.predict(s.image, detect=False, intrinsics=s.K).joints_3d[0] for s in samples[:n]])
    guessed = np.stack([p.joints_3d[0] for p in predictions[:n]])
    print(f"wrist placement on {n} images   {'3D error (mm)':>14} {'depth error':>12}")
    for name, wrist in (("true intrinsics", known), ("default camera", guessed)):
        error = np.linalg.norm(wrist - truth, axis=-1) * 1000
        depth = np.abs(wrist[:, 2] - truth[:, 2]) / truth[:, 2]
        print(f"  {name:<29} {np.median(error):>8.1f} med {100 * np.median(depth):>8.1f} % med")


if __name__ == "__main__":
    main()
