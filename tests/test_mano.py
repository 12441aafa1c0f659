import pickle
import sys

import numpy as np
import pytest
import scipy.sparse
import torch
from fake_mano import reference_mano, write_fake_mano

from cliphand.cli import main
from cliphand.hand import HandModelError, load_hand_model
from cliphand.hand.mano import freihand_params


@pytest.fixture(scope="module")
def mano_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mano") / "MANO_RIGHT.pkl"
    arrays = write_fake_mano(path)
    return path, arrays


def test_loads_without_chumpy_and_has_mano_sizes(mano_file):
    path, _ = mano_file
    model = load_hand_model("mano", path=path)
    assert "chumpy" not in sys.modules  # read without importing chumpy
    assert model.num_vertices == 778 and model.faces.shape == (21 * 36 * 2 + 21, 3) and model.num_shape == 10
    assert model.joint_regressor.shape == (16, 778) and model.side == "right"
    assert model.tip_vertex_ids.tolist() == [744, 320, 443, 555, 672]


@pytest.mark.parametrize("flat_hand_mean", [True, False])
def test_axis_angle_matches_reference(mano_file, flat_hand_mean):
    path, arrays = mano_file
    model = load_hand_model("mano", path=path, flat_hand_mean=flat_hand_mean)
    rng = np.random.default_rng(1)
    pose, betas, trans = rng.normal(scale=0.4, size=(3, 48)), rng.normal(size=(3, 10)), rng.normal(size=(3, 3))
    verts, joints = model(torch.tensor(pose), torch.tensor(betas), torch.tensor(trans))
    for i in range(3):
        ref_v, ref_j = reference_mano(arrays, pose[i], betas[i], trans[i], flat_hand_mean)
        np.testing.assert_allclose(verts[i].numpy(), ref_v, atol=2e-5)
        np.testing.assert_allclose(joints[i].numpy(), ref_j, atol=2e-5)


def test_pca_pose_matches_expanded_axis_angle(mano_file):
    path, arrays = mano_file
    model = load_hand_model("mano", path=path, pca_components=12, flat_hand_mean=False)
    coeffs = np.random.default_rng(2).normal(size=(2, 15))
    verts, _ = model(torch.tensor(coeffs))
    for i in range(2):
        full = np.concatenate([coeffs[i, :3], coeffs[i, 3:] @ arrays["hands_components"][:12]])
        ref_v, _ = reference_mano(arrays, full, np.zeros(10), np.zeros(3), flat_hand_mean=False)
        np.testing.assert_allclose(verts[i].numpy(), ref_v, atol=2e-5)
    with pytest.raises(HandModelError, match=r"pose must have shape \(B, 15\)"):
        model(torch.zeros(1, 48))


def test_freihand_vector_puts_root_at_its_backprojection(mano_file):
    path, arrays = mano_file
    model = load_hand_model("mano", path=path, flat_hand_mean=False)
    rng = np.random.default_rng(3)
    K = np.array([[[480.0, 0, 112], [0, 470.0, 110], [0, 0, 1]]])
    uv, scale = np.array([120.0, 95.0]), 1600.0
    mano = np.concatenate([rng.normal(scale=0.3, size=48), rng.normal(size=10), uv, [scale]])[None]
    pose, shape, trans = freihand_params(torch.tensor(mano), torch.tensor(K), model)
    verts, joints = model(pose, shape, trans)
    focal = 0.5 * (K[0, 0, 0] + K[0, 1, 1])
    root = np.array([uv[0] - K[0, 0, 2], uv[1] - K[0, 1, 2], focal]) / scale
    np.testing.assert_allclose(joints[0, 9].numpy(), root, atol=1e-5)
    # Same thing as FreiHAND's own recipe: pose with the mean added, shift joint 9 to the root.
    ref_v, ref_j = reference_mano(arrays, mano[0, :48], mano[0, 48:58], np.zeros(3), flat_hand_mean=False)
    shift = root - ref_j[9]
    np.testing.assert_allclose(verts[0].numpy(), ref_v + shift, atol=2e-5)
    flat = load_hand_model("mano", path=path, flat_hand_mean=True)
    with pytest.raises(HandModelError, match="flat_hand_mean=False"):
        freihand_params(torch.tensor(mano), torch.tensor(K), flat)


def test_left_hand_file_is_marked_left(tmp_path):
    path = tmp_path / "MANO_LEFT.pkl"
    write_fake_mano(path, seed=4)
    assert load_hand_model("mano", path=path).side == "left"


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(HandModelError, match="MANO file not found"):
        load_hand_model("mano", path=tmp_path / "missing.pkl")
    with pytest.raises(HandModelError, match="needs its file"):
        load_hand_model("mano")
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(HandModelError, match="not a readable MANO pickle"):
        load_hand_model("mano", path=garbage)
    not_dict = tmp_path / "list.pkl"
    not_dict.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(HandModelError, match="expected a dict"):
        load_hand_model("mano", path=not_dict)
    partial = tmp_path / "partial.pkl"
    partial.write_bytes(pickle.dumps({"v_template": np.zeros((778, 3)), "f": np.zeros((1, 3))}))
    with pytest.raises(HandModelError, match="missing J_regressor"):
        load_hand_model("mano", path=partial)


def test_cli_reports_bad_mano_path_in_one_line(tmp_path, capsys):
    assert main(["hand", "info", "--model", "mano", "--mano-path", str(tmp_path / "nope.pkl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "MANO file not found" in err


def test_metro_downsampling_file_replaces_the_built_coarse_mesh(mano_file, tmp_path):
    path, arrays = mano_file
    built = load_hand_model("mano", path=path).coarse  # quadric decimation of the fake mesh
    # A METRO-style file whose kept vertices differ from ours: take every 4th vertex.
    keep = np.arange(0, 780, 4)[:195]
    down = scipy.sparse.csc_matrix((np.ones(195), (np.arange(195), keep)), shape=(195, 778))
    up = scipy.sparse.csc_matrix(down.T)
    coarse_adjacency = scipy.sparse.csc_matrix(built.adjacency.astype(float))
    levels = {"A": [built.full_adjacency.astype(float), coarse_adjacency], "D": [down], "U": [up]}
    metro = tmp_path / "mano_downsampling.npz"
    np.savez(metro, **{k: _object_array(v) for k, v in levels.items()})
    model = load_hand_model("mano", path=path, coarse_path=metro)
    assert model.coarse.vertex_ids.tolist() == keep.tolist()
    assert main(["hand", "info", "--model", "mano", "--mano-path", str(path), "--coarse-path", str(metro)]) == 0


def _object_array(items: list) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
