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

CLOSED_DEG = (85.0, 100.0, 65.0)  # MCP, PIP, DIP flexion of a fully closed finger

# Each joint angle of a natural pose is a line in the closure plus noise: per (level, axis), with
# level 0 the MCP (the thumb's CMC), 1 the PIP (MCP), 2 the DIP (IP) and axis 0 flexion,
# 1 abduction (toward the thumb positive), 2 twist, (mean at closure 0, change per unit closure,
# spread) in degrees. The means and slopes are openhand's angles fitted, within its limits, to
# MediaPipe's 3D hands on the even-numbered FreiHAND evaluation photos, against the fingers'
# closure (`python bench/pose_prior.py` prints them). The spread is about 75 % of the fit's residual
# (which carries the fit's own noise) less what FINGER_CLOSURE_SD times the slope already gives,
# and at least 3 degrees. Hand-written priors missed in two places: cliphand 0.5's thumb opposed
# as the hand closed and stuck out sideways (its mean thumb tip 37 mm from MediaPipe's, after
# Procrustes), and 0.6's fingers fanned out (index +10, pinky -18 degrees) and curled evenly,
# where real resting fingers lean toward the middle one and curl more toward the little one
# (its mean index tip 16 mm from MediaPipe's). Measured on the odd half: docs/synthetic.md.
JOINT_ANGLES = {
    "thumb": {(0, 0): (19.0, 35.0, 20.0), (0, 1): (-15.0, 3.0, 11.0), (0, 2): (-2.0, -21.0, 16.0),
              (1, 0): (-9.0, 7.0, 19.0), (1, 1): (-13.0, -2.0, 5.0), (1, 2): (-6.0, -2.0, 14.0),
              (2, 0): (8.0, 11.0, 27.0), (2, 1): (-6.0, -3.0, 3.0), (2, 2): (-4.0, 4.0, 6.0)},
    "index": {(0, 0): (-5.0, 72.0, 15.0), (0, 1): (-15.0, 7.0, 10.0), (0, 2): (-2.0, -3.0, 6.0),
              (1, 0): (13.0, 44.0, 20.0), (2, 0): (16.0, 23.0, 22.0)},
    "middle": {(0, 0): (-2.0, 76.0, 5.0), (0, 1): (-7.0, 13.0, 10.0), (0, 2): (5.0, -10.0, 7.0),
               (1, 0): (-1.0, 119.0, 10.0), (2, 0): (12.0, 29.0, 18.0)},
    "ring": {(0, 0): (1.0, 103.0, 3.0), (0, 1): (-1.0, 1.0, 11.0), (0, 2): (4.0, 6.0, 6.0),
             (1, 0): (-2.0, 113.0, 10.0), (2, 0): (5.0, 45.0, 15.0)},
    "pinky": {(0, 0): (1.0, 150.0, 3.0), (0, 1): (0.0, 16.0, 12.0), (0, 2): (-1.0, 22.0, 6.0),
              (1, 0): (-5.0, 54.0, 10.0), (2, 0): (-6.0, 73.0, 15.0)},
}  # fmt: skip
FINGER_CLOSURE_SD = 0.12
"""How far one finger's closure strays from the hand's (not the thumb's): its joints follow it."""


def natural_angles(rng: np.random.Generator, closure_beta: tuple[float, float] = (0.8, 3.0)) -> np.ndarray:
    """(16, 3) anatomical angles (flexion, abduction, twist) in radians; the wrist is zero.

    closure ~ Beta(closure_beta), mean 0.21: 0 is a flat open hand, 1 a fist. Each finger's own
    closure strays from it by FINGER_CLOSURE_SD, and each of its angles is a line in that closure
    plus noise (JOINT_ANGLES); the thumb's angles are lines in the hand's closure.
    """
    closure = rng.beta(*closure_beta)
    angles = np.zeros((NUM_ROT_JOINTS, 3))
    for finger, table in JOINT_ANGLES.items():
        own = closure if finger == "thumb" else closure + rng.normal(0.0, FINGER_CLOSURE_SD)
        for (level, axis), (mean, per_closure, spread) in table.items():
            angle = mean + per_closure * own + rng.normal(0.0, spread)
            angles[rot_joint_index(finger, level), axis] = np.radians(angle)
    return angles
