import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cliphand.cli import main
from cliphand.data import load_dataset
from cliphand.data.geometry import project
from cliphand.eval.metrics import procrustes_align, procrustes_mean
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import GESTURES, classify_gesture, gesture_templates
from cliphand.synth.generator import Generator, SynthConfig
from cliphand.synth.views import PHOTO_FACING, PHOTO_PITCH, PHOTO_ROLL, random_rotation, view_features, view_histograms
from cliphand.synth.writer import write_dataset


@pytest.fixture(scope="module")
def hand():
    return load_hand_model("openhand")


def _grow(mask, steps=1):
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                grown |= np.roll(out, (dy, dx), (0, 1))
        out = grown
    return out


def test_projected_joints_fall_inside_the_mask(hand):
    generator = Generator(hand, SynthConfig(occluder_prob=0.0, object_prob=0.0), seed=1)  # nothing hides a joint
    for index in range(12):
        s = generator.sample(index)
        uv = np.round(project(s.joints_3d, s.K)).astype(int)
        on_hand = _grow(s.mask > 0, 2)[uv[:, 1], uv[:, 0]]
        assert on_hand.all(), (index, np.flatnonzero(~on_hand))
        assert (uv >= 0).all() and (uv < 224).all()


def test_gesture_label_is_the_template_the_pose_came_from(hand):
    generator = Generator(hand, SynthConfig(template_prob=1.0, jitter_deg=0.0), seed=2)
    templates = gesture_templates(hand).numpy()
    seen = set()
    for index in range(25):
        s = generator.sample(index)
        assert s.pose_source == "template"
        assert classify_gesture(s.joints_3d, templates)[0][0] == s.gesture  # the very template, rotated and scaled
        assert f'"{GESTURES[s.gesture].replace("_inverted", " inv.").replace("_", " ")}"' in s.prompt or s.gesture == 18
        seen.add(s.gesture)
    assert len(seen) > 8


def test_model_parameters_reproduce_the_sample(hand):
    s = Generator(hand, seed=3).sample(0)
    verts, joints = hand(s.pose[None], s.shape[None], s.trans[None])
    np.testing.assert_allclose(joints[0].numpy(), s.joints_3d, atol=1e-5)
    np.testing.assert_allclose(verts[0].numpy(), s.vertices, atol=1e-5)


def test_out_of_view_poses_are_resampled_not_written(hand):
    tight = Generator(hand, SynthConfig(fill=(0.95, 1.05)), seed=4)
    for index in range(6):
        s = tight.sample(index)
        uv = project(s.vertices, s.K)
        assert (uv > 1).all() and (uv < 222).all()
    impossible = Generator(hand, SynthConfig(fill=(1.6, 2.0), max_tries=5), seed=4)
    with pytest.raises(RuntimeError, match="sample 3: no pose/camera put the hand in view"):
        impossible.sample(3)


def test_freihand_reader_round_trip_and_same_seed_same_bytes(tmp_path):
    a = write_dataset(tmp_path / "a", 6, seed=7, workers=1, progress=False)
    b = write_dataset(tmp_path / "b", 6, seed=7, workers=2, progress=False)
    for name in ("training_xyz.json", "training_verts.json", "training_mano.json", "training_meta.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for i in range(6):
        for sub in ("rgb", "mask"):
            assert (a / "training" / sub / f"{i:08d}.jpg").read_bytes() == (
                b / "training" / sub / f"{i:08d}.jpg"
            ).read_bytes()
    other = write_dataset(tmp_path / "c", 2, seed=8, progress=False)
    assert (other / "training" / "rgb" / "00000000.jpg").read_bytes() != (
        a / "training" / "rgb" / "00000000.jpg"
    ).read_bytes()

    ds = load_dataset("freihand", a)
    meta = json.loads((a / "training_meta.json").read_text())
    xyz = np.asarray(json.loads((a / "training_xyz.json").read_text()))
    assert len(ds) == 6
    for i in range(6):
        s = ds[i]
        assert s.gesture == meta[i]["gesture_index"] and s.background == meta[i]["background"]
        assert s.vertices.shape == (1609, 3) and s.mask is not None
        np.testing.assert_allclose(s.joints_3d, xyz[i])
        assert s.prompt == meta[i]["prompt"]
    mano = np.asarray(json.loads((a / "training_mano.json").read_text()))
    assert mano.shape == (6, 1, 48 + 10 + 3)
    shapes = {"xyz": (6, 21, 3), "K": (6, 3, 3), "verts": (6, 1609, 3), "scale": (6,)}
    for key, shape in shapes.items():
        assert np.asarray(json.loads((a / f"training_{key}.json").read_text())).shape == shape, key


def test_cli_synth_and_preview(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "set"), "--num", "3", "--backgrounds", "colors"]) == 0
    assert (tmp_path / "set" / "training" / "rgb" / "00000002.jpg").exists()
    info = json.loads((tmp_path / "set" / "synth_info.json").read_text())
    assert info["num"] == 3 and info["hand_model"] == "openhand" and info["config"]["backgrounds"] == "colors"
    assert main(["synth", "preview", "--num", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 10000
    assert main(["synth", "--out", str(tmp_path / "x"), "--backgrounds", str(tmp_path / "nope")]) == 2
    assert "--backgrounds must be" in capsys.readouterr().err


def test_background_folder(tmp_path, hand):
    from PIL import Image

    folder = tmp_path / "bgs"
    folder.mkdir()
    Image.fromarray(np.full((300, 400, 3), (200, 20, 30), np.uint8)).save(folder / "red.png")
    plain = SynthConfig(backgrounds=str(folder), occluder_prob=0, noise_std=(0, 0), white_balance=0, exposure=(1, 1),
                        tone=(1, 1), defocus_prob=0)  # fmt: skip
    s = Generator(hand, plain, seed=5).sample(0)
    corner = s.image[:5, :5].reshape(-1, 3).mean(0)
    assert s.background == "red" and abs(corner[0] - 200) < 12 and corner[1] < 40


def test_synth_with_a_mano_file(tmp_path):
    from fake_mano import write_fake_mano

    mano = tmp_path / "MANO_RIGHT.pkl"
    write_fake_mano(mano)
    out = tmp_path / "set"
    assert main(["synth", "--out", str(out), "--num", "2", "--hand", "mano", "--mano-path", str(mano)]) == 0
    assert np.asarray(json.loads((out / "training_verts.json").read_text())).shape == (2, 778, 3)
    assert np.asarray(json.loads((out / "training_mano.json").read_text())).shape == (2, 1, 61)  # FreiHAND's width


def test_view_spread_keeps_the_palm_toward_the_camera(hand):
    generator = Generator(hand, SynthConfig(view_spread_deg=30.0, template_prob=1.0), seed=6)
    for index in range(8):
        j = generator.sample(index).joints_3d
        volar = np.cross(j[5] - j[0], j[17] - j[0])  # index MCP x pinky MCP: out of the palm
        volar /= np.linalg.norm(volar)
        distal = (j[9] - j[0]) / np.linalg.norm(j[9] - j[0])
        assert volar[2] < -np.cos(np.radians(35))  # facing the camera (camera z points away from it)
        assert distal[1] < -np.cos(np.radians(40))  # fingers up (image y points down)


def test_synth_refuses_a_non_empty_folder_and_overwrite_replaces_it_whole(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--num", "6", "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["synth", "--out", str(out), "--num", "3", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "--overwrite" in err and err.count("\n") == 1
    assert len(list((out / "training" / "rgb").glob("*.jpg"))) == 6  # untouched
    assert main(["synth", "--out", str(out), "--num", "3", "--workers", "1", "--overwrite"]) == 0
    assert len(list((out / "training" / "rgb").glob("*.jpg"))) == 3  # replaced, not mixed
    assert main(["data", "check", "--dataset", "freihand", "--root", str(out)]) == 0


def test_data_check_catches_unlabelled_images_empty_masks_and_nan_labels(tmp_path, capsys):
    out = write_dataset(tmp_path / "s", 5, seed=2, workers=1, progress=False)
    shutil.copy(out / "training" / "rgb" / "00000000.jpg", out / "training" / "rgb" / "00000007.jpg")
    (out / "training" / "mask" / "00000001.jpg").write_bytes(b"")
    xyz = json.loads((out / "training_xyz.json").read_text())
    xyz[3][4][1] = float("nan")
    (out / "training_xyz.json").write_text(json.dumps(xyz))
    assert main(["data", "check", "--dataset", "freihand", "--root", str(out), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    text = "\n".join(problems)
    assert "1 images have no matching labels (e.g. 00000007.jpg)" in text
    assert "corrupt mask" in text and "00000001.jpg" in text
    assert "non-finite values in training_xyz.json, sample 3" in text


def test_synthetic_joints_are_the_regressor_on_the_posed_mesh(hand):
    """FreiHAND's convention: joints = regressor(posed mesh) + tip vertices, so a synthetic label
    equals the network's regress_joints of its own mesh to float precision."""
    from cliphand.model import build_model, load_config

    model = build_model(load_config("tiny"), hand)
    s = Generator(hand, seed=9).sample(0)
    regressed = model.regress_joints(torch.as_tensor(s.vertices, dtype=torch.float32)[None])[0]
    np.testing.assert_allclose(regressed.numpy(), s.joints_3d, atol=2e-6)


def test_forearm_leaves_the_wrist_away_from_the_fingers_with_outward_faces(hand):
    from cliphand.render.raster import vertex_normals
    from cliphand.synth.generator import Forearm

    arm = Forearm(hand.faces.numpy(), hand.num_vertices)
    verts, joints = (x[0].numpy().astype(np.float64) for x in hand(torch.zeros(1, 48), torch.zeros(1, hand.num_shape)))
    scene, faces = arm.attach(verts + [0, 0, 0.6], joints + [0, 0, 0.6], np.random.default_rng(0))
    tube = scene[hand.num_vertices : -1]
    palm_axis = (joints[9] - joints[0]) / np.linalg.norm(joints[9] - joints[0])
    along = (tube - (joints[0] + [0, 0, 0.6])) @ palm_axis
    assert along.max() < 0.01 and along.min() < -0.25  # behind the wrist, at least 25 cm long
    # Outward normals: on the tube they point away from the arm's axis.
    normals = vertex_normals(scene, faces)[hand.num_vertices : -1]
    rings = tube.reshape(len(Forearm.ARM_LEVELS) - 1, -1, 3)
    radial = rings - rings.mean(1, keepdims=True)
    assert ((normals.reshape(rings.shape) * radial).sum(-1)[1:-1] > 0).mean() > 0.9


def test_forearm_is_drawn_and_masked_but_labels_are_the_hand(hand):
    with_arm = Generator(hand, SynthConfig(forearm_prob=1.0, occluder_prob=0.0, sleeve_prob=0.0), seed=4)
    without = Generator(hand, SynthConfig(forearm_prob=0.0, occluder_prob=0.0), seed=4)
    grown = []
    for index in range(6):
        a, b = with_arm.sample(index), without.sample(index)
        np.testing.assert_allclose(a.joints_3d, b.joints_3d)  # same pose and camera: the arm is extra
        assert ((a.mask > 0) | ~(b.mask > 0)).mean() > 0.99  # the hand's pixels stay in the mask
        grown.append((a.mask > 0).sum() / max((b.mask > 0).sum(), 1))
    assert np.mean(grown) > 1.15  # the arm adds visible pixels


def test_clutter_backgrounds_have_edges_everywhere():
    from cliphand.data.augment import background_image

    rng = np.random.default_rng(0)
    covered = []  # per image: the fraction of its 16 tiles with an edge
    for _ in range(20):
        image, word = background_image(224, rng, "clutter")
        gray = image.astype(np.float32).mean(-1)
        edges = np.abs(np.diff(gray, axis=1)) > 12
        covered.append(edges[:, :220].reshape(4, 56, 4, 55).any(axis=(1, 3)).mean())
        assert image.shape == (224, 224, 3) and isinstance(word, str)
    # A few large shapes can leave a quiet corner, but not often (measured: mean 0.95 over
    # 300 images, under half the tiles in 0.7 % of them).
    assert np.mean(covered) >= 0.85 and np.mean(np.array(covered) < 0.5) <= 0.1


def test_mean_colour_is_numpys_mean():
    from cliphand.data.augment import mean_colour

    rng = np.random.default_rng(1)
    for shape in [(224, 224, 3), (37, 53, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(mean_colour(image), image.reshape(-1, 3).mean(0))


def test_fast_blurs_and_blends_match_pil_and_numpy():
    """The synthesis shortcuts compute what they replace, to within rounding."""
    from PIL import ImageFilter

    from cliphand.data.augment import _mix
    from cliphand.synth.generator import _box_blur

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
    for picture in (image, image[:, :1], np.full((9, 9, 3), 77, np.uint8)):  # edges, a 1-px column, flat
        pil = np.asarray(Image.fromarray(picture).filter(ImageFilter.BoxBlur(0.5))).astype(int)
        assert np.abs(_box_blur(picture, 0.5).astype(int) - pil).max() <= 1
    assert (_box_blur(np.full((9, 9, 3), 77, np.uint8), 0.5) == 77).all()
    weight = rng.random((61, 47))
    blended = np.asarray(_mix(Image.fromarray(image), (200, 30, 90), weight)).astype(float)
    expected = image * (1 - weight[..., None]) + np.array([200, 30, 90]) * weight[..., None]
    assert np.abs(blended - expected).max() <= 2


def test_fractal_backgrounds_have_the_requested_spectrum():
    """Amplitude falls as 1/f^beta (natural images: beta ~ 2), measured by a log-log fit of the
    radially averaged spectrum."""
    from cliphand.data.augment import background_image, fractal_noise

    for beta in (1.5, 2.0, 2.5):
        field = fractal_noise(256, np.random.default_rng(1), beta)
        amplitude = np.abs(np.fft.rfft2(field - field.mean()))
        fy, fx = np.fft.fftfreq(256)[:, None], np.fft.rfftfreq(256)[None]
        radius = np.sqrt(fx**2 + fy**2)
        bands = np.geomspace(2 / 256, 0.4, 12)
        means = [amplitude[(radius >= lo) & (radius < hi)].mean() for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
        slope = np.polyfit(np.log(np.sqrt(bands[:-1] * bands[1:])), np.log(means), 1)[0]
        assert slope == pytest.approx(-beta, abs=0.25), (beta, slope)
    image, word = background_image(224, np.random.default_rng(2), "fractal")
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8 and isinstance(word, str)


def test_silhouettes_are_not_dark_rims(hand):
    """Wrapped diffuse and a fill light: vertices seen edge-on (the silhouette) are brighter,
    relative to those facing the camera, than under plain Lambert with a light from the camera,
    which drew a dark outline."""
    from cliphand.render.raster import vertex_normals

    generator = Generator(hand, seed=3)
    ratios = []
    for i in range(20):
        sample = generator.sample(i)
        faces = hand.faces.numpy()
        normals = vertex_normals(sample.vertices, faces)
        facing = (normals * -sample.vertices / np.linalg.norm(sample.vertices, axis=1, keepdims=True)).sum(1)
        lit = generator._shade(sample.vertices, faces, np.full((len(normals), 3), 0.7), np.random.default_rng(i))
        lambert = 0.35 + 0.75 * np.abs(facing)  # the renderer's default shading, light from the camera
        edge, front = np.abs(facing) < 0.15, facing > 0.85
        ratios.append((lit[edge].mean() / lit[front].mean(), lambert[edge].mean() / lambert[front].mean()))
    ours, plain = np.median(ratios, axis=0)
    assert ours > plain + 0.05, (ours, plain)  # measured: 0.48 against 0.39


def _tip_reach(joints: np.ndarray) -> np.ndarray:
    """(N, 5) fingertip-to-wrist distance over wrist-to-middle-MCP length: ~1.8 straight, ~0.7 a fist."""
    palm = np.linalg.norm(joints[:, 9] - joints[:, 0], axis=-1)
    return np.linalg.norm(joints[:, [4, 8, 12, 16, 20]] - joints[:, :1], axis=-1) / palm[:, None]


def test_natural_poses_are_open_on_average_and_vary(hand):
    """The grasp synergy is what keeps the training prior from being mostly fists."""
    generator = Generator(hand, SynthConfig(template_prob=0.0, interpolation_prob=0.0, natural_prob=1.0), seed=9)
    samples = [generator.sample(i) for i in range(40)]
    assert {s.pose_source for s in samples} == {"natural"}
    reach = _tip_reach(np.stack([s.joints_3d for s in samples]))
    templates = _tip_reach(gesture_templates(hand).numpy())
    assert reach[:, 1:].mean() > templates[:, 1:].mean() + 0.1  # fingers more open than the gesture mix
    assert reach[:, 1:].std(0).min() > 0.15  # from nearly flat to grasping, finger by finger
    assert (reach[:, 1:] < 1.2).any() and (reach[:, 1:] > 1.7).any()
    again = Generator(hand, SynthConfig(template_prob=0.0, interpolation_prob=0.0, natural_prob=1.0), seed=9)
    np.testing.assert_array_equal(again.sample(3).joints_3d, samples[3].joints_3d)


def _thumb_angle_deg(joints: np.ndarray) -> np.ndarray:
    """(N,) angle between the wrist-to-thumb-tip direction and the middle finger's metacarpal,
    seen in the palm's plane: 0 along the fingers, 90 straight out sideways."""
    forward = joints[:, 9] - joints[:, 0]
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    side = joints[:, 5] - joints[:, 17]  # toward the index finger
    side -= (side * forward).sum(1, keepdims=True) * forward
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    thumb = joints[:, 4] - joints[:, 0]
    return np.degrees(np.arctan2((thumb * side).sum(1), (thumb * forward).sum(1)))


def test_natural_thumbs_lie_forward_like_real_thumbs(hand):
    """Real relaxed thumbs lie forward beside the index finger (MediaPipe on the FreiHAND
    evaluation photos: 17 degrees on average); cliphand 0.5's natural thumb stuck out at 62."""
    generator = Generator(hand, SynthConfig(template_prob=0.0, interpolation_prob=0.0, natural_prob=1.0))
    angle = _thumb_angle_deg(generator.prior_joints(400))
    assert 5.0 < angle.mean() < 35.0
    assert angle.std() > 10.0  # it still moves


REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "freihand_eval200"


@pytest.mark.skipif(not (REAL / "mediapipe_reference.json").exists(), reason="../shared/real is not here")
def test_pose_prior_mean_is_near_real_hands(hand):
    """The default prior's mean hand against MediaPipe's mean hand on the odd-numbered FreiHAND
    evaluation photos (its angles were fitted on the even ones; bench/pose_prior.py): cliphand
    0.5's prior was 12.1 mm per joint and 36.8 mm at the thumb tip away, 0.6's 8.5 mm per joint
    and 16.3 mm at the index tip."""
    items = [r for r in json.loads((REAL / "mediapipe_reference.json").read_text())["items"] if r["detected"]]
    real = np.stack([np.asarray(r["world_landmarks_m"]) for r in items])[1::2]
    real_mean = procrustes_mean(real)
    prior_mean = procrustes_align(real_mean[None], procrustes_mean(Generator(hand).prior_joints(1000))[None])[0]
    gap_mm = np.linalg.norm(prior_mean - real_mean, axis=-1) * 1000
    assert gap_mm.mean() < 8.0
    assert gap_mm[4] < 25.0  # the thumb tip
    assert gap_mm[[8, 12, 16, 20]].max() < 13.0  # the fingertips


def test_photo_views_follow_the_photos_and_leave_every_view_possible(hand):
    """Rotations drawn by PhotoViews follow the fitted histograms (fingers pointing down: 2 % of
    photos, 25 % of uniform rotations) and are closer to the odd-numbered photos, which the fit
    never saw, than uniform rotations are."""
    views = Generator(hand).photo_views
    rng = np.random.default_rng(0)
    drawn = np.stack([views.rest @ views.draw(rng).T for _ in range(3000)])
    uniform = np.stack([views.rest @ random_rotation(rng).T for _ in range(3000)])
    drawn_shares, uniform_shares = view_histograms(drawn), view_histograms(uniform)
    for shares, target in zip(drawn_shares, (PHOTO_ROLL, PHOTO_PITCH, PHOTO_FACING), strict=True):
        assert np.abs(shares - target).max() < 0.06
        assert shares.min() > 0  # no view is ruled out
    fingers_down = lambda shares: shares[0][[0, -1]].sum()  # noqa: E731
    assert fingers_down(drawn_shares) < 0.06 and fingers_down(uniform_shares) > 0.2
    if not (REAL / "mediapipe_reference.json").exists():
        pytest.skip("real photos absent")
    items = [r for r in json.loads((REAL / "mediapipe_reference.json").read_text())["items"] if r["detected"]]
    odd = view_histograms(np.stack([np.asarray(r["world_landmarks_m"]) for r in items])[1::2])
    distance = lambda a, b: sum(np.abs(x - y).sum() / 2 for x, y in zip(a, b, strict=True))  # noqa: E731
    assert distance(drawn_shares, odd) < 0.5 * distance(uniform_shares, odd)


def test_photo_views_are_drawn_from_the_sample_seed_and_off_by_default(tmp_path, capsys, hand):
    photo, uniform = Generator(hand, SynthConfig(photo_view_prob=1.0), seed=4), Generator(hand, seed=4)
    a, b = photo.sample(3), photo.sample(3)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.joints_3d, b.joints_3d)
    rolls = [view_features(g.sample(i).joints_3d[None])[0] for g in (photo, uniform) for i in range(24)]
    assert not np.allclose(rolls[:24], rolls[24:])
    # the CLI's flag reaches the generator: the dataset holds the same hands
    main(["synth", "--num", "2", "--seed", "4", "--photo-views", "1", "--workers", "1", "--out", str(tmp_path / "d")])
    written = np.asarray(json.loads((tmp_path / "d" / "training_xyz.json").read_text()))
    np.testing.assert_allclose(written[1], photo.sample(1).joints_3d, atol=1e-5)
    capsys.readouterr()
    assert main(["synth", "--photo-views", "0.5", "--view-spread", "70", "--out", str(tmp_path / "e")]) == 2
    assert "--photo-views" in capsys.readouterr().err and not (tmp_path / "e").exists()


def test_distractor_hands_change_the_background_only(hand):
    """A second hand is drawn behind the labelled one from a stream of its own: labels, mask and
    the labelled hand's pixels stay as without it, and it adds skin-coloured pixels elsewhere."""
    from scipy.ndimage import binary_erosion

    still = {"occluder_prob": 0.0, "motion_blur_prob": 0.0, "defocus_prob": 0.0}  # nothing spreads across edges
    with_other = Generator(hand, SynthConfig(distractor_prob=1.0, **still), seed=4)
    without = Generator(hand, SynthConfig(distractor_prob=0.0, **still), seed=4)
    changed = []
    for index in range(6):
        a, b = with_other.sample(index), without.sample(index)
        np.testing.assert_array_equal(a.joints_3d, b.joints_3d)
        np.testing.assert_array_equal(a.mask, b.mask)
        inside = binary_erosion(b.mask > 127, iterations=3)  # away from the blurred edge
        np.testing.assert_array_equal(a.image[inside], b.image[inside])
        outside = b.mask == 0
        changed.append((np.abs(a.image.astype(int) - b.image).max(-1)[outside] > 20).mean())
        assert a.distractor and not b.distractor
    assert min(changed) > 0.0 and np.mean(changed) > 0.03, changed  # every image gets one, most visibly


def test_held_objects_hide_the_hand_behind_them_and_leave_the_labels(hand):
    """Objects in the grip are depth-tested with the hand: the mask loses exactly what they cover,
    labels stay, and a flat hand holds nothing."""
    still = {"occluder_prob": 0.0, "distractor_prob": 0.0}
    holding = Generator(hand, SynthConfig(object_prob=1.0, **still), seed=12)
    empty = Generator(hand, SynthConfig(object_prob=0.0, **still), seed=12)
    hidden, shown = [], []
    for index in range(8):
        a, b = holding.sample(index), empty.sample(index)
        np.testing.assert_array_equal(a.joints_3d, b.joints_3d)
        assert not ((a.mask > 0) & (b.mask == 0)).any()  # an object never adds to the mask
        hidden.append(((b.mask > 0) & (a.mask == 0)).sum())
        shown.append((np.abs(a.image.astype(int) - b.image).max(-1)[b.mask == 0] > 30).sum())
    assert sum(h > 0 for h in hidden) >= 3 and sum(s > 50 for s in shown) >= 3, (hidden, shown)
    with torch.no_grad():
        _, flat = hand(torch.zeros(1, 48), torch.zeros(1, hand.num_shape))
    flat_joints = flat[0].numpy().astype(np.float64) + [0, 0, 0.5]
    assert holding._held_object(flat_joints, np.eye(3), np.random.default_rng(0)) == ("", None)
    kinds = [holding.sample(i).held_object for i in range(8)]
    assert all(k in ("", "sphere", "cylinder", "box") for k in kinds) and sum(k != "" for k in kinds) >= 3


def test_shadows_darken_only_the_hand_and_only_where_it_shadows_itself(hand, monkeypatch, tmp_path):
    """The same samples with the shadow map and with a light that nothing blocks (the same draws):
    shadows never brighten a pixel, never touch the background or labels, and darken some of
    the hand in most images."""
    from cliphand.synth import generator as generator_module

    still = {"occluder_prob": 0.0, "motion_blur_prob": 0.0, "defocus_prob": 0.0, "optical_blur": 0.0}
    config = SynthConfig(shadows=0.7, **still)
    shadowed = [Generator(hand, config, seed=5).sample(i) for i in range(6)]
    # the CLI's flag reaches the generator
    main(["synth", "--num", "1", "--seed", "5", "--shadows", "0.7", "--workers", "1", "--out", str(tmp_path / "d")])
    written = np.asarray(Image.open(tmp_path / "d" / "training" / "rgb" / "00000000.jpg"))
    plain = Generator(hand, SynthConfig(), seed=5).sample(0).image
    assert np.abs(written.astype(int) - Generator(hand, SynthConfig(shadows=0.7), seed=5).sample(0).image).mean() < 3
    assert np.abs(written.astype(int) - plain).mean() > 3
    monkeypatch.setattr(generator_module, "light_visibility", lambda verts, faces, key: np.ones(len(verts)))
    unblocked = [Generator(hand, config, seed=5).sample(i) for i in range(6)]
    darkened = []
    for a, b in zip(shadowed, unblocked, strict=True):
        np.testing.assert_array_equal(a.joints_3d, b.joints_3d)
        np.testing.assert_array_equal(a.mask, b.mask)
        difference = a.image.astype(int) - b.image
        assert difference.max() <= 0
        assert (difference[b.mask == 0] == 0).all()
        darkened.append((difference.min(-1)[b.mask > 0] < -10).mean())
    assert sum(d > 0.01 for d in darkened) >= 3, darkened
