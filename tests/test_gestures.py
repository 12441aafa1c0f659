import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from cliphand.hand import HandModelError, load_hand_model
from cliphand.hand.gestures import GESTURES, classify_gesture, gesture_pose, gesture_templates


@pytest.fixture(scope="module")
def hand():
    return load_hand_model("openhand")


@pytest.fixture(scope="module")
def templates(hand):
    return gesture_templates(hand).numpy()


def test_nineteen_templates(templates):
    assert len(GESTURES) == 19 and GESTURES[-1] == "no_gesture" and len(set(GESTURES)) == 19
    assert templates.shape == (19, 21, 3)
    np.testing.assert_allclose(templates[:, 0], 0.0, atol=1e-7)  # wrist at the origin
    # Distinct articulations: no two templates are the same up to a similarity transform.
    _, distances = classify_gesture(templates, templates)
    off_diagonal = distances[~np.eye(19, dtype=bool)]
    assert off_diagonal.min() > 0.05


def test_classifier_recovers_templates_under_similarity_transforms(templates):
    rng = np.random.default_rng(0)
    for trial in range(5):
        rotations = Rotation.random(19, random_state=trial).as_matrix()
        scales = rng.uniform(0.5, 2000.0, size=(19, 1, 1))  # metres or millimetres alike
        shifts = rng.normal(scale=0.5, size=(19, 1, 3))
        moved = scales * np.einsum("gij,gkj->gki", rotations, templates) + shifts
        labels, _ = classify_gesture(moved, templates)
        assert labels.tolist() == list(range(19))


def test_classifier_tolerates_other_hand_shapes_and_noise(hand, templates):
    rng = np.random.default_rng(1)
    poses = torch.stack([gesture_pose(hand, g) for g in GESTURES])
    shape = torch.tensor(rng.normal(scale=0.7, size=(19, hand.num_shape)), dtype=torch.float32)
    with torch.no_grad():
        _, joints = hand(poses, shape)
    joints = joints.numpy() + rng.normal(scale=0.002, size=joints.shape)
    labels, _ = classify_gesture(joints, templates)
    assert labels.tolist() == list(range(19))


def test_reflection_is_not_a_match(templates):
    # A mirrored (left) hand is not rotated into a right one: the residual grows.
    mirrored = templates * np.array([-1.0, 1.0, 1.0])
    _, distances = classify_gesture(mirrored, templates)
    _, same = classify_gesture(templates, templates)
    assert np.diag(distances).mean() > 5 * np.diag(same).mean() + 0.01


def test_unknown_gesture(hand):
    with pytest.raises(HandModelError, match="unknown gesture 'thumbs'"):
        gesture_pose(hand, "thumbs")
