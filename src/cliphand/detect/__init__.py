"""Hand detectors behind one small interface: boxes, a score and handedness for every hand.

    from cliphand.detect import detect_hands
    for hand in detect_hands(image):   # (H, W, 3) uint8 RGB
        hand.bbox, hand.score, hand.handedness

The default detector is MediaPipe Hands (`pip install 'cliphand[detect]'`, Apache-2.0; its
palm-detection and landmark models ship inside that package, nothing is downloaded). Another
detector plugs in by implementing `HandDetector.detect`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def detect_hands(image: np.ndarray, max_hands: int = 4, detector: HandDetector | None = None) -> list[HandBox]:
    """Every hand in an (H, W, 3) uint8 RGB image, best first; [] when there is none."""
    return (detector or default_detector()).detect(image, max_hands)
