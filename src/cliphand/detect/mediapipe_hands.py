"""MediaPipe Hands as a detector: palm detection, then the landmark network on each palm.

The landmarks give a tight box that the estimator pads and squares as in training. MediaPipe
labels handedness as if the image were mirrored (a selfie camera); photos are not, so the
label is swapped.
"""

from __future__ import annotations

import numpy as np

from cliphand.detect import INSTALL_HINT, DetectorUnavailable, HandBox


class MediaPipeHandDetector:
    """MediaPipe Hands 0.10 (legacy solutions API), static images, full landmark model."""

    def __init__(self, min_score: float = 0.5, model_complexity: int = 1, max_hands: int = 4) -> None:
        try:
            from mediapipe.python.solutions import hands
        except ImportError:
            raise DetectorUnavailable(INSTALL_HINT) from None
        self.max_hands = max_hands
        self._hands = hands.Hands(
            static_image_mode=True,
            max_num_hands=max_hands,
            model_complexity=model_complexity,
            min_detection_confidence=min_score,
        )

    def detect(self, image: np.ndarray, max_hands: int = 4) -> list[HandBox]:
        h, w = image.shape[:2]
        result = self._hands.process(np.ascontiguousarray(image[..., :3]))
        boxes = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=True):
            uv = np.array([(p.x * w, p.y * h) for p in landmarks.landmark])  # normalised -> pixels
            lo, hi = uv.min(0), uv.max(0)
            label = handedness.classification[0]
            boxes.append(
                HandBox(
                    bbox=(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])),
                    score=float(label.score),
                    handedness="right" if label.label == "Left" else "left",
                    landmarks_2d=uv,
                )
            )
        boxes.sort(key=lambda b: -b.score)
        return boxes[:max_hands]
