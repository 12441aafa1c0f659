"""Natural hand articulations for synthetic data: a one-parameter grasp synergy plus noise.

The gesture templates are mostly signs with curled fingers (fist, like, one...), so sampling
them uniformly makes the average training hand far more closed than hands in photos: on the
FreiHAND evaluation photos, MediaPipe's fingertips sit 1.3-1.7 palm lengths from the wrist,
the template mix's 1.0-1.5. A network trained on that prior falls back to a curled hand when
unsure. Real hands move mostly along a few synergies, the first of which opens and closes
all fingers together (Santello et al., 1998); sampling that closure, skewed toward open, and
adding per-finger variation gives the relaxed, half-open and grasping hands cameras see.
"""

from __future__ import annotations

import numpy as np

from cliphand.hand.skeleton import NUM_ROT_JOINTS, rot_joint_index

FINGERS_ULNAR_CURL = {"index": 0.0, "middle": 0.03, "ring": 0.08, "pinky": 0.12}
"""Resting hands curl the ring and little fingers a little more than the index."""
FINGERS_SPREAD_DEG = {"index": 10.0, "middle": 0.0, "ring": -8.0, "pinky": -18.0}
"""MCP abduction of a wide-open hand (toward the thumb side positive)."""
CLOSED_DEG = (85.0, 100.0, 65.0)  # MCP, PIP, DIP flexion of a fully closed finger

# The thumb, as (mean at closure 0, change per unit closure, spread) in degrees. The thumb of
# cliphand 0.5 opposed in proportion to the closure and stuck out sideways: its prior's mean
# thumb tip sat 37 mm (after Procrustes) from MediaPipe's mean on FreiHAND evaluation photos, the
# largest gap of any joint, and a network trained on it put real thumbs there too. These means
# and slopes are openhand's angles fitted, within its limits, to MediaPipe's 3D hands on the
# even-numbered half of those photos, against the fingers' closure (`python bench/pose_prior.py`);
# the spreads are 65-85 % of the fit's residuals, which carry the fit's own noise. On the odd
# half the mean thumb tip gap falls to 18 mm (docs/synthetic.md).
THUMB_CMC_FLEXION = (19.0, 34.0, 20.0)
THUMB_CMC_ABDUCTION = (-15.0, 0.0, 13.0)
THUMB_MCP_FLEXION = (-9.0, 7.0, 18.0)
THUMB_MCP_ABDUCTION = (-12.0, 0.0, 4.0)
THUMB_IP_FLEXION = (8.0, 11.0, 25.0)
THUMB_IP_ABDUCTION = (-6.0, 0.0, 3.0)


def natural_angles(rng: np.random.Generator, closure_beta: tuple[float, float] = (0.8, 3.0)) -> np.ndarray:
    """(16, 3) anatomical angles (flexion, abduction, twist) in radians; the wrist is zero.

    closure ~ Beta(closure_beta), mean 0.21: 0 is a flat open hand, 1 a fist. Each finger
    deviates from it by ~0.15; its PIP and DIP follow its MCP loosely; its spread shrinks as
    the hand closes; the thumb follows real thumbs (THUMB_*), curling a little with the closure.
    """
    closure = rng.beta(*closure_beta)
    angles = np.zeros((NUM_ROT_JOINTS, 3))
    for finger, extra in FINGERS_ULNAR_CURL.items():
        c = np.clip(closure + extra + rng.normal(0.0, 0.15), -0.2, 1.05)
        mcp, pip, dip = (c * np.array(CLOSED_DEG)) * rng.uniform(0.8, 1.2, 3) + rng.normal(0.0, 6.0, 3)
        spread = (1.0 - max(c, 0.0)) * rng.uniform(0.2, 1.2) * FINGERS_SPREAD_DEG[finger] + rng.normal(0.0, 3.0)
        for level, flexion in enumerate((mcp, max(pip, -5.0), max(dip, -10.0))):
            angles[rot_joint_index(finger, level), 0] = np.radians(flexion)
        angles[rot_joint_index(finger, 0), 1] = np.radians(spread)
        angles[rot_joint_index(finger, 0), 2] = np.radians(rng.normal(0.0, 3.0))
    thumb = {  # (joint level, angle) -> (mean at closure 0, change per unit closure, spread), degrees
        (0, 0): THUMB_CMC_FLEXION,
        (0, 1): THUMB_CMC_ABDUCTION,
        (1, 0): THUMB_MCP_FLEXION,
        (1, 1): THUMB_MCP_ABDUCTION,
        (2, 0): THUMB_IP_FLEXION,
        (2, 1): THUMB_IP_ABDUCTION,
    }
    for (level, axis), (mean, per_closure, spread) in thumb.items():
        angles[rot_joint_index("thumb", level), axis] = np.radians(
            mean + per_closure * closure + rng.normal(0.0, spread)
        )
    return angles
