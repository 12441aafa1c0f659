"""How far openhand's joints are from MANO's convention, and what that costs a network.

    python bench/joint_convention.py [--checkpoint CKPT ...] [--images 200] [--plot joints.png]

openhand's mesh bends at the joints of the MakeHuman rig it comes from (its rotation centres);
its output joints follow MANO's mean hand (tools/build_openhand.py, docs/hand_models.md).
Prints:
1. each finger bone's length (MCP->PIP, PIP->DIP; thumb CMC->MCP, MCP->IP) for MANO's mean hand,
   openhand's rotation centres and its output joints, all scaled to one palm (the best
   similarity of MANO's palm onto openhand's), and MediaPipe's median on the FreiHAND photos
   when ../shared/real is there (scaled by wrist->middle MCP);
2. the palm joints' distance to MANO's after that similarity;
3. on held-out synthetic hands (seed 987), PA-MPJPE between the two definitions of the same
   posed meshes, and for each --checkpoint its PA-MPJPE against either definition: a network
   trained on one definition pays about the gap against the other.
--plot draws both definitions on the rest hand (front and side) and on a fist.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import gesture_pose
from cliphand.infer import HandPoseEstimator
from cliphand.synth.generator import Generator, heldout_config

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / ".." / "shared" / "real" / "freihand_eval200" / "mediapipe_reference.json"
PALM = [0, 1, 4, 7, 10, 13]  # MANO order: wrist, index, middle, pinky, ring, thumb bases
PALM_NAMES = ["wrist", "index MCP", "middle MCP", "pinky MCP", "ring MCP", "thumb CMC"]
FINGERS = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}  # first joint, MANO order
TO_FREIHAND = [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]  # MANO order -> FreiHAND index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, nargs="*", default=[], help="networks to score (none: skip)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--plot", type=Path, help="write a figure of both joint definitions here")
    args = parser.parse_args()
    hand = load_hand_model("openhand")
    mano_on_palm = _build_tool().mano_on_palm
    output, centres = hand.rest_joints()[:16].numpy(), hand.rest_joints(kinematic=True)[:16].numpy()
    mapped = mano_on_palm(output)

    mediapipe = None
    if PHOTOS.exists():
        items = [r for r in json.loads(PHOTOS.read_text())["items"] if r["detected"]]
        mediapipe = np.stack([np.asarray(r["world_landmarks_m"]) for r in items])[:, TO_FREIHAND]
    print(f"{'bone (mm, one palm)':22}{'MANO':>8}{'rig':>8}{'output':>8}{'MediaPipe':>11}")
    for finger, first in FINGERS.items():
        for k in (1, 2):
            lengths = [np.linalg.norm(x[first + k] - x[first + k - 1]) * 1000 for x in (mapped, centres, output)]
            line = f"{finger + ' ' + str(k):22}" + "".join(f"{v:8.1f}" for v in lengths)
            if mediapipe is not None:
                ratio = _length(mediapipe, first + k, first + k - 1) / _length(mediapipe, 4, 0)
                line += f"{np.median(ratio) * np.linalg.norm(output[4] - output[0]) * 1000:11.1f}"
            print(line)
    print(f"\n{'palm joint (mm from MANO)':26}{'rig':>8}{'output':>8}")
    rig_palm = mano_on_palm(centres)
    for name, j in zip(PALM_NAMES, PALM, strict=True):
        print(f"{name:26}{np.linalg.norm(rig_palm[j] - centres[j]) * 1000:8.1f}"
              f"{np.linalg.norm(mapped[j] - output[j]) * 1000:8.1f}")  # fmt: skip

    if args.plot:
        plot(hand, args.plot)
        print(f"wrote {args.plot}")

    generator = Generator(hand, heldout_config(), seed=987)
    samples = [generator.sample(i) for i in range(args.images)]
    vertices = np.stack([s.vertices for s in samples])
    labels = np.stack([s.joints_3d for s in samples])  # the output joints
    rig = hand.joints_from_vertices(torch.as_tensor(vertices, dtype=torch.float32), kinematic=True).numpy()
    print(f"\non {args.images} held-out synthetic hands (PA-MPJPE, mm)")
    print(f"{'output joints vs rotation centres':44}{_pa(labels, rig):8.2f}")
    for path in args.checkpoint:
        estimator = HandPoseEstimator.from_checkpoint(path)
        predicted = []
        for start in range(0, len(samples), 32):
            predicted += estimator.predict_batch([s.image for s in samples[start : start + 32]])
        joints = np.stack([p.joints_3d for p in predicted])
        print(f"{path.name + ' vs output joints / vs rig':44}{_pa(labels, joints):8.2f}{_pa(rig, joints):8.2f}")


def plot(hand, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 5.5))
    views = [(torch.zeros(1, 48), 0, 1, "rest, front"), (torch.zeros(1, 48), 2, 1, "rest, side (palm to the right)"),
             (gesture_pose(hand, "fist")[None], 0, 1, "fist, front")]  # fmt: skip
    for ax, (pose, a, b, title) in zip(axes, views, strict=True):
        vertices, joints = hand(pose)
        rig = hand.joints_from_vertices(vertices, kinematic=True)[0].numpy()
        vertices, joints = vertices[0].numpy() * 1000, joints[0].numpy() * 1000
        ax.scatter(vertices[:, a], vertices[:, b], s=1, c="0.82")
        ax.scatter(rig[:, a] * 1000, rig[:, b] * 1000, s=22, c="tab:red", label="rotation centres (the rig's joints)")
        ax.scatter(
            joints[:, a], joints[:, b], s=34, c="tab:blue", marker="x", label="output joints (MANO's convention)"
        )
        ax.set_aspect("equal")
        ax.set_title(title)
        ax.set_xlabel("mm")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def _build_tool():
    spec = importlib.util.spec_from_file_location("build_openhand", ROOT / "tools" / "build_openhand.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _length(joints: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)


def _pa(labels: np.ndarray, joints: np.ndarray) -> float:
    return evaluate_freihand(labels, None, joints, None)["pa_mpjpe_mm"]


if __name__ == "__main__":
    main()
