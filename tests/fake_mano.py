"""A fake MANO pickle with MANO's keys and shapes, written the way the official files are:
chumpy arrays (a stand-in `chumpy.ch.Ch` class, removed again after pickling) and a scipy
sparse joint regressor. Also an independent numpy reference of MANO's forward pass."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy.spatial.transform import Rotation

N_VERTS = 778
SEGMENTS, RINGS = 21, 37  # a tube open at one end, closed by a tip vertex: 21 * 37 + 1 = 778
KINTREE = np.array([[4294967295, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14], list(range(16))], dtype=np.int64)
MANO_TO_FREIHAND = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]
TIPS = [744, 320, 443, 555, 672]


def tube_mesh() -> tuple[np.ndarray, np.ndarray]:
    """A finger-like tube (778 vertices), open at y = 0 like MANO's wrist."""
    angle = np.linspace(0, 2 * np.pi, SEGMENTS, endpoint=False)
    y = np.linspace(0.0, 0.18, RINGS)
    radius = 0.03 * (1.0 - 0.5 * y / 0.18)
    ring = np.stack([np.cos(angle), np.zeros_like(angle), np.sin(angle)], 1)
    verts = (radius[:, None, None] * ring[None] + y[:, None, None] * np.array([0, 1, 0])).reshape(-1, 3)
    verts = np.concatenate([verts, [[0, 0.19, 0]]])
    faces = []
    for r in range(RINGS - 1):
        for s in range(SEGMENTS):
            a, b = r * SEGMENTS + s, r * SEGMENTS + (s + 1) % SEGMENTS
            faces += [[a, a + SEGMENTS, b], [b, a + SEGMENTS, b + SEGMENTS]]
    last = (RINGS - 1) * SEGMENTS
    faces += [[last + s, N_VERTS - 1, last + (s + 1) % SEGMENTS] for s in range(SEGMENTS)]
    return verts, np.array(faces)


def fake_mano_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    v_template, faces = tube_mesh()
    regressor = np.zeros((16, N_VERTS))
    for j in range(16):
        ids = rng.choice(N_VERTS, size=8, replace=False)
        regressor[j, ids] = rng.uniform(0.5, 1.0, size=8)
    regressor /= regressor.sum(1, keepdims=True)
    weights = rng.uniform(size=(N_VERTS, 16)) ** 4
    weights /= weights.sum(1, keepdims=True)
    return {
        "v_template": v_template,
        "f": faces.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": weights,
        "shapedirs": rng.normal(scale=0.01, size=(N_VERTS, 3, 10)),
        "posedirs": rng.normal(scale=0.01, size=(N_VERTS, 3, 135)),
        "kintree_table": KINTREE,
        "hands_components": np.linalg.qr(rng.normal(size=(45, 45)))[0],
        "hands_mean": rng.normal(scale=0.2, size=45),
        "bs_style": "lbs",
    }


def write_fake_mano(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Pickle fake MANO arrays with chumpy-wrapped v_template/shapedirs/posedirs/weights."""
    arrays = fake_mano_arrays(seed)
    chumpy = types.ModuleType("chumpy")
    chumpy_ch = types.ModuleType("chumpy.ch")

    class Ch:  # pickled as chumpy.ch.Ch with its array in state["x"], as chumpy does
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    chumpy_ch.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, chumpy_ch
    try:
        payload = dict(arrays)
        for key in ("v_template", "shapedirs", "posedirs", "weights"):
            payload[key] = Ch(arrays[key])
        path.write_bytes(pickle.dumps(payload, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    return arrays


def reference_mano(arrays, pose48, betas, trans, flat_hand_mean=True):
    """MANO forward pass for one sample, written plainly in numpy: (778,3) verts, (21,3) joints."""
    pose = np.asarray(pose48, dtype=np.float64).copy()
    if not flat_hand_mean:
        pose[3:] += arrays["hands_mean"]
    v_shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    joints = arrays["J_regressor"].toarray() @ v_shaped
    rots = Rotation.from_rotvec(pose.reshape(16, 3)).as_matrix()
    pose_feature = (rots[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + arrays["posedirs"] @ pose_feature
    parents = KINTREE[0].astype(np.int64)
    world = [None] * 16
    for j in range(16):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j > 0 else 0)
        world[j] = local if j == 0 else world[parents[j]] @ local
    skin = []
    for j in range(16):
        g = world[j].copy()
        g[:3, 3] -= g[:3, :3] @ joints[j]
        skin.append(g)
    skin = np.stack(skin)
    blended = np.einsum("nj,jab->nab", arrays["weights"], skin)
    homo = np.concatenate([v_posed, np.ones((N_VERTS, 1))], 1)
    verts = np.einsum("nab,nb->na", blended, homo)[:, :3]
    # FreiHAND's official utils/model.py: Jtr = J_regressor @ V on the posed mesh.
    posed_joints = arrays["J_regressor"].toarray() @ verts
    all21 = np.concatenate([posed_joints, verts[TIPS]])[MANO_TO_FREIHAND]
    return verts + trans, all21 + trans
