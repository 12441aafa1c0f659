"""Anatomical joint frames, joint limits, and conversion between joint angles and axis-angle.

A hand model's 48-value pose holds one axis-angle per rotation joint, expressed in the
world-aligned rest frame (MANO's convention). Joint limits and gesture templates are easier
to write as anatomical angles: flexion (curling toward the palm), abduction (toward the thumb
side of the hand) and twist (about the bone). Each rotation joint gets an orthonormal frame
(flexion axis, abduction axis, twist axis) computed from the model's rest joints, and an
axis-angle vector is converted by expressing it in that frame. The conversion is exact for a
rotation about one anatomical axis and a good approximation for combined ones, which is all
limits and templates need.
"""

from __future__ import annotations

import math

import torch

from cliphand.hand.skeleton import FINGERS, NUM_ROT_JOINTS, ROT_FINGERS

THUMB_FLEX_TILT_DEG = 45.0
"""The thumb curls across the palm, not straight toward it: its flexion target direction is
the palm normal tilted this far toward the little finger side."""

# (flexion, abduction, twist) limits in degrees for each joint level of the four fingers and
# the thumb. Flexion is positive toward the palm, abduction positive toward the thumb side.
FINGER_LIMITS_DEG = (
    ((-30.0, 95.0), (-25.0, 25.0), (-10.0, 10.0)),  # MCP
    ((-5.0, 110.0), (-8.0, 8.0), (-8.0, 8.0)),  # PIP
    ((-15.0, 90.0), (-5.0, 5.0), (-5.0, 5.0)),  # DIP
)
THUMB_LIMITS_DEG = (
    ((-35.0, 70.0), (-40.0, 40.0), (-30.0, 30.0)),  # CMC
    ((-20.0, 75.0), (-15.0, 15.0), (-20.0, 20.0)),  # MCP
    ((-25.0, 90.0), (-8.0, 8.0), (-8.0, 8.0)),  # IP
)


def joint_limits_deg() -> torch.Tensor:
    """(16, 3, 2) min/max of (flexion, abduction, twist) per rotation joint, in degrees.

    The wrist (joint 0) carries the global orientation and is unlimited (+-180).
    """
    limits = torch.empty(NUM_ROT_JOINTS, 3, 2)
    limits[0] = torch.tensor([[-180.0, 180.0]] * 3)
    for k, finger in enumerate(ROT_FINGERS):
        table = THUMB_LIMITS_DEG if finger == "thumb" else FINGER_LIMITS_DEG
        for level in range(3):
            limits[1 + 3 * k + level] = torch.tensor(table[level])
    return limits


def anatomical_frames(rest_joints: torch.Tensor, tips: torch.Tensor, side: str = "right") -> torch.Tensor:
    """Anatomical frame of each rotation joint.

    Args:
        rest_joints: (16, 3) rest-pose rotation joints (MANO order).
        tips: (5, 3) rest-pose fingertips (thumb, index, middle, ring, pinky).
        side: "right" or "left". A left hand gets the mirror image of the right-hand frames
            (as axial vectors), so the same angles give mirror-image poses.

    Returns:
        (16, 3, 3) rotation matrices whose columns are the flexion, abduction and twist axes.
        The wrist's frame is the hand frame: columns = radial (toward the thumb), distal
        (toward the middle finger) and volar (out of the palm).
    """
    if side == "left":
        mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=rest_joints.dtype))
        return -mirror @ anatomical_frames(rest_joints @ mirror, tips @ mirror)
    wrist = rest_joints[0]
    index_mcp = rest_joints[1 + 3 * ROT_FINGERS.index("index")]
    middle_mcp = rest_joints[1 + 3 * ROT_FINGERS.index("middle")]
    pinky_mcp = rest_joints[1 + 3 * ROT_FINGERS.index("pinky")]
    volar = _unit(torch.linalg.cross(index_mcp - wrist, pinky_mcp - wrist))
    distal = _unit(middle_mcp - wrist)
    distal = _unit(distal - (distal @ volar) * volar)
    radial = torch.linalg.cross(distal, volar)

    tip_by_finger = dict(zip(FINGERS, tips, strict=True))
    tilt = math.radians(THUMB_FLEX_TILT_DEG)
    thumb_target = _unit(math.cos(tilt) * volar - math.sin(tilt) * radial)
    frames = torch.empty(NUM_ROT_JOINTS, 3, 3, dtype=rest_joints.dtype)
    frames[0] = torch.stack([radial, distal, volar], dim=1)
    for j in range(1, NUM_ROT_JOINTS):
        finger = ROT_FINGERS[(j - 1) // 3]
        child = tip_by_finger[finger] if (j - 1) % 3 == 2 else rest_joints[j + 1]
        twist = _unit(child - rest_joints[j])
        target = thumb_target if finger == "thumb" else volar
        flex = _unit(torch.linalg.cross(twist, target))  # rotating about it moves the bone toward `target`
        abduct = torch.linalg.cross(twist, flex)  # ~ -target: positive abduction is radial
        frames[j] = torch.stack([flex, abduct, twist], dim=1)
    return frames


def angles_to_axis_angle(angles: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(..., 16, 3) anatomical angles in radians -> (..., 16, 3) axis-angle in the rest frame."""
    return (frames @ angles[..., None])[..., 0]


def axis_angle_to_angles(axis_angle: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(..., 16, 3) axis-angle in the rest frame -> (..., 16, 3) anatomical angles in radians."""
    return (frames.transpose(-1, -2) @ axis_angle[..., None])[..., 0]


def clamp_pose(pose: torch.Tensor, frames: torch.Tensor, limits_deg: torch.Tensor) -> torch.Tensor:
    """Clamp a (B, 48) axis-angle pose to the joint limits; the wrist is left untouched."""
    aa = pose.reshape(pose.shape[0], NUM_ROT_JOINTS, 3)
    angles = axis_angle_to_angles(aa, frames)
    lo = torch.deg2rad(limits_deg[..., 0]).to(angles)
    hi = torch.deg2rad(limits_deg[..., 1]).to(angles)
    clamped = torch.maximum(torch.minimum(angles, hi), lo)
    out = angles_to_axis_angle(clamped, frames)
    out[:, 0] = aa[:, 0]
    return out.reshape_as(pose)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-12)
