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


def detect_hands(
    image: np.ndarray, max_hands: int = 4, detector: HandDetector | None = None, tiles: bool = True
) -> list[HandBox]:
    """Every hand in an (H, W, 3) uint8 RGB image, best first; [] when there is none.

    With `tiles`, an image of TILE_MIN_SIDE px or more in which fewer than max_hands are found is
    searched again in four overlapping corner tiles: MediaPipe's palm detector sees the whole
    image at 192 px, where a hand a tenth of a large photo's height is a few pixels wide. A hand
    found twice (mostly inside another box) is kept once, the whole image's box first.
    """
    detector = detector or default_detector()
    hands = detector.detect(image, max_hands)
    h, w = image.shape[:2]
    if not tiles or len(hands) >= max_hands or max(h, w) < TILE_MIN_SIDE:
        return hands
    th, tw = round(h * TILE_FRACTION), round(w * TILE_FRACTION)
    for y0 in (0, h - th):
        for x0 in (0, w - tw):
            for hand in detector.detect(np.ascontiguousarray(image[y0 : y0 + th, x0 : x0 + tw]), max_hands):
                x, y, bw, bh = hand.bbox
                moved = replace(
                    hand,
                    bbox=(x + x0, y + y0, bw, bh),
                    landmarks_2d=None if hand.landmarks_2d is None else hand.landmarks_2d + [x0, y0],
                )
                if all(_overlap(moved.bbox, kept.bbox) < 0.5 for kept in hands):
                    hands.append(moved)
    hands.sort(key=lambda b: -b.score)
    return hands[:max_hands]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection of two (x, y, w, h) boxes over the smaller one's area."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(iw, 0.0) * max(ih, 0.0) / max(min(a[2] * a[3], b[2] * b[3]), 1e-9)
