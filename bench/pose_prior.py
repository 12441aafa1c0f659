"""How far the synthetic pose prior is from real hands, and where its thumb comes from.

    python bench/pose_prior.py [--draws 2000]

Reads MediaPipe's 3D hands on the FreiHAND evaluation photos (../shared/real/freihand_eval200,
evaluation material: nothing trains on it, and no image is read here).
1. Fits openhand's joint angles, within its limits, to MediaPipe's world landmarks on the
   even-numbered photos, and prints for each joint angle a linear fit on the fingers' closure
   (intercept, slope, residual spread) and the spread the generator draws with: the numbers
   behind JOINT_ANGLES in synth/poses.py.
2. On the odd-numbered photos, which that fit never saw, prints for the generator's pose
   sources the distance per joint between the mean hand of its pose prior (Procrustes mean of
   --draws draws) and MediaPipe's mean hand, and the PA-MPJPE of that mean hand used as one fixed
   answer for every photo. A network falls back on its training prior where a photo leaves it
   unsure, so a prior far from real hands costs accuracy on every uncertain joint.
3. Prints how the hands face the camera (synth/views.py): the share of hands per roll, pitch and
   facing bin on the even-numbered photos plus one hand per bin (the numbers behind PHOTO_ROLL,
   PHOTO_PITCH and PHOTO_FACING), and how far uniform rotations and PhotoViews' are from the
   odd-numbered photos (total variation distance per feature).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from cliphand.eval.metrics import procrustes_align, procrustes_mean
from cliphand.hand import load_hand_model
from cliphand.hand.model import HandModel
from cliphand.hand.pose import angles_to_axis_angle, axis_angle_to_angles, clamp_pose
from cliphand.hand.skeleton import rot_joint_index
from cliphand.synth.generator import Generator, SynthConfig
from cliphand.synth.poses import CLOSED_DEG, FINGER_CLOSURE_SD, JOINT_ANGLES
from cliphand.synth.views import PhotoViews, random_rotation, view_histograms

ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200"
JOINT_NAMES = ["wrist"] + [f"{f}{k}" for f in ("thumb", "index", "middle", "ring", "pinky") for k in range(1, 5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=2000, help="poses drawn from each prior")
    parser.add_argument("--iterations", type=int, default=1200, help="Adam steps of the fit")
    args = parser.parse_args()
    if not (ROOT / "mediapipe_reference.json").exists():
        raise SystemExit(f"real photos not found under {ROOT} (see ../shared/real/README.md)")
    items = [r for r in json.loads((ROOT / "mediapipe_reference.json").read_text())["items"] if r["detected"]]
    landmarks = np.stack([np.asarray(r["world_landmarks_m"]) for r in items])
    fit_half, check_half = landmarks[0::2], landmarks[1::2]
    hand = load_hand_model("openhand")

    angles, residual = fit_angles(hand, fit_half, args.iterations)
    angles = np.degrees(angles)
    closure = np.mean([angles[:, rot_joint_index(f, k), 0] / CLOSED_DEG[k] for f in FINGERS for k in (0, 1)], axis=0)
    print(f"openhand fitted to MediaPipe on {len(fit_half)} photos (even half) to {residual:.1f} mm PA-MPJPE")
    print(f"fingers' closure (0 open, 1 a fist): mean {closure.mean():.2f}")
    print(f"{'joint angle (deg)':24}{'at closure 0':>14}{'per closure':>13}{'residual':>10}{'drawn spread':>14}")
    for finger, table in JOINT_ANGLES.items():
        for level, axis in table:
            y = angles[:, rot_joint_index(finger, level), axis]
            slope, intercept = np.polyfit(closure, y, 1)
            residual = (y - (intercept + slope * closure)).std()
            drawn = drawn_spread(residual, slope if finger != "thumb" else 0.0)
            name = f"{finger} {JOINT_LEVELS[finger == 'thumb'][level]} {AXES[axis]}"
            print(f"{name:24}{intercept:>14.1f}{slope:>13.1f}{residual:>10.1f}{drawn:>14.1f}")

    real_mean = procrustes_mean(check_half)
    print(f"\nmean hand of each pose prior against MediaPipe's mean on {len(check_half)} other photos (odd half)")
    print(f"{'prior':28}{'mean gap (mm)':>14}{'worst joint':>20}{'fixed answer PA-MPJPE':>23}")
    priors = {
        "generator default": SynthConfig(),
        "templates only": SynthConfig(template_prob=1.0, interpolation_prob=0.0, natural_prob=0.0),
        "natural only": SynthConfig(template_prob=0.0, interpolation_prob=0.0, natural_prob=1.0),
    }
    with torch.no_grad():  # how close a prior can get: the fitted hands themselves
        radians = torch.as_tensor(np.radians(angles), dtype=torch.float32)
        fitted = hand(angles_to_axis_angle(radians, hand.frames).flatten(1))[1]
    draws = {name: Generator(hand, config).prior_joints(args.draws) for name, config in priors.items()}
    draws["the fit itself (even half)"] = fitted.numpy()
    for name, joints in draws.items():
        prior_mean = procrustes_align(real_mean[None], procrustes_mean(joints)[None])[0]
        gap = np.linalg.norm(prior_mean - real_mean, axis=-1) * 1000
        fixed = procrustes_align(check_half, np.repeat(prior_mean[None], len(check_half), 0))
        pa = np.linalg.norm(fixed - check_half, axis=-1).mean() * 1000
        worst = int(gap.argmax())
        print(f"{name:28}{gap.mean():>14.1f}{JOINT_NAMES[worst] + f' {gap[worst]:.1f}':>20}{pa:>23.1f}")
    print_views(fit_half, check_half, Generator(hand).photo_views)


def print_views(fit_half: np.ndarray, check_half: np.ndarray, views: PhotoViews, draws: int = 5000) -> None:
    """The view histograms of the even half (the generator's table) and each way of drawing
    views against the odd half."""
    names = ("roll", "pitch", "facing")
    print(f"\nhow hands face the camera on {len(fit_half)} photos (even half, one hand added per bin)")
    for name, shares in zip(names, view_histograms(fit_half, pseudo_count=1.0), strict=True):
        print(f"{name:8}" + "".join(f"{share:7.3f}" for share in shares))
    rng = np.random.default_rng(0)
    drawn = {
        "uniform rotations": np.stack([views.rest @ random_rotation(rng).T for _ in range(draws)]),
        "PhotoViews": np.stack([views.rest @ views.draw(rng).T for _ in range(draws)]),
    }
    check = view_histograms(check_half)
    print(f"total variation distance to the {len(check_half)} other photos (odd half)")
    print(f"{'views':20}" + "".join(f"{name:>8}" for name in names))
    for label, joints in drawn.items():
        distances = [np.abs(a - b).sum() / 2 for a, b in zip(view_histograms(joints), check, strict=True)]
        print(f"{label:20}" + "".join(f"{d:8.3f}" for d in distances))


FINGERS = ("index", "middle", "ring", "pinky")
JOINT_LEVELS = {False: ("MCP", "PIP", "DIP"), True: ("CMC", "MCP", "IP")}
AXES = ("flexion", "abduction", "twist")


def drawn_spread(residual: float, slope: float) -> float:
    """The noise a natural pose draws an angle with: 75 % of the fit's residual (the rest is taken
    as the fit's and MediaPipe's own noise), less what a finger's own closure deviation already
    spreads it by, and at least 3 degrees."""
    return max(float(np.sqrt(max((0.75 * residual) ** 2 - (slope * FINGER_CLOSURE_SD) ** 2, 0.0))), 3.0)


def fit_angles(hand: HandModel, joints: np.ndarray, iterations: int) -> tuple[np.ndarray, float]:
    """(B, 21, 3) joints -> (B, 16, 3) anatomical angles (radians) of the hand model whose joints
    match them best after a similarity transform; within the joint limits when the model clamps
    to them (load_hand_model's default); and the fit's PA-MPJPE in mm."""
    target = torch.as_tensor(joints, dtype=torch.float32)
    target = target - target.mean(1, keepdim=True)
    pose = torch.zeros(len(joints), 48, requires_grad=True)
    optimizer = torch.optim.Adam([pose], lr=0.02)
    for _ in range(iterations):
        loss = aligned_distance(hand(pose)[1], target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        residual = float(aligned_distance(hand(pose)[1], target).mean()) * 1000
        full = clamp_pose(hand.full_pose(pose), hand.frames, hand.limits_deg)
        return axis_angle_to_angles(full.reshape(-1, 16, 3), hand.frames).numpy(), residual


def aligned_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, K) distances after the best similarity transform of pred onto a centred target."""
    pred = pred - pred.mean(1, keepdim=True)
    u, s, vt = torch.linalg.svd(pred.transpose(1, 2) @ target)
    flip = torch.sign(torch.det(u @ vt))
    s = torch.cat([s[:, :2], s[:, 2:] * flip[:, None]], dim=1)
    u = torch.cat([u[..., :2], u[..., 2:] * flip[:, None, None]], dim=2)
    scale = s.sum(1) / (pred**2).sum((1, 2))
    return (scale[:, None, None] * pred @ u @ vt - target).norm(dim=-1)


if __name__ == "__main__":
    main()
