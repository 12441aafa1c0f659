import importlib.util
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cliphand.hand import HandModelError, load_hand_model
from cliphand.hand.gestures import GESTURES, gesture_pose
from cliphand.hand.model import HandModel
from cliphand.hand.openhand import openhand_data
from cliphand.hand.pose import angles_to_axis_angle, axis_angle_to_angles, joint_limits_deg
from cliphand.hand.skeleton import freihand_index, rot_joint_index


@pytest.fixture(scope="module")
def hand():
    return load_hand_model("openhand")


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


def test_size_and_topology(hand):
    faces = hand.faces.numpy()
    assert 700 <= hand.num_vertices <= 2000
    counts = Counter(map(tuple, np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1)))
    assert max(counts.values()) == 2  # manifold: no edge shared by three faces
    boundary = [e for e, n in counts.items() if n == 1]
    # Closed apart from one opening: the boundary edges form a single loop at the wrist.
    loop_vertices = {v for e in boundary for v in e}
    assert len(loop_vertices) == len(boundary) > 0
    verts, joints = hand()
    wrist_to_loop = np.linalg.norm(verts[0].numpy()[list(loop_vertices)] - joints[0, 0].numpy(), axis=1)
    assert wrist_to_loop.max() < 0.04
    assert np.unique(faces).size == hand.num_vertices  # no stray vertices


def test_metric_size_and_fingertips_are_vertices(hand):
    verts, joints = hand()
    length = (joints[0, 12] - joints[0, 0]).norm().item()
    assert 0.17 <= length <= 0.20
    for k, tip in enumerate((4, 8, 12, 16, 20)):
        torch.testing.assert_close(joints[0, tip], verts[0, hand.tip_vertex_ids[k]])


def test_rest_pose_skinning_equals_template(hand):
    verts, _ = hand(torch.zeros(1, 48))
    torch.testing.assert_close(verts[0], hand.v_template)


def test_translation_moves_everything(hand):
    t = torch.tensor([[0.1, -0.2, 0.5]])
    v0, j0 = hand()
    v1, j1 = hand(trans=t)
    torch.testing.assert_close(v1, v0 + t[:, None])
    torch.testing.assert_close(j1, j0 + t[:, None])


def test_shape_parameters_change_size_and_finger_lengths(hand):
    names = hand.shape_names
    assert hand.num_shape == 10 and "size" in names and "index_length" in names

    def bone_length(joints, finger):
        base, tip = freihand_index(finger, 0), freihand_index(finger, 3)
        return (joints[0, tip] - joints[0, base]).norm().item()

    _, rest = hand()
    shape = torch.zeros(1, 10)
    shape[0, names.index("size")] = 1.0
    _, bigger = hand(shape=shape)
    ratio = (bigger[0, 12] - bigger[0, 0]).norm() / (rest[0, 12] - rest[0, 0]).norm()
    assert ratio.item() == pytest.approx(1.06, abs=0.005)
    shape = torch.zeros(1, 10)
    shape[0, names.index("index_length")] = 2.0
    _, longer = hand(shape=shape)
    assert bone_length(longer, "index") > 1.07 * bone_length(rest, "index")
    assert bone_length(longer, "middle") == pytest.approx(bone_length(rest, "middle"), rel=1e-3)


def _edge_lengths(vertices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)


def _face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    t = vertices[faces]
    return np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1) / 2


@pytest.mark.parametrize("gesture", GESTURES)
def test_finger_bends_keep_neighbours_close(hand, gesture):
    faces = hand.faces.numpy()
    edges = _edges(faces)
    rest = hand()[0][0].numpy()
    posed = hand(gesture_pose(hand, gesture)[None])[0][0].numpy()
    stretch_mm = (_edge_lengths(posed, edges) - _edge_lengths(rest, edges)) * 1000
    # No tearing: neighbouring vertices stay within a few millimetres of their rest distance
    # (edges average 5 mm). No collapse: only a few crease triangles on the palm side of a
    # bent joint fold below 5 % of their area, and none vanishes.
    assert stretch_mm.max() < 6.0, stretch_mm.max()
    area_ratio = _face_areas(posed, faces) / _face_areas(rest, faces)
    assert (area_ratio < 0.05).sum() <= 0.005 * len(faces)
    assert area_ratio.min() > 0.001


def test_flexion_curls_toward_the_palm(hand):
    angles = torch.zeros(16, 3)
    angles[rot_joint_index("index", 0), 0] = math.radians(60)
    pose = angles_to_axis_angle(angles, hand.frames).reshape(1, 48)
    _, rest = hand()
    _, bent = hand(pose)
    volar = hand.frames[0][:, 2]
    tip = freihand_index("index", 3)
    assert ((bent[0, tip] - rest[0, tip]) @ volar).item() > 0.03


def test_poses_beyond_limits_are_clamped(hand):
    limits = joint_limits_deg()
    joint = rot_joint_index("middle", 1)  # PIP: flexion up to 110 deg
    assert limits[joint, 0, 1] == 110
    over = torch.zeros(16, 3)
    over[joint, 0] = math.radians(150)
    at = torch.zeros(16, 3)
    at[joint, 0] = math.radians(110)
    v_over, _ = hand(angles_to_axis_angle(over, hand.frames).reshape(1, 48))
    v_at, _ = hand(angles_to_axis_angle(at, hand.frames).reshape(1, 48))
    torch.testing.assert_close(v_over, v_at)
    unclamped = load_hand_model("openhand", clamp_to_limits=False)
    v_free, _ = unclamped(angles_to_axis_angle(over, hand.frames).reshape(1, 48))
    assert (v_free - v_at).abs().max() > 0.005


def test_angles_round_trip(hand):
    angles = 0.3 * torch.randn(3, 16, 3)
    back = axis_angle_to_angles(angles_to_axis_angle(angles, hand.frames), hand.frames)
    torch.testing.assert_close(back, angles)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pose": torch.zeros(1, 45)},
        {"pose": torch.zeros(2, 48), "shape": torch.zeros(3, 10)},
        {"shape": torch.zeros(1, 11)},
        {"trans": torch.zeros(1, 2)},
        {"pose": torch.full((1, 48), float("nan"))},
    ],
)
def test_bad_inputs_raise_clear_errors(hand, kwargs):
    with pytest.raises(HandModelError, match="openhand: (pose|shape|trans)"):
        hand(**kwargs)


def test_unknown_model_name():
    with pytest.raises(HandModelError, match="unknown hand model 'smpl'"):
        load_hand_model("smpl")


def test_left_hand_frames_mirror_the_right_hand(hand):
    from dataclasses import replace

    from cliphand.hand.model import HandModel
    from cliphand.hand.openhand import openhand_data

    data = openhand_data()
    mirror = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    left = HandModel(
        replace(
            data,
            v_template=data.v_template * mirror,
            shapedirs=data.shapedirs * mirror[None, :, None],
            faces=data.faces[:, ::-1].copy(),
            side="left",
        )
    )
    for gesture in ("ok", "call", "peace_inverted"):
        _, right_joints = hand(gesture_pose(hand, gesture)[None])
        _, left_joints = left(gesture_pose(left, gesture)[None])
        torch.testing.assert_close(left_joints, right_joints * torch.from_numpy(mirror), atol=1e-5, rtol=0)


def _build_tool():
    path = Path(__file__).parents[1] / "tools" / "build_openhand.py"
    spec = importlib.util.spec_from_file_location("build_openhand", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_output_joints_follow_manos_convention(hand):
    """The output joints take the palm layout of MANO's mean hand (after the best similarity) and
    its bone lengths, along openhand's own bone lines; the rotation centres stay the rig's."""
    mano = _build_tool().MANO_MEAN_REST_JOINTS  # MANO order, like the first 16 rest joints
    out, centres = hand.rest_joints()[:16].numpy(), hand.rest_joints(kinematic=True)[:16].numpy()
    palm = [0, 1, 4, 7, 10, 13]
    a, b = mano[palm] - mano[palm].mean(0), out[palm] - out[palm].mean(0)
    u, s, vt = np.linalg.svd(b.T @ a)
    scale = s.sum() / (a**2).sum()
    assert np.linalg.det(u @ vt) > 0
    assert np.abs(scale * a @ (u @ vt).T - b).max() < 3e-4  # MANO's palm, to 0.3 mm
    for base in palm[1:]:
        for k in (1, 2):
            line = centres[base + k] - centres[base + k - 1]
            length = (out[base + k] - out[base + k - 1]) @ line / np.linalg.norm(line)  # along the bone
            assert length == pytest.approx(scale * np.linalg.norm(mano[base + k] - mano[base + k - 1]), abs=3e-4)
            off_line = np.linalg.norm(np.cross(out[base + k] - centres[base + k - 1], line)) / np.linalg.norm(line)
            assert off_line < 3e-4  # on the rig's bone line
    assert np.linalg.norm(out[0] - centres[0]) > 0.005  # the wrist is where MANO puts it, not the rig


def test_the_output_joints_do_not_move_the_mesh(hand):
    """Only where the joints are read changes: the mesh bends at the rotation centres as before."""
    data = openhand_data()
    rig_data = replace(data, joint_regressor=data.kinematic_regressor, kinematic_regressor=None)
    rig = HandModel(rig_data, clamp_to_limits=True)
    pose = torch.randn(3, 48, generator=torch.Generator().manual_seed(0)) * 0.4
    (verts, joints), (rig_verts, rig_joints) = hand(pose), rig(pose)
    torch.testing.assert_close(verts, rig_verts)
    gap = (joints - rig_joints).norm(dim=-1)
    assert 0.002 < float(gap.mean()) < 0.008 and float(gap[:, [4, 8, 12, 16, 20]].max()) == 0.0  # tips are vertices
