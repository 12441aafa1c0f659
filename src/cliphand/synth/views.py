"""How hands face the camera in photos, for synthetic data.

A uniformly random orientation shows a hand with its fingers pointing down as often as up, and
its palm edge-on as often as flat, while people hold hands up to a camera: on the FreiHAND
evaluation photos MediaPipe finds 2 % of hands with the fingers pointing down (more than 135
degrees from up; uniform rotations: 25 %) and 39 % with the palm turned to the camera (facing
below -0.5; uniform: 25 %). `PhotoViews` keeps a uniformly random
rotation with a probability proportional to how much more often photos show its view, one
factor per view feature (below), so the drawn views follow the photos' histograms of each
feature. `SynthConfig.photo_view_prob` turns it on (off by default: training on such views did
not bring the shipped model closer to MediaPipe on real photos; docs/training.md).

Features of a right hand's joints in camera coordinates (x right, y down, z away from the
camera), from the wrist to the middle finger's knuckle (the finger direction) and the palm's
normal (index knuckle x little-finger knuckle, from the wrist):
- roll: the finger direction's angle in the image, 0 = fingers up, 90 = fingers to the right;
- pitch: its angle out of the image plane, positive = fingers pointing away from the camera;
- facing: the palm normal's z, -1 = palm to the camera, +1 = back of the hand to the camera.
"""

from __future__ import annotations

import numpy as np

ROLL_BINS = np.linspace(-180.0, 180.0, 9)
PITCH_BINS = np.linspace(-90.0, 90.0, 7)
FACING_BINS = np.linspace(-1.0, 1.0, 5)

# Share of hands per bin on the 88 even-numbered FreiHAND evaluation photos that MediaPipe
# detects (its 3D landmarks), plus one hand per bin so that no view is ruled out:
# `python bench/pose_prior.py` prints them.
PHOTO_ROLL = (0.010, 0.125, 0.167, 0.156, 0.208, 0.167, 0.135, 0.031)
PHOTO_PITCH = (0.106, 0.362, 0.277, 0.149, 0.085, 0.021)
PHOTO_FACING = (0.359, 0.152, 0.185, 0.304)


def view_features(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 21, 3) right-hand joints, camera frame -> roll (deg), pitch (deg), facing, each (N,)."""
    finger = joints[:, 9] - joints[:, 0]
    finger = finger / np.linalg.norm(finger, axis=1, keepdims=True)
    normal = np.cross(joints[:, 5] - joints[:, 0], joints[:, 17] - joints[:, 0])
    normal = normal / np.linalg.norm(normal, axis=1, keepdims=True)
    roll = np.degrees(np.arctan2(finger[:, 0], -finger[:, 1]))
    pitch = np.degrees(np.arcsin(np.clip(finger[:, 2], -1.0, 1.0)))
    return roll, pitch, normal[:, 2]


def view_histograms(joints: np.ndarray, pseudo_count: float = 0.0) -> tuple[np.ndarray, ...]:
    """(N, 21, 3) joints -> the share of hands in each roll, pitch and facing bin, with
    `pseudo_count` hands added to every bin."""
    features = view_features(joints)
    shares = []
    for values, bins in zip(features, (ROLL_BINS, PITCH_BINS, FACING_BINS), strict=True):
        counts = np.histogram(values, bins)[0] + pseudo_count
        shares.append(counts / counts.sum())
    return tuple(shares)


class PhotoViews:
    """Draws hand-to-camera rotations whose views follow the photos' histograms.

    Args:
        rest_joints: (21, 3) the hand's joints under the identity hand-to-camera rotation.
    """

    def __init__(self, rest_joints: np.ndarray) -> None:
        self.rest = rest_joints - rest_joints[0]
        # The features' histograms under uniform rotations, estimated once with a fixed seed.
        rng = np.random.default_rng(0)
        uniform = np.stack([random_rotation(rng) for _ in range(20000)])
        uniform_shares = view_histograms(np.einsum("nij,kj->nki", uniform, self.rest), pseudo_count=1.0)
        photo_shares = (PHOTO_ROLL, PHOTO_PITCH, PHOTO_FACING)
        self.ratios = [np.asarray(p) / u for p, u in zip(photo_shares, uniform_shares, strict=True)]
        self.ceiling = float(np.prod([r.max() for r in self.ratios]))

    def weight(self, rotation: np.ndarray) -> float:
        """How much more often photos show this view than uniform rotations do, over the maximum."""
        features = view_features((self.rest @ rotation.T)[None])
        ratio = 1.0
        for value, bins, ratios in zip(features, (ROLL_BINS, PITCH_BINS, FACING_BINS), self.ratios, strict=True):
            ratio *= ratios[int(np.clip(np.digitize(value[0], bins) - 1, 0, len(ratios) - 1))]
        return ratio / self.ceiling

    def draw(self, rng: np.random.Generator, max_tries: int = 1000) -> np.ndarray:
        """(3, 3) a hand-to-camera rotation: uniform rotations, each kept with probability weight."""
        for _ in range(max_tries):
            rotation = random_rotation(rng)
            if rng.random() < self.weight(rotation):
                return rotation
        return rotation


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (from a normalised Gaussian quaternion)."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
