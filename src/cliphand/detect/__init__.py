"""Hand detectors behind one small interface: boxes, a score and handedness for every hand.

    from cliphand.detect import detect_hands
    for hand in detect_hands(image):   # (H, W, 3) uint8 RGB
        hand.bbox, hand.score, hand.handedness

The default detector is MediaPipe Hands (`pip install 'cliphand[detect]'`, Apache-2.0; its
palm-detection and landmark models ship inside that package, nothing is downloaded). Another
detector plugs in by implementing `HandDetector.detect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from PIL import Image

INSTALL_HINT = (
    "hand detection needs MediaPipe: pip install 'cliphand[detect]' "
    "(or give a box with --bbox, or --no-detect when the image is a hand crop)"
)


class DetectorUnavailable(RuntimeError):
    """The detector's package is not installed; the message says how to get it."""


@dataclass
class HandBox:
    """One detected hand, in pixels of the input image."""

    bbox: tuple[float, float, float, float]  # x, y, w, h: tight around the hand's landmarks
    score: float  # 0..1
    handedness: str  # "left" or "right", of the person's hand as seen in an unmirrored photo
    landmarks_2d: np.ndarray | None = field(default=None, repr=False)  # (21, 2) the detector's own, if any

    @property
    def is_left(self) -> bool:
        return self.handedness == "left"


class HandDetector(Protocol):
    def detect(self, image: np.ndarray, max_hands: int = 4) -> list[HandBox]:
        """(H, W, 3) uint8 RGB -> hands sorted by score, best first."""
        ...


_DEFAULT: dict[str, HandDetector] = {}


def default_detector() -> HandDetector:
    """The MediaPipe detector, built once per process."""
    if "mediapipe" not in _DEFAULT:
        from cliphand.detect.mediapipe_hands import MediaPipeHandDetector

        _DEFAULT["mediapipe"] = MediaPipeHandDetector()
    return _DEFAULT["mediapipe"]


TILE_MIN_SIDE = 400
"""Images whose longer side reaches this are also searched in tiles (detect_hands)."""
TILE_FRACTION = 0.6
"""Each of the four tiles spans this fraction of the image's width and height (they overlap)."""
ZOOM_OUT_BORDERS = (0.5, 1.0, 0.25)
"""Where nothing is found, the image is searched again inside a border of repeated edge pixels
this many times its longer side wide, one border after another until a hand is found
(detect_hands): MediaPipe's palm detector misses many hands that fill the frame."""
ZOOM_OUT_MAX_SIDE = 1024
"""A bordered copy larger than this (and than the image) is scaled down to it: the palm detector
sees 192 px anyway, and MediaPipe's time grows with the pixels it is given."""


def detect_hands(
    image: np.ndarray,
    max_hands: int = 4,
    detector: HandDetector | None = None,
    tiles: bool = True,
    zoom_out: bool = True,
) -> list[HandBox]:
    """Every hand in an (H, W, 3) uint8 RGB image, best first; [] when there is none.

    With `tiles`, an image of TILE_MIN_SIDE px or more in which fewer than max_hands are found is
    searched again in four overlapping corner tiles: MediaPipe's palm detector sees the whole
    image at 192 px, where a hand a tenth of a large photo's height is a few pixels wide. A hand
    found twice (mostly inside another box) is kept once, the whole image's box first. With
    `zoom_out`, an image in which still nothing is found is searched again with its content made
    smaller by a border (ZOOM_OUT_BORDERS): close-ups and hand crops, where one hand fills the
    frame, are where the palm detector fails most.
    """
    detector = detector or default_detector()
    hands = detector.detect(image, max_hands)
    h, w = image.shape[:2]
    if tiles and len(hands) < max_hands and max(h, w) >= TILE_MIN_SIDE:
        th, tw = round(h * TILE_FRACTION), round(w * TILE_FRACTION)
        for y0 in (0, h - th):
            for x0 in (0, w - tw):
                for hand in detector.detect(np.ascontiguousarray(image[y0 : y0 + th, x0 : x0 + tw]), max_hands):
                    moved = _moved(hand, x0, y0)
                    if all(_overlap(moved.bbox, kept.bbox) < 0.5 for kept in hands):
                        hands.append(moved)
        hands.sort(key=lambda b: -b.score)
    if not hands and zoom_out:
        hands = _search_zoomed_out(image, max_hands, detector)
    return hands[:max_hands]


def _search_zoomed_out(image: np.ndarray, max_hands: int, detector: HandDetector) -> list[HandBox]:
    longer = max(image.shape[:2])
    for fraction in ZOOM_OUT_BORDERS:
        border = round(longer * fraction)
        framed = np.pad(image[..., :3], ((border, border), (border, border), (0, 0)), mode="edge")
        scale = min(1.0, max(longer, ZOOM_OUT_MAX_SIDE) / max(framed.shape[:2]))
        if scale < 1:
            size = (round(framed.shape[1] * scale), round(framed.shape[0] * scale))
            framed = np.asarray(Image.fromarray(framed).resize(size, Image.Resampling.BILINEAR))
            scale = size[0] / (image.shape[1] + 2 * border)  # the exact factor after rounding
        hands = detector.detect(framed, max_hands)
        if hands:
            return [_moved(hand, -border, -border, scale) for hand in hands]
    return []


def _moved(hand: HandBox, dx: float, dy: float, scale: float = 1.0) -> HandBox:
    """A hand found in a copy of the image where image pixel p sits at (p - (dx, dy)) * scale (a
    tile, or the image inside a border), back in the image's own pixels."""
    x, y, w, h = hand.bbox
    landmarks = None if hand.landmarks_2d is None else hand.landmarks_2d / scale + [dx, dy]
    return replace(hand, bbox=(x / scale + dx, y / scale + dy, w / scale, h / scale), landmarks_2d=landmarks)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection of two (x, y, w, h) boxes over the smaller one's area."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(iw, 0.0) * max(ih, 0.0) / max(min(a[2] * a[3], b[2] * b[3]), 1e-9)
