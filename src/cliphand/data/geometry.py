"""Crops and geometric augmentation that keep image, K, 2D and 3D joints consistent.

A rotation by theta about the camera's optical axis rotates camera-frame points by Rz(theta)
and moves pixels by the affine H = K Rz K^-1. A crop (translation + zoom in pixels) is an
affine C. The image is warped once by C H, the 3D points are rotated by Rz, and the new
intrinsics are C K, so projecting the new 3D points with the new K lands on the new pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def rotation_z(theta: float) -> np.ndarray:
    """(3, 3) rotation by theta (radians) about the camera's z (optical) axis."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixels; NaN for points not in front of the camera."""
    uvw = points @ K.T
    depth = uvw[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(depth > 0, uvw[:, :2] / np.where(depth > 0, depth, 1.0), np.nan)


def hand_box(points_2d: np.ndarray, padding: float = 1.5) -> tuple[np.ndarray, float]:
    """Square box around 2D points: centre (2,) and side, the tight box's longer side x padding."""
    lo, hi = points_2d.min(0), points_2d.max(0)
    return (lo + hi) / 2, float(max(hi - lo).max() * padding)


def crop_affine(
    K: np.ndarray, centre: np.ndarray, side: float, out_size: int, theta: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Camera roll by theta, then a square of `side` pixels centred on `centre` (in the
    original image) resized to out_size.

    Returns the (3, 3) pixel affine that warps the image (C H) and the crop part C alone: the new
    intrinsics are C K, because the roll is carried by the 3D points (rotated by Rz).
    """
    roll = K @ rotation_z(theta) @ np.linalg.inv(K)
    c = roll @ np.array([centre[0], centre[1], 1.0])
    zoom = out_size / side
    # Pixel centres: the crop's centre (out_size - 1) / 2 sits on the box centre.
    half = (out_size - 1) / 2
    crop = np.array([[zoom, 0, half - zoom * c[0]], [0, zoom, half - zoom * c[1]], [0, 0, 1.0]])
    return crop @ roll, crop


def warp(image: np.ndarray, affine: np.ndarray, out_size: int, nearest: bool = False) -> np.ndarray:
    """Warp an (H, W[, C]) uint8 image by a pixel affine into an out_size square (zeros outside)."""
    inverse = np.linalg.inv(affine)
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    out = Image.fromarray(image).transform(
        (out_size, out_size), Image.Transform.AFFINE, data=tuple(inverse[:2].ravel()), resample=resample
    )
    return np.asarray(out)


def mirror(image: np.ndarray, K: np.ndarray, points: list[np.ndarray | None]) -> tuple:
    """Mirror a left-hand view into a right-hand one: flip the image, negate camera x, and
    move the principal point to W - 1 - cx. Returns (image, K, points)."""
    width = image.shape[1]
    K = K.copy()
    K[0, 2] = width - 1 - K[0, 2]
    flipped = [None if p is None else p * np.array([-1.0, 1.0, 1.0]) for p in points]
    return np.ascontiguousarray(image[:, ::-1]), K, flipped
