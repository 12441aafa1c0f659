"""Where a hand's skin looks different, as per-vertex weights from the hand model's mean hand:
the palm side, the nails, and the folds (flexion creases and knuckle wrinkles).

Each map is (N,) in [0, 1] over the hand's vertices; the generator blends skin tones by them.
Geometry comes from the rotation centres (the kinematic joints, where the mesh bends), since
that is where skin folds.
"""

from __future__ import annotations

import numpy as np
import torch

from cliphand.hand.model import HandModel
from cliphand.render.raster import vertex_normals

FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
"""Each finger's joints in FreiHAND order, base to tip (the thumb first)."""
FOLD_WIDTH = 0.0025
"""Standard deviation (m) of a finger crease's line across the skin. The mesh's edges are ~4 mm,
so a narrower line would fall between vertices."""
PALM_CREASE_WIDTH = 0.0035
"""The same for the palm's creases, which run at a slant to the mesh's rows and break into
dashes at FOLD_WIDTH."""


def mean_hand(model: HandModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mean hand's (N, 3) vertices, (21, 3) rotation centres (FreiHAND order), (3,) palm
    direction (the hand frame's, out of the palm) and (N,) facing: its normals along it."""
    with torch.no_grad():
        verts, _ = model(torch.zeros(1, 48), torch.zeros(1, model.num_shape))
        joints = model.joints_from_vertices(verts, kinematic=True)
    verts, joints = verts[0].numpy().astype(np.float64), joints[0].numpy().astype(np.float64)
    palm_direction = model.frames[0].numpy()[:, 2].astype(np.float64)
    return verts, joints, palm_direction, vertex_normals(verts, model.faces.numpy()) @ palm_direction


def palm_and_nails(model: HandModel) -> tuple[np.ndarray, np.ndarray]:
    """(N,) weights of the palm side (from the normals) and of the nails (the back of each
    fingertip's last 1.1 cm)."""
    verts, joints, _, volar = mean_hand(model)
    palm = np.clip((volar - 0.1) / 0.5, 0, 1)
    tips = joints[[4, 8, 12, 16, 20]]
    near_tip = np.linalg.norm(verts[:, None] - tips[None], axis=-1).min(1) < 0.011
    nails = np.where(near_tip, np.clip((-volar - 0.3) / 0.4, 0, 1), 0.0)
    return palm, nails


def skin_folds(model: HandModel) -> np.ndarray:
    """(N,) weights of the lines where real skin folds and photos show darker creases: across
    each finger's palm side at its base, middle and last joints (the thumb's at its two joints),
    the palm's three main creases, and fainter wrinkles over the knuckles on the back."""
    verts, joints, palm_direction, volar = mean_hand(model)
    palm_side = np.clip((volar + 0.2) / 0.5, 0, 1)
    back_side = np.clip((-volar + 0.2) / 0.5, 0, 1)
    owner = nearest_finger(verts, joints)
    folds = np.zeros(len(verts))
    for finger, chain in enumerate(FINGERS):
        on_finger = owner == finger
        if finger == 0:  # the thumb: creases at its MCP and IP joints
            across = [(chain[1], chain[2], 0.0), (chain[2], chain[3], 0.0)]
        else:  # the finger's base crease lies partway along the first bone, where it meets the palm
            across = [(chain[0], chain[1], 0.45), (chain[1], chain[2], 0.0), (chain[2], chain[3], 0.0)]
        for start, end, t in across:
            line = _across_bone(verts, joints[start], joints[end], t) * on_finger
            knuckle = 0.5 * back_side if t == 0.0 else 0.0  # the base crease has no wrinkle behind it
            folds = np.maximum(folds, line * (palm_side + knuckle))
    in_palm = (owner < 0) * palm_side
    flat = np.eye(3) - np.outer(palm_direction, palm_direction)  # the palm's skin lies off the joints' plane
    for crease in _palm_creases(joints):
        folds = np.maximum(folds, _near_polyline(verts @ flat, crease @ flat) * in_palm)
    return np.clip(folds, 0, 1)


def nearest_finger(verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N,) the finger (0 thumb ... 4 little) whose bones lie nearest each vertex, or -1 where
    the palm's (wrist to each knuckle, and thumb base to index knuckle) are nearer."""
    bones, owners = [], []
    for finger, chain in enumerate(FINGERS):
        for a, b in zip(chain[:-1], chain[1:], strict=True):
            bones.append((joints[a], joints[b]))
            owners.append(finger)
        bones.append((joints[0], joints[chain[0]]))
        owners.append(-1)
    bones.append((joints[2], joints[5]))  # the web between thumb and index
    owners.append(-1)
    distance = np.stack([_distance_to_segment(verts, a, b) for a, b in bones], axis=1)
    return np.asarray(owners)[distance.argmin(1)]


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _across_bone(verts: np.ndarray, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """A band across the bone a -> b, through the point a fraction t along it."""
    axis = (b - a) / np.linalg.norm(b - a)
    along = (verts - (a + t * (b - a))) @ axis
    return np.exp(-0.5 * (along / FOLD_WIDTH) ** 2)


def _palm_creases(joints: np.ndarray) -> list[np.ndarray]:
    """The distal and proximal transverse creases and the thenar crease, as (K, 3) polylines
    through points placed between the wrist and the knuckles (palm-reading's three lines)."""
    wrist, thumb_base = joints[0], joints[1]
    index, middle, ring, little = joints[5], joints[9], joints[13], joints[17]

    def toward_wrist(knuckle: np.ndarray, fraction: float) -> np.ndarray:
        return knuckle + fraction * (wrist - knuckle)

    outer = little + 0.35 * (little - ring)  # the palm's little-finger edge, beside its knuckle
    distal = [toward_wrist(outer, 0.22), toward_wrist(little, 0.2), toward_wrist(ring, 0.2), (middle + index) / 2]
    proximal = [toward_wrist(index, 0.28), toward_wrist(middle, 0.38), toward_wrist(ring, 0.45),
                toward_wrist(outer, 0.5)]  # fmt: skip
    thenar_mid = (thumb_base + toward_wrist(middle, 0.55)) / 2
    thenar = [toward_wrist(index, 0.28), thenar_mid, wrist + 0.12 * (middle - wrist)]
    return [np.stack(line) for line in (distal, proximal, thenar)]


def _near_polyline(verts: np.ndarray, line: np.ndarray) -> np.ndarray:
    distance = np.stack([_distance_to_segment(verts, a, b) for a, b in zip(line[:-1], line[1:], strict=True)]).min(0)
    return np.exp(-0.5 * (distance / PALM_CREASE_WIDTH) ** 2)
