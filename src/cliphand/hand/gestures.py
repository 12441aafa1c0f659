"""The 19 gesture templates of the PJ module and a nearest-template gesture classifier.

Templates are the 18 HaGRID gestures plus `no_gesture`, written as anatomical joint angles
(pose.py) so that forward kinematics turns them into 21x3 joint sets for any hand model.
HaGRID's orientation pairs (like/dislike, stop/stop_inverted, peace/peace_inverted,
two_up/two_up_inverted) differ mostly in how the hand is turned; their templates also differ
in articulation, following how the gestures are typically held, so that a rotation-invariant
classifier can tell them apart. They are the least certain labels and are named as such in
the docs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from cliphand.hand.model import HandModel, HandModelError
from cliphand.hand.pose import angles_to_axis_angle
from cliphand.hand.skeleton import NUM_ROT_JOINTS, rot_joint_index

GESTURES: tuple[str, ...] = (
    "call", "dislike", "fist", "four", "like", "mute", "ok", "one", "palm", "peace",
    "peace_inverted", "rock", "stop", "stop_inverted", "three", "three2", "two_up",
    "two_up_inverted", "no_gesture",
)  # fmt: skip

# Finger articulations, degrees: (MCP flexion, PIP flexion, DIP flexion, MCP abduction).
STRAIGHT = (0, 0, 0, 0)
CURLED = (85, 100, 65, 0)
TIGHT = (95, 110, 75, 0)
LOOSE = (70, 85, 50, 0)
RELAXED = (30, 40, 25, 0)
# Thumb articulations, degrees: (CMC flexion, CMC abduction, MCP flexion, IP flexion).
THUMB_OUT = (-15, 25, 0, 0)
THUMB_UP = (-10, 5, 0, -10)
THUMB_BACK = (-20, 10, -15, -25)
THUMB_OVER = (45, -5, 35, 45)  # across the curled fingers (fist)
THUMB_TUCKED = (60, 0, 50, 30)  # folded into the palm
THUMB_SIDE = (10, -20, 20, 15)  # resting along the index
THUMB_ALONG = (0, -15, 0, 0)  # straight, against the index
THUMB_RELAXED = (15, 10, 15, 15)


def _spread(finger: tuple[int, ...], degrees: float) -> tuple[int, ...]:
    return (*finger[:3], degrees)


# Per gesture: thumb, index, middle, ring, pinky articulations and a display orientation:
# (roll in degrees about the viewing axis, show the back of the hand). Rolling +90 turns the
# fingers to point left, which makes an extended thumb point up.
TEMPLATE_TABLE: dict[str, tuple] = {
    "call": (THUMB_OUT, CURLED, CURLED, CURLED, _spread(STRAIGHT, -15), (20, False)),
    "dislike": (THUMB_BACK, TIGHT, TIGHT, TIGHT, TIGHT, (-90, False)),
    "fist": (THUMB_OVER, CURLED, CURLED, CURLED, CURLED, (0, False)),
    "four": (THUMB_TUCKED, _spread(STRAIGHT, 8), STRAIGHT, _spread(STRAIGHT, -5), _spread(STRAIGHT, -10), (0, False)),
    "like": (THUMB_UP, LOOSE, LOOSE, LOOSE, LOOSE, (90, False)),
    "mute": (THUMB_SIDE, (15, 5, 0, 0), TIGHT, TIGHT, TIGHT, (0, False)),
    "ok": ((20, -30, 20, 20), (20, 70, 30, 0), _spread(STRAIGHT, -3), _spread(STRAIGHT, -8), _spread(STRAIGHT, -15), (0, False)),
    "one": (THUMB_OVER, STRAIGHT, CURLED, CURLED, CURLED, (0, False)),
    "palm": (THUMB_OUT, _spread(STRAIGHT, 12), STRAIGHT, _spread(STRAIGHT, -10), _spread(STRAIGHT, -20), (0, False)),
    "peace": (THUMB_OVER, _spread(STRAIGHT, 10), _spread(STRAIGHT, -10), CURLED, CURLED, (0, False)),
    "peace_inverted": (THUMB_TUCKED, _spread((10, 5, 5, 0), 16), _spread((10, 5, 5, 0), -16), LOOSE, LOOSE, (180, True)),
    "rock": (THUMB_OVER, STRAIGHT, CURLED, CURLED, _spread(STRAIGHT, -10), (0, False)),
    "stop": (THUMB_ALONG, STRAIGHT, STRAIGHT, STRAIGHT, STRAIGHT, (0, False)),
    "stop_inverted": (THUMB_SIDE, (12, 8, 5, 0), (12, 8, 5, 0), (12, 8, 5, 0), (12, 8, 5, 0), (180, True)),
    "three": (THUMB_OUT, _spread(STRAIGHT, 8), _spread(STRAIGHT, -5), CURLED, CURLED, (0, False)),
    "three2": (THUMB_TUCKED, _spread(STRAIGHT, 8), STRAIGHT, _spread(STRAIGHT, -8), CURLED, (0, False)),
    "two_up": (THUMB_OVER, STRAIGHT, STRAIGHT, CURLED, CURLED, (0, False)),
    "two_up_inverted": (THUMB_SIDE, (20, 10, 5, 0), (20, 10, 5, 0), LOOSE, LOOSE, (180, True)),
    "no_gesture": (THUMB_RELAXED, RELAXED, _spread(RELAXED, -2), _spread(RELAXED, -5), _spread(RELAXED, -10), (0, False)),
}  # fmt: skip


def gesture_angles(name: str) -> torch.Tensor:
    """(16, 3) anatomical angles (flexion, abduction, twist) in radians for one gesture."""
    if name not in TEMPLATE_TABLE:
        raise HandModelError(f"unknown gesture '{name}'; choose one of: {', '.join(GESTURES)}")
    thumb, *fingers, _ = TEMPLATE_TABLE[name]
    angles = torch.zeros(NUM_ROT_JOINTS, 3)
    for finger, (mcp, pip, dip, abduction) in zip(("index", "middle", "ring", "pinky"), fingers, strict=True):
        for level, flexion in enumerate((mcp, pip, dip)):
            angles[rot_joint_index(finger, level), 0] = math.radians(flexion)
        angles[rot_joint_index(finger, 0), 1] = math.radians(abduction)
    cmc_flex, cmc_abd, mcp, ip = thumb
    angles[rot_joint_index("thumb", 0), :2] = torch.tensor([math.radians(cmc_flex), math.radians(cmc_abd)])
    angles[rot_joint_index("thumb", 1), 0] = math.radians(mcp)
    angles[rot_joint_index("thumb", 2), 0] = math.radians(ip)
    return angles


def gesture_pose(model: HandModel, name: str) -> torch.Tensor:
    """(48,) axis-angle pose of `model` holding gesture `name`, wrist unrotated.

    For a model with a mean pose (MANO, flat_hand_mean=False) the mean is subtracted, so
    passing the result to `model` gives the gesture itself.
    """
    if model.num_pca is not None:
        raise HandModelError("gesture poses are axis-angle; load the model without pca_components")
    full = angles_to_axis_angle(gesture_angles(name).to(model.frames), model.frames).reshape(48)
    full[3:] -= model.pose_mean
    return full


def display_rotation(name: str) -> np.ndarray:
    """(3, 3) rotation from the hand frame (x radial, y distal, z volar) to a view frame
    (x right, y up, z toward the viewer) that shows the gesture as people hold it."""
    roll_deg, back = TEMPLATE_TABLE[name][-1]
    r = math.radians(roll_deg)
    roll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    flip = np.diag([-1.0, 1.0, -1.0]) if back else np.eye(3)
    return roll @ flip


def to_hand_frame(points: torch.Tensor, model: HandModel) -> torch.Tensor:
    """(..., 3) points in the model frame -> wrist-frame coordinates (x radial, y distal,
    z volar); the origin is not moved."""
    return points @ model.frames[0].to(points)


FRONTAL_VIEW = np.diag([1.0, -1.0, -1.0])
"""Hand frame (x radial, y distal, z volar) -> camera (x right, y down, z forward) for a right
hand seen palm-on, fingers up: the view FreiHAND's crops cluster around."""


def frontal_hand(model: HandModel, name: str = "no_gesture") -> tuple[torch.Tensor, torch.Tensor]:
    """A gesture seen from the frontal view, wrist at the origin, camera axes:
    (21, 3) joints and (N, 3) vertices in metres. The network's heads start from this hand."""
    with torch.no_grad():
        vertices, joints = model(gesture_pose(model, name)[None])
    to_camera = model.frames[0] @ torch.as_tensor(FRONTAL_VIEW, dtype=joints.dtype).T
    wrist = joints[0, :1]
    return (joints[0] - wrist) @ to_camera, (vertices[0] - wrist) @ to_camera


def gesture_templates(model: HandModel, names: tuple[str, ...] = GESTURES) -> torch.Tensor:
    """(G, 21, 3) joint templates in metres: wrist at the origin, in the hand frame, using the
    model's rest shape. Same frame for every hand model."""
    poses = torch.stack([gesture_pose(model, n) for n in names])
    with torch.no_grad():
        _, joints = model(poses)
    return to_hand_frame(joints - joints[:, :1], model)


def classify_gesture(
    joints: np.ndarray | torch.Tensor, templates: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest gesture template, invariant to rotation, translation and scale.

    Each template is aligned to the pose by a similarity transform (proper rotation, scale,
    translation; Umeyama), and the residual RMS distance is divided by the pose's RMS radius.

    Args:
        joints: (B, 21, 3) or (21, 3) poses.
        templates: (G, 21, 3) templates, e.g. `gesture_templates(model)`.

    Returns:
        labels: (B,) index of the nearest template; distances: (B, G) normalised residuals.
    """
    x = np.asarray(joints, dtype=np.float64).reshape(-1, 21, 3)
    t = np.asarray(templates, dtype=np.float64)
    x = x - x.mean(1, keepdims=True)
    t = t - t.mean(1, keepdims=True)
    x_scale = np.sqrt((x**2).sum((1, 2)) / 21)  # (B,)
    cov = np.einsum("gjc,bjd->bgcd", t, x)  # (B, G, 3, 3): template x pose
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    s[..., 2] *= d  # keep a proper rotation
    t_var = (t**2).sum((1, 2))  # (G,)
    scale = s.sum(-1) / t_var[None]  # (B, G) optimal scale
    residual = (x**2).sum((1, 2))[:, None] - scale * s.sum(-1)
    distances = np.sqrt(np.clip(residual, 0, None) / 21) / x_scale[:, None]
    return distances.argmin(1), distances
