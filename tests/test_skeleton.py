import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cliphand.hand.skeleton import (
    JOINT_NAMES,
    PARENTS,
    ROT_PARENTS,
    ROT_TO_FREIHAND,
    axis_angle_to_matrix,
    forward_kinematics,
    linear_blend_skinning,
    matrix_to_axis_angle,
    to_freihand_order,
)


def test_joint_tables_are_consistent():
    assert len(JOINT_NAMES) == 21 and len(PARENTS) == 21 and len(ROT_PARENTS) == 16
    assert sorted(ROT_TO_FREIHAND) == list(range(21))
    # Every non-wrist FreiHAND joint's parent is the previous joint of its finger or the wrist.
    for j, p in enumerate(PARENTS[1:], start=1):
        assert p == (0 if (j - 1) % 4 == 0 else j - 1)
    # The mapping sends MANO's index chain (1, 2, 3) to FreiHAND 5, 6, 7 and the thumb (13-15) to 1-3.
    assert [ROT_TO_FREIHAND.index(i) for i in (1, 2, 3, 13, 14, 15)] == [5, 6, 7, 1, 2, 3]


def test_axis_angle_matches_scipy_and_round_trips():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(200, 3)) * rng.uniform(0, 1, size=(200, 1)) * 2
    aa = np.concatenate([aa, [[0, 0, 0], [1e-9, 0, 0], [math.pi - 1e-5, 0, 0], [0, 0, -math.pi + 1e-4]]])
    ours = axis_angle_to_matrix(torch.tensor(aa, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(aa).as_matrix(), atol=1e-9)
    back = matrix_to_axis_angle(torch.tensor(ours)).numpy()
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), ours, atol=1e-6)


def test_axis_angle_gradient_finite_at_zero():
    aa = torch.zeros(4, 3, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_forward_kinematics_hand_computed_chain():
    # Three joints on the x axis, 1 m apart. Rotate the root 90 deg about z and the middle
    # joint 90 deg about z: joint 1 goes to (0, 1, 0); joint 2 turns another 90 deg -> (-1, 1, 0).
    rest = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [2, 0, 0]]])
    quarter = axis_angle_to_matrix(torch.tensor([0.0, 0, math.pi / 2]))
    rotations = torch.stack([quarter, quarter, torch.eye(3)])[None]
    posed, skinning = forward_kinematics(rotations, rest, parents=(-1, 0, 1))
    np.testing.assert_allclose(posed[0].numpy(), [[0, 0, 0], [0, 1, 0], [-1, 1, 0]], atol=1e-6)
    # A point 0.5 m beyond joint 2 moves rigidly with it.
    point = torch.tensor([2.5, 0, 0, 1])
    np.testing.assert_allclose((skinning[0, 2] @ point)[:3].numpy(), [-1.5, 1, 0], atol=1e-6)


def test_forward_kinematics_identity_keeps_rest_and_translation_free_root():
    rest = torch.randn(2, 16, 3)
    rotations = torch.eye(3).expand(2, 16, 3, 3)
    posed, skinning = forward_kinematics(rotations, rest)
    torch.testing.assert_close(posed, rest)
    torch.testing.assert_close(skinning, torch.eye(4).expand(2, 16, 4, 4))


def test_linear_blend_skinning_blends_two_bones():
    rest = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    rotations = torch.stack([torch.eye(3), axis_angle_to_matrix(torch.tensor([0.0, 0, math.pi / 2]))])[None]
    _, skinning = forward_kinematics(rotations, rest, parents=(-1, 0))
    verts = torch.tensor([[[2.0, 0, 0]]])
    # Fully on bone 1: the point swings to (1, 1, 0); half and half: the midpoint of (2,0,0) and (1,1,0).
    full = linear_blend_skinning(verts, torch.tensor([[0.0, 1.0]]), skinning)
    half = linear_blend_skinning(verts, torch.tensor([[0.5, 0.5]]), skinning)
    np.testing.assert_allclose(full[0, 0].numpy(), [1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(half[0, 0].numpy(), [1.5, 0.5, 0], atol=1e-6)


def test_to_freihand_order_places_tips_last_per_finger():
    rot = torch.arange(16.0)[None, :, None].expand(1, 16, 3)
    tips = (100 + torch.arange(5.0))[None, :, None].expand(1, 5, 3)
    out = to_freihand_order(rot, tips)[0, :, 0].tolist()
    assert out[4] == 100 and out[8] == 101 and out[20] == 104  # thumb, index, pinky tips
    assert out[1:4] == [13, 14, 15] and out[17:20] == [7, 8, 9]


@pytest.mark.parametrize("batch", [1, 5])
def test_forward_kinematics_is_differentiable(batch):
    aa = (0.3 * torch.randn(batch, 16, 3)).requires_grad_()
    rest = torch.randn(batch, 16, 3)
    posed, _ = forward_kinematics(axis_angle_to_matrix(aa), rest)
    posed.square().sum().backward()
    assert aa.grad is not None and torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0
