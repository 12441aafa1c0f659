"""The pipeline shared by every reader: read, mirror, crop, augment, label, prompt.

A reader lists `Record`s (paths and annotations); `HandDataset` turns record i into a
`HandSample`, deterministically for a given seed, epoch and index.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cliphand.data import augment, geometry
from cliphand.data.prompts import make_prompt, nearest_color
from cliphand.data.sample import HandSample
from cliphand.hand.gestures import GESTURES

NO_GESTURE = GESTURES.index("no_gesture")


class DataError(ValueError):
    """A dataset file that is missing, corrupt or inconsistent, named in a one-line message."""


@dataclass
class Record:
    """What a reader knows about one sample before any image is read."""

    image_path: Path
    K: np.ndarray  # (3, 3)
    joints_3d: np.ndarray  # (21, 3) camera frame, FreiHAND order, as annotated (maybe left)
    visible: np.ndarray  # (21,) bool
    vertices: np.ndarray | None = None  # (V, 3)
    mask_path: Path | None = None
    mask_labels: tuple[int, int] | None = None  # label range (lo, hi) of the hand in a label mask
    gesture: int | None = None
    background: str | None = None
    full_image_box: bool = False  # the image is already a hand crop (FreiHAND)
    box: tuple[float, float, float, float] | None = None  # hand box (x, y, w, h) in pixels, if known
    is_left: bool = False  # mirror into a right hand
    complete_3d: bool = True  # all 21 joints annotated in 3D (not so for Dexter+Object)
    source: str = ""
    group: int = -1  # records of one annotation (FreiHAND's image versions) share a group


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, or DataError naming the file."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"missing image: {path}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"corrupt image: {path} ({exc})") from None


def read_mask(path: Path, labels: tuple[int, int] | None) -> np.ndarray:
    """(H, W) uint8 mask, 255 on the hand. A label mask keeps labels lo..hi (inclusive)."""
    try:
        with Image.open(path) as img:
            mask = np.asarray(img.convert("L"))
    except FileNotFoundError:
        raise DataError(f"missing mask: {path}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"corrupt mask: {path} ({exc})") from None
    if labels is not None:
        return np.where((mask >= labels[0]) & (mask <= labels[1]), 255, 0).astype(np.uint8)
    return np.where(mask > 127, 255, 0).astype(np.uint8)


@lru_cache(maxsize=1)
def _gesture_templates() -> np.ndarray:
    from cliphand.hand import load_hand_model
    from cliphand.hand.gestures import gesture_templates

    return gesture_templates(load_hand_model("openhand")).numpy()


def classify(joints_3d: np.ndarray) -> int:
    """Nearest of the 19 gesture templates for a (21, 3) right-hand pose."""
    from cliphand.hand.gestures import classify_gesture

    labels, _ = classify_gesture(joints_3d[None], _gesture_templates())
    return int(labels[0])


class HandDataset(torch.utils.data.Dataset):
    """Map-style dataset of HandSample over a list of Records.

    Args:
        records: what the reader found.
        size: crop side in pixels.
        augment: AugmentConfig for training, None for evaluation.
        seed: samples are a function of (seed, epoch, index).
        on_error: "raise" stops at a bad file with its name; "skip" warns and uses the next
            sample instead.
        random_prompts: vary the prompt's opening and place words (training).
    """

    def __init__(
        self,
        records: list[Record],
        size: int = 224,
        augment: augment.AugmentConfig | None = None,
        seed: int = 0,
        on_error: str = "raise",
        random_prompts: bool | None = None,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.records = records
        self.size = size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.on_error = on_error
        self.random_prompts = augment is not None if random_prompts is None else random_prompts

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> HandSample:
        for attempt in range(min(len(self), 20)):
            i = (index + attempt) % len(self)
            try:
                sample = self.make_sample(i)
                sample.skipped = attempt
                return sample
            except DataError as exc:
                if self.on_error == "raise":
                    raise
                warnings.warn(f"skipping sample {i}: {exc}", stacklevel=2)
        raise DataError(f"20 consecutive bad samples from index {index}; is the dataset readable?")

    def make_sample(self, index: int) -> HandSample:
        record = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = read_image(record.image_path)
        mask = read_mask(record.mask_path, record.mask_labels) if record.mask_path else None
        K, joints, vertices = record.K.astype(np.float64), record.joints_3d.astype(np.float64), record.vertices
        if record.is_left:
            image, K, (joints, vertices) = geometry.mirror(image, K, [joints, vertices])
            mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])

        if record.box is not None:
            x, y, w, h = record.box
            centre, side = np.array([x + w / 2, y + h / 2]), 1.5 * max(w, h)
            if record.is_left:
                centre[0] = image.shape[1] - 1 - centre[0]  # the box was given before mirroring
        elif record.full_image_box or not record.visible.any():
            centre, side = np.array([image.shape[1], image.shape[0]]) / 2 - 0.5, float(max(image.shape[:2]))
        else:
            # Fingertips alone span less of the hand than all joints: pad their box more.
            padding = 1.5 if record.complete_3d else 2.5
            centre, side = geometry.hand_box(geometry.project(joints[record.visible], K), padding)
        theta, zoom = 0.0, 1.0
        if self.augment is not None:
            theta, zoom, shift = augment.sample_geometry(rng, self.augment)
            centre, side = centre + shift * side, side / zoom
        affine, crop_only = geometry.crop_affine(K, centre, side, self.size, theta)
        rz = geometry.rotation_z(theta)
        crop = geometry.warp(image, affine, self.size)
        crop_mask = None if mask is None else geometry.warp(mask, affine, self.size, nearest=True)
        K_crop = crop_only @ K
        joints = joints @ rz.T
        vertices = None if vertices is None else vertices @ rz.T

        background = record.background
        if self.augment is not None:
            if crop_mask is not None and rng.random() < self.augment.background_prob:
                crop, background = augment.replace_background(crop, crop_mask, rng, self.augment.backgrounds)
            crop = augment.color_jitter(crop, rng, self.augment)
            if self.augment.random_conv_prob > 0 and rng.random() < self.augment.random_conv_prob:
                crop = augment.random_convolution(crop, rng)  # drawn only when on: older runs draw as before
                background = None  # recoloured: the prompt's colour word is read from the new border
            crop = augment.blur_and_noise(crop, rng, self.augment)
        if record.gesture is not None:
            gesture = record.gesture
        else:  # fingertips alone do not tell a gesture
            gesture = classify(joints) if record.complete_3d else NO_GESTURE
        color = background or _border_color(crop)
        prompt = make_prompt(gesture, color, rng if self.random_prompts else None)
        joints_2d = geometry.project(joints, K_crop)
        joints_2d[~np.isfinite(joints_2d)] = 0.0  # joints without 3D (Dexter+Object): masked by `visible`
        return HandSample(
            image=crop,
            K=K_crop,
            joints_3d=joints,
            joints_2d=joints_2d,
            visible=record.visible.copy(),
            vertices=vertices,
            mask=crop_mask,
            gesture=gesture,
            background=background,
            prompt=prompt,
            rotation=theta,
            scale=zoom,
            source=record.source,
        )


def _border_color(image: np.ndarray) -> str:
    """Name the background of an unlabelled crop by the mean colour of its border pixels."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return nearest_color(border.mean(0))
