"""Tiny datasets in the official FreiHAND, RHD and Dexter+Object layouts, written by the tests.

Hands are openhand gesture poses placed in front of a camera; images are noise with a red
dot drawn exactly where the wrist projects, so tests can check that labels follow the pixels.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from cliphand.data import dexter_object
from cliphand.data.geometry import project, rotation_z
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import GESTURES, gesture_pose

RED = (255, 0, 0)
_HAND = None


def hand_pose(gesture: str, depth: float = 0.6, roll: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(21, 3) joints and (1609, 3) vertices of an openhand gesture facing the camera."""
    global _HAND
    _HAND = _HAND or load_hand_model("openhand")
    with torch.no_grad():
        verts, joints = _HAND(gesture_pose(_HAND, gesture)[None])
    # hand frame (x radial, y distal, z volar) -> camera (y down, palm toward the camera)
    to_camera = rotation_z(roll) @ np.diag([1.0, -1.0, -1.0]) @ _HAND.frames[0].numpy().T
    centre = joints[0, 9].numpy()
    place = lambda p: (p - centre) @ to_camera.T + [0.0, 0.0, depth]  # noqa: E731
    return place(joints[0].numpy()), place(verts[0].numpy())


def draw_image(size: tuple[int, int], joints: np.ndarray, K: np.ndarray, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 120 + 60).astype(np.uint8)
    image = Image.fromarray(pixels)
    u, v = project(joints[:1], K)[0]
    ImageDraw.Draw(image).ellipse([u - 3, v - 3, u + 3, v + 3], fill=RED)
    return image


def draw_mask(size: tuple[int, int], joints: np.ndarray, K: np.ndarray, value: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for u, v in project(joints, K):
        draw.ellipse([u - 9, v - 9, u + 9, v + 9], fill=value)
    return mask


def write_freihand(root: Path, n: int = 3, gestures: tuple[str, ...] = ("peace", "fist", "call")) -> Path:
    K = np.array([[480.0, 0, 111.5], [0, 480.0, 111.5], [0, 0, 1]])
    xyz, verts = zip(*[hand_pose(gestures[i % len(gestures)], roll=0.3 * i) for i in range(n)], strict=True)
    for split in ("training", "evaluation"):
        (root / split / "rgb").mkdir(parents=True, exist_ok=True)
        (root / f"{split}_K.json").write_text(json.dumps([K.tolist()] * n))
        (root / f"{split}_xyz.json").write_text(json.dumps([x.tolist() for x in xyz]))
        (root / f"{split}_verts.json").write_text(json.dumps([v[:778].tolist() for v in verts]))
        (root / f"{split}_scale.json").write_text(json.dumps([float(np.linalg.norm(x[9] - x[10])) for x in xyz]))
    (root / "training" / "mask").mkdir(exist_ok=True)
    for a in range(n):
        draw_mask((224, 224), xyz[a], K, 255).save(root / "training" / "mask" / f"{a:08d}.jpg", quality=95)
        draw_image((224, 224), xyz[a], K, a).save(root / "evaluation" / "rgb" / f"{a:08d}.jpg", quality=95)
        for version in range(4):
            image = draw_image((224, 224), xyz[a], K, 10 * version + a)
            image.save(root / "training" / "rgb" / f"{version * n + a:08d}.jpg", quality=95)
    return root


def write_rhd(root: Path, split: str = "training") -> Path:
    """Three samples: a right hand, a left hand (mirror of 'call'), a right hand."""
    K = np.array([[300.0, 0, 160.0], [0, 300.0, 160.0], [0, 0, 1]])
    rhd_order = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]  # self-inverse
    annotations = {}
    for sid, (gesture, left) in enumerate([("peace", False), ("call", True), ("ok", False)]):
        joints, _ = hand_pose(gesture, depth=0.7, roll=0.2)
        if left:
            joints = joints * [-1.0, 1.0, 1.0]  # a left hand is the mirror image of a right one
        hand = joints[rhd_order]
        far = hand + [0.0, 0.0, 5.0]  # the other hand: far behind and marked invisible
        xyz = np.concatenate([hand, far]) if left else np.concatenate([far, hand])
        uv = project(xyz, K)
        vis = np.concatenate([np.ones(21), np.zeros(21)]) if left else np.concatenate([np.zeros(21), np.ones(21)])
        annotations[sid] = {"xyz": xyz.astype(np.float32), "uv_vis": np.c_[uv, vis].astype(np.float32), "K": K}
        for sub in ("color", "mask"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        draw_image((320, 320), joints, K, sid).save(root / split / "color" / f"{sid:05d}.png")
        draw_mask((320, 320), joints, K, 5 if left else 20).save(root / split / "mask" / f"{sid:05d}.png")
    with (root / split / f"anno_{split}.pickle").open("wb") as f:
        pickle.dump(annotations, f, protocol=2)
    return root


def write_dexter_object(root: Path, sequence: str = "Grasp1", frames: int = 2) -> Path:
    folder = root / "data" / sequence
    (folder / "color").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(exist_ok=True)
    rotation, shift = dexter_object.DEPTH_TO_COLOR[:, :3], dexter_object.DEPTH_TO_COLOR[:, 3]
    lines = []
    for i in range(frames):
        joints, _ = hand_pose("palm", depth=0.5)
        joints = joints * [-1.0, 1.0, 1.0]  # Dexter+Object shows left hands
        tips_color_mm = joints[[4, 8, 12, 16, 20]] * 1000.0
        tips_depth = ((tips_color_mm - shift) @ rotation) * [-1.0, -1.0, 1.0]  # invert the calibration
        entries = [f"{x:.3f}, {y:.3f}, {z:.3f}" for x, y, z in tips_depth]
        if i == 1:
            entries[2] = "32001, 32001, 32001"  # a missing middle fingertip
        lines.append(";".join(entries) + ";")
        draw_image((640, 480), joints, dexter_object.COLOR_K, i).save(folder / "color" / f"{i:04d}.png")
    (folder / "annotations" / f"{sequence}3D.txt").write_text("\n".join(lines) + "\n")
    return root


GESTURE_INDEX = {name: i for i, name in enumerate(GESTURES)}
