"""Skin maps of the synthetic hands: palm side, nails and folds."""

import numpy as np
import pytest

from cliphand.hand import load_hand_model
from cliphand.synth.generator import FOLD_TINT, Generator, SynthConfig
from cliphand.synth.skin import FINGERS, mean_hand, nearest_finger, palm_and_nails, skin_folds


@pytest.fixture(scope="module")
def hand():
    return load_hand_model("openhand")


def test_palms_are_volar_and_nails_sit_on_the_back_of_the_fingertips(hand):
    palm, nails = palm_and_nails(hand)
    verts, joints, _, volar = mean_hand(hand)
    assert 0.2 < (palm > 0.5).mean() < 0.6 and (volar[palm > 0.5] > 0.3).all()
    assert not (palm * nails).any()  # never both
    near = np.linalg.norm(verts[nails > 0][:, None] - joints[[4, 8, 12, 16, 20]][None], axis=-1).argmin(1)
    assert set(near.tolist()) == set(range(5))  # one nail per finger
    assert (volar[nails > 0] < -0.3).all()


def _along(verts, a, b):
    """Each vertex's position along the bone a -> b (m from a) and its distance from the bone's line."""
    axis = (b - a) / np.linalg.norm(b - a)
    t = (verts - a) @ axis
    return t, np.linalg.norm(verts - a - t[:, None] * axis, axis=1)


def test_finger_creases_cross_the_palm_side_at_the_joints_and_leave_the_bones_between_clear(hand):
    folds = skin_folds(hand)
    verts, joints, _, volar = mean_hand(hand)
    owner = nearest_finger(verts, joints)
    for finger, (_, middle, last, tip) in enumerate(FINGERS[1:], start=1):
        for a, b in ((middle, last), (last, tip)):
            t, _ = _along(verts, joints[a], joints[b])
            bone = np.linalg.norm(joints[b] - joints[a])
            on_finger = (owner == finger) & (t > -0.02) & (t < bone + 0.005)
            near = on_finger & (np.abs(t) < 0.006)  # the mesh's rows are ~4 mm apart
            halfway = on_finger & (np.abs(t - bone / 2) < 0.002)  # the middle of the bone
            front, back = near & (volar > 0.3), near & (volar < -0.5)
            assert front.sum() >= 3 and back.sum() >= 3 and halfway.sum() >= 8
            assert folds[front].max() > 0.7, (a, folds[front])  # the crease on the palm side
            assert abs(np.average(t[front], weights=folds[front])) < 0.0025  # centred on the joint
            assert 0.3 < folds[back].max() < 0.55, (a, folds[back])  # fainter wrinkles on the back
            assert folds[halfway].max() < 0.25, (a, folds[halfway])
    assert folds.max() <= 1 and folds.min() >= 0


def test_palm_creases_lie_on_the_palm_and_not_on_the_back(hand):
    folds = skin_folds(hand)
    verts, joints, _, volar = mean_hand(hand)
    knuckles = joints[[5, 9, 13, 17]]
    # Over the metacarpals: nearer the line wrist-middle knuckle than the fingers' first joints.
    t, off = _along(verts, joints[0], joints[9])
    over_palm = (t > 0.015) & (t < 0.8 * np.linalg.norm(joints[9] - joints[0])) & (off < 0.035)
    over_palm &= np.linalg.norm(verts[:, None] - knuckles[None], axis=-1).min(1) > 0.012
    over_palm &= np.linalg.norm(verts[:, None] - joints[None, 1:4], axis=-1).min(1) > 0.02  # not the thumb
    front, back = over_palm & (volar > 0.5), over_palm & (volar < -0.5)
    assert front.sum() > 25 and back.sum() > 25
    assert (folds[front] > 0.5).mean() > 0.1  # lines cross the palm
    assert (folds[front] < 0.1).mean() > 0.4  # and most of it stays clear
    assert folds[back].max() < 0.05


def test_folds_darken_the_skin_only_where_they_are(hand):
    verts = mean_hand(hand)[0]
    plain = Generator(hand, SynthConfig(skin_folds=0.0), seed=1)
    folded = Generator(hand, SynthConfig(skin_folds=0.35), seed=1)
    # _skin draws the hand's tones before the fold depth, so both start from the same albedo.
    a = plain._skin(verts, len(verts), np.random.default_rng(4))
    b = folded._skin(verts, len(verts), np.random.default_rng(4))
    ratio = b / a
    weights = folded.folds
    assert np.allclose(ratio[weights == 0], 1.0)
    deep = weights > 0.8
    assert deep.sum() > 20
    depth = (1 - ratio[deep, 1]) / weights[deep]  # the green channel's darkening per unit of fold
    assert np.allclose(depth, depth[0]) and 0.35 * 0.3 <= depth[0] <= 0.35
    assert (ratio[deep, 0] > ratio[deep, 1]).all()  # red darkens least: creases are red-brown
    assert np.allclose((1 - ratio[deep, 0]) / (1 - ratio[deep, 1]), FOLD_TINT[0])
