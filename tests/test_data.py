import json
import warnings

import numpy as np
import pytest
import torch
from data_fixtures import GESTURE_INDEX, write_dexter_object, write_freihand, write_rhd

from cliphand.data import AugmentConfig, DataError, collate_samples, load_dataset
from cliphand.data.geometry import project
from cliphand.data.prompts import COLORS, make_prompt


def _red_centroid(image: np.ndarray) -> np.ndarray:
    red = (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 2] < 80)
    ys, xs = np.nonzero(red)
    return np.array([xs.mean(), ys.mean()])


@pytest.fixture(scope="module")
def freihand_root(tmp_path_factory):
    return write_freihand(tmp_path_factory.mktemp("freihand"))


@pytest.fixture(scope="module")
def rhd_root(tmp_path_factory):
    return write_rhd(tmp_path_factory.mktemp("rhd"))


@pytest.fixture(scope="module")
def dexter_root(tmp_path_factory):
    return write_dexter_object(tmp_path_factory.mktemp("dexter"))


def test_freihand_training_layout(freihand_root):
    ds = load_dataset("freihand", freihand_root, "training")
    assert len(ds) == 12  # 4 versions x 3 annotations
    s = ds[4]  # version 1, annotation 1
    assert s.image.shape == (224, 224, 3) and s.mask.shape == (224, 224) and s.vertices.shape == (778, 3)
    assert s.source.endswith("rgb/00000004.jpg") and s.background is None and ds[1].background == "green"
    assert s.gesture == GESTURE_INDEX["fist"] and ds[0].gesture == GESTURE_INDEX["peace"]
    np.testing.assert_allclose(s.joints_2d, project(s.joints_3d, s.K), atol=1e-9)
    np.testing.assert_allclose(_red_centroid(s.image), s.joints_2d[0], atol=1.5)
    color = s.prompt.split(" on a ")[1].split(" ")[0]
    assert s.prompt == f'an image of a hand on a {color} background in a gesture that means "fist"'
    evaluation = load_dataset("freihand", freihand_root, "evaluation")
    assert len(evaluation) == 3 and evaluation[0].mask is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_augmentation_moves_labels_with_the_pixels(freihand_root, seed):
    cfg = AugmentConfig(rotation_deg=45, scale=(0.8, 1.2), shift=0.08, background_prob=0.0, noise_std=0.0)
    cfg.brightness = cfg.contrast = cfg.saturation = 0.0
    ds = load_dataset("freihand", freihand_root, augment=cfg, seed=seed)
    for index in range(3):
        s = ds[index]
        np.testing.assert_allclose(s.joints_2d, project(s.joints_3d, s.K), atol=1e-9)
        np.testing.assert_allclose(_red_centroid(s.image), s.joints_2d[0], atol=1.5)
        assert abs(s.rotation) <= np.radians(45) and 0.8 <= s.scale <= 1.2
        raw = json.loads((freihand_root / "training_xyz.json").read_text())[index]
        # 3D joints only turn about the optical axis: depth and bone lengths are unchanged.
        np.testing.assert_allclose(s.joints_3d[:, 2], np.asarray(raw)[:, 2], atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(s.vertices[:5] - s.joints_3d[0], axis=1).shape, (5,))


def test_augmentation_is_deterministic_per_seed_epoch_index(freihand_root):
    ds = load_dataset("freihand", freihand_root, augment=AugmentConfig(), seed=3)
    a, b = ds[2], ds[2]
    assert np.array_equal(a.image, b.image) and a.prompt == b.prompt
    ds.set_epoch(1)
    assert not np.array_equal(ds[2].image, a.image)


def test_background_replacement_paints_outside_the_mask(freihand_root):
    cfg = AugmentConfig.none()
    cfg.background_prob, cfg.backgrounds = 1.0, "colors"
    s = load_dataset("freihand", freihand_root, augment=cfg, seed=5)[0]
    assert s.background in COLORS
    outside = s.mask == 0
    np.testing.assert_array_equal(s.image[outside], np.broadcast_to(COLORS[s.background], s.image[outside].shape))
    assert f"on a {s.background} " in s.prompt
    textures = AugmentConfig.none()
    textures.background_prob, textures.backgrounds = 1.0, "textures"
    t = load_dataset("freihand", freihand_root, augment=textures, seed=5)[0]
    assert t.background in COLORS and len(np.unique(t.image[t.mask == 0].reshape(-1, 3), axis=0)) >= 2  # not solid


def test_rhd_picks_the_visible_hand_and_mirrors_left_hands(rhd_root):
    ds = load_dataset("rhd", rhd_root, "training")
    assert len(ds) == 3
    left = ds[1]
    # The fixture's left hand is the mirror image of openhand's "call": mirrored back, the
    # (reflection-sensitive) classifier recognises it.
    assert left.gesture == GESTURE_INDEX["call"] and left.source.endswith("00001.png")
    assert left.mask is not None and left.mask.max() == 255
    # PIL rounds the dot's outline, so its mirror is off by up to half a pixel, which the crop's
    # zoom (about 3x here) magnifies; a wrong mirror would be tens of pixels off.
    np.testing.assert_allclose(_red_centroid(left.image), left.joints_2d[0], atol=2.5)
    assert ds[0].gesture == GESTURE_INDEX["peace"] and ds[2].gesture == GESTURE_INDEX["ok"]
    assert left.visible.all()


def test_dexter_object_fingertips(dexter_root):
    ds = load_dataset("dexter-object", dexter_root)
    assert len(ds) == 2
    s0, s1 = ds[0], ds[1]
    assert s0.visible.sum() == 5 and s1.visible.sum() == 4 and not s1.visible[12]
    assert s0.gesture == GESTURE_INDEX["no_gesture"]
    tips = s0.joints_2d[[4, 8, 12, 16, 20]]
    assert ((tips > 0) & (tips < 224)).all()


def test_collate_and_dataloader(freihand_root):
    ds = load_dataset("freihand", freihand_root, augment=AugmentConfig())
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_samples)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 224, 224) and batch["image"].max() <= 1.0
    assert batch["K"].shape == (4, 3, 3) and batch["vertices"].shape == (4, 778, 3)
    assert batch["has_mask"].all() and len(batch["prompt"]) == 4 and batch["gesture"].dtype == torch.int64


def test_prompt_matches_the_paper():
    assert make_prompt("peace_inverted", "bright") == (
        'an image of a hand on a bright background in a gesture that means "peace inv."'
    )
    assert make_prompt("two_up_inverted", "green").endswith('"two up inv."')
    random_prompt = make_prompt("one", "lime", np.random.default_rng(0))
    assert "a hand on a lime " in random_prompt and random_prompt.endswith('"one"')


def test_corrupt_image_named_or_skipped(tmp_path):
    root = write_freihand(tmp_path / "fh")
    bad = root / "training" / "rgb" / "00000001.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    ds = load_dataset("freihand", root)
    with pytest.raises(DataError, match="corrupt image: .*00000001.jpg"):
        ds[1]
    skipping = load_dataset("freihand", root, on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample = skipping[1]
    assert sample.source.endswith("00000002.jpg") and "00000001.jpg" in str(caught[0].message)


def test_missing_mask_and_bad_annotations(tmp_path):
    root = write_freihand(tmp_path / "fh")
    (root / "training" / "mask" / "00000000.jpg").unlink()
    with pytest.raises(DataError, match="missing mask: .*00000000.jpg"):
        load_dataset("freihand", root)[0]
    text = (root / "training_xyz.json").read_text()
    (root / "training_xyz.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match="corrupt annotation file: .*training_xyz.json"):
        load_dataset("freihand", root)
    (root / "training_xyz.json").write_text(json.dumps(json.loads(text)[:2]))
    with pytest.raises(DataError, match="training_K.json has 3 entries but training_xyz.json has 2"):
        load_dataset("freihand", root)
    with pytest.raises(DataError, match="dataset folder not found"):
        load_dataset("rhd", tmp_path / "nope")


def test_crop_from_a_given_box(freihand_root):
    from dataclasses import replace

    from cliphand.data import HandDataset, dataset_records

    record = dataset_records("freihand", freihand_root)[0]
    u, v = project(record.joints_3d[:1], record.K)[0]
    boxed = replace(record, full_image_box=False, box=(u - 20, v - 20, 40, 40))  # 60 px crop around the wrist
    s = HandDataset([boxed], size=120)[0]
    np.testing.assert_allclose(s.joints_2d[0], [59.5, 59.5], atol=1e-6)  # the wrist sits at the crop centre
    np.testing.assert_allclose(_red_centroid(s.image), s.joints_2d[0], atol=1.5)
    assert s.K[0, 0] == pytest.approx(record.K[0, 0] * 2)  # 60 px -> 120 px


def test_colour_randomisation_turns_hues_keeps_grey_and_greys_out():
    from cliphand.data.augment import AugmentConfig, color_jitter, hue_rotation

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    plain = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0)
    assert np.array_equal(color_jitter(image, np.random.default_rng(1), plain), image)  # defaults: colours unchanged
    turned = color_jitter(
        image, np.random.default_rng(1), AugmentConfig(brightness=0, contrast=0, saturation=0, hue_deg=40)
    )
    assert not np.array_equal(turned, image)
    again = color_jitter(
        image, np.random.default_rng(1), AugmentConfig(brightness=0, contrast=0, saturation=0, hue_deg=40)
    )
    assert np.array_equal(turned, again)  # deterministic per seed
    np.testing.assert_allclose(hue_rotation(0.7) @ [90.0, 90.0, 90.0], [90, 90, 90], atol=1e-9)  # grey stays grey
    np.testing.assert_allclose(hue_rotation(2 * np.pi / 3) @ [255.0, 0, 0], [0, 255, 0], atol=1e-9)  # red -> green
    grey = color_jitter(image, rng, AugmentConfig(brightness=0, contrast=0, saturation=0, gray_prob=1.0))
    assert np.abs(grey.astype(int) - grey[..., :1]).max() <= 1


def test_random_convolution_changes_appearance_keeps_shapes(freihand_root):
    from cliphand.data.augment import random_convolution

    # A bright disc on a dark ground: a shape whose outline must survive, in colours that must not.
    yy, xx = np.mgrid[0:64, 0:64]
    disc = (xx - 32) ** 2 + (yy - 30) ** 2 < 15**2
    image = np.where(disc[..., None], [230, 180, 150], [40, 60, 50]).astype(np.uint8)
    rng = np.random.default_rng(0)
    changes, outline_kept = [], []
    for _ in range(20):
        out = random_convolution(image, rng)
        assert out.shape == image.shape and out.dtype == np.uint8
        changes.append(np.abs(out.astype(int) - image).mean())
        inside, outside = out[disc].astype(float).mean(0), out[~disc].astype(float).mean(0)
        outline_kept.append(np.abs(inside - outside).max() > 20)  # the disc still stands out
    assert np.mean(changes) > 10 and np.mean(outline_kept) >= 0.9
    same = random_convolution(image, np.random.default_rng(5)), random_convolution(image, np.random.default_rng(5))
    assert np.array_equal(*same)  # deterministic per seed
    # In the dataset: on for every crop it changes the pixels, never the labels.
    quiet = {"blur_prob": 0.0, "noise_std": 0.0}  # no later draws that the convolution's own draws could shift
    plain = load_dataset("freihand", freihand_root, augment=AugmentConfig(**quiet), seed=1)[0]
    convolved = load_dataset("freihand", freihand_root, augment=AugmentConfig(random_conv_prob=1.0, **quiet), seed=1)[0]
    assert not np.array_equal(plain.image, convolved.image)
    np.testing.assert_array_equal(plain.joints_2d, convolved.joints_2d)
