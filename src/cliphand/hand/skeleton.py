"""The 21-joint hand skeleton (FreiHAND order) and batched forward kinematics.

Two joint sets appear throughout cliphand:

* the 16 *rotation joints* that carry the pose, in MANO order (wrist, then index, middle,
  pinky, ring, thumb with three joints each), so a 48-value pose vector means the same
  thing for every hand model;
* the 21 *output joints* in FreiHAND order (wrist; thumb, index, middle, ring, pinky, each
  from the base to the tip), made of the 16 rotation joints plus 5 fingertip vertices.
"""

from __future__ import annotations

import torch

JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_mcp", "thumb_pip", "thumb_dip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip
"""FreiHAND / MANO-21 joint order. For the thumb, 'mcp' is the CMC joint, as in FreiHAND."""

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
"""Parent of each of the 21 FreiHAND-order joints (-1 for the wrist)."""

ROT_FINGERS: tuple[str, ...] = ("index", "middle", "pinky", "ring", "thumb")
"""Finger order of the 16 rotation joints (MANO order): joint 1 + 3*k + j is joint j of finger k."""

ROT_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
"""Parent of each of the 16 rotation joints (MANO's kinematic tree)."""

TIP_FINGER_ORDER: tuple[str, ...] = FINGERS
"""The 5 fingertip vertices are listed thumb, index, middle, ring, pinky."""

ROT_TO_FREIHAND: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
"""FreiHAND joint i is entry ROT_TO_FREIHAND[i] of cat([16 rotation joints, 5 tips])."""

NUM_JOINTS = 21
NUM_ROT_JOINTS = 16


def rot_joint_index(finger: str, level: int) -> int:
    """Index among the 16 rotation joints of `finger`'s joint `level` (0 = base, 2 = distal)."""
    return 1 + 3 * ROT_FINGERS.index(finger) + level


def freihand_index(finger: str, level: int) -> int:
    """Index among the 21 FreiHAND joints of `finger`'s joint `level` (0 = base, 3 = tip)."""
    return 1 + 4 * FINGERS.index(finger) + level


def to_freihand_order(rot_joints: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
    """(B,16,3) rotation joints + (B,5,3) tips -> (B,21,3) joints in FreiHAND order."""
    return torch.cat([rot_joints, tips], dim=1)[:, list(ROT_TO_FREIHAND)]


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. (..., 3) axis-angle -> (..., 3, 3) rotation matrices.

    Smooth at zero (uses the Taylor series of sin(t)/t and (1-cos t)/t^2 for tiny angles), so
    gradients stay finite for the rest pose.
    """
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1)
    skew = skew.reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * skew + b * (skew @ skew)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle with angle in [0, pi]."""
    trace = matrix[..., 0, 0] + matrix[..., 1, 1] + matrix[..., 2, 2]
    cos = ((trace - 1.0) / 2.0).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    vee = torch.stack(
        [
            matrix[..., 2, 1] - matrix[..., 1, 2],
            matrix[..., 0, 2] - matrix[..., 2, 0],
            matrix[..., 1, 0] - matrix[..., 0, 1],
        ],
        dim=-1,
    )
    sin = torch.sin(angle)
    out = vee * (angle / (2.0 * sin.clamp_min(1e-8)))[..., None]
    small = angle < 1e-4
    out = torch.where(small[..., None], vee / 2.0, out)
    # Near pi, sin -> 0 and `vee` loses the axis: read it from the symmetric part instead.
    near_pi = angle > torch.pi - 1e-3
    if near_pi.any():
        sym = (matrix + matrix.transpose(-1, -2)) / 2.0 - cos[..., None, None] * torch.eye(
            3, dtype=matrix.dtype, device=matrix.device
        )
        col = sym.diagonal(dim1=-2, dim2=-1).argmax(-1)
        axis = torch.take_along_dim(sym, col[..., None, None].expand(*col.shape, 3, 1), -1)[..., 0]
        axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        sign = torch.where((axis * vee).sum(-1, keepdim=True) < 0, -1.0, 1.0)
        out = torch.where(near_pi[..., None], axis * sign * angle[..., None], out)
    return out


def forward_kinematics(
    rotations: torch.Tensor, rest_joints: torch.Tensor, parents: tuple[int, ...] = ROT_PARENTS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose a kinematic tree.

    Args:
        rotations: (B, J, 3, 3) local rotation of each joint relative to its parent, expressed
            in the rest frame (MANO convention: rest-pose joint frames are world-aligned).
        rest_joints: (B, J, 3) joint positions in the rest pose.
        parents: parent index per joint, -1 for the root; parents come before children.

    Returns:
        posed_joints: (B, J, 3) joint positions after posing.
        skinning: (B, J, 4, 4) transforms taking a rest-pose point to its posed position if it
            moved rigidly with joint j (the matrices linear blend skinning mixes).
    """
    parent_idx = [p if p >= 0 else 0 for p in parents]
    has_parent = torch.tensor([p >= 0 for p in parents], device=rest_joints.device)
    offsets = torch.where(has_parent[None, :, None], rest_joints - rest_joints[:, parent_idx], rest_joints)
    local = _rigid(rotations, offsets)  # (B, J, 4, 4)
    world: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        world.append(local[:, j] if p < 0 else world[p] @ local[:, j])
    world_t = torch.stack(world, dim=1)
    posed_joints = world_t[:, :, :3, 3]
    # Remove the rest position so the transform acts on rest-pose points, not joint-local ones.
    rest_rotated = (world_t[:, :, :3, :3] @ rest_joints[..., None])[..., 0]
    skinning = world_t.clone()
    skinning[:, :, :3, 3] = posed_joints - rest_rotated
    return posed_joints, skinning


def _rigid(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) and (..., 3) -> (..., 4, 4) homogeneous transforms."""
    top = torch.cat([rotation, translation[..., None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def linear_blend_skinning(vertices: torch.Tensor, weights: torch.Tensor, skinning: torch.Tensor) -> torch.Tensor:
    """Linear blend skinning.

    Args:
        vertices: (B, N, 3) rest-pose vertices (after shape and pose correctives).
        weights: (N, J) skinning weights, rows sum to 1.
        skinning: (B, J, 4, 4) transforms from `forward_kinematics`.

    Returns:
        (B, N, 3) posed vertices.
    """
    blended = torch.einsum("nj,bjrc->bnrc", weights, skinning[:, :, :3, :])  # (B, N, 3, 4)
    return (blended[..., :3] @ vertices[..., None])[..., 0] + blended[..., 3]
