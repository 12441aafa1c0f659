"""Hands through a video: detect, then follow each hand from its own last prediction.

The detector runs on the first frame, every `redetect_every` frames, and whenever a track's
confidence drops below `min_confidence`; in between, each hand's box keeps the size the detector
gave it and moves with the centre of its previous 2D joints, which costs one network pass and
no detector. (Taking the size from the joints too would feed the network's scale error back
into the next crop, and a box can shrink to nothing in a few frames.) Each
track keeps an id, a One Euro filter on its joints and vertices, and a handedness decided by a
vote over its detections (so one odd frame cannot flip it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from cliphand.data.geometry import project
from cliphand.infer.estimator import HandPoseEstimator, HandPrediction
from cliphand.infer.smoothing import OneEuroFilter, OneEuroSettings


@dataclass
class TrackerSettings:
    max_hands: int = 2
    redetect_every: int = 10  # frames between detector runs while every track is confident
    min_confidence: float = 0.05  # heatmap confidence under which a track asks for the detector
    match_iou: float = 0.2  # a detection continues the track whose box overlaps it this much
    max_missed: int = 2  # detector runs a track may go unmatched before it ends
    is_left: bool | None = None  # every hand is a left (True) or right (False) hand; None: the detector's vote
    smoothing: OneEuroSettings = field(default_factory=OneEuroSettings)


@dataclass
class Track:
    track_id: int
    bbox: tuple[float, float, float, float]
    votes: Counter
    score: float
    joint_filter: OneEuroFilter
    vertex_filter: OneEuroFilter
    missed: int = 0
    last: HandPrediction | None = None

    @property
    def is_left(self) -> bool:
        return self.votes["left"] > self.votes["right"]


@dataclass
class TrackedHand:
    track_id: int
    prediction: HandPrediction  # smoothed

    def to_dict(self) -> dict:
        record = self.prediction.to_dict()
        for key in ("faces", "K", "is_left", "vertices"):
            record.pop(key)
        return {"track_id": self.track_id, **record}


class HandTracker:
    """Feed frames in order: `update(frame, t)` -> the hands in that frame, with stable ids."""

    def __init__(self, estimator: HandPoseEstimator, settings: TrackerSettings | None = None, detector=None,
                 focal: float | None = None, intrinsics: np.ndarray | None = None) -> None:  # fmt: skip
        self.estimator, self.settings, self.detector = estimator, settings or TrackerSettings(), detector
        self.focal, self.intrinsics = focal, intrinsics
        self.tracks: list[Track] = []
        self.frame_index, self.next_id, self.detector_runs = 0, 0, 0

    def update(self, frame: np.ndarray, t: float) -> list[TrackedHand]:
        s = self.settings
        due = self.frame_index % s.redetect_every == 0 or not self.tracks
        weak = any(tr.last is not None and tr.last.confidence < s.min_confidence for tr in self.tracks)
        if due or weak:
            self._detect(frame)
        self.frame_index += 1
        live = self.tracks  # a track the detector missed follows its own box until max_missed runs
        if not live:
            return []
        predictions = self.estimator.predict_batch(
            [frame] * len(live),
            [tr.bbox for tr in live],
            [tr.is_left if self.settings.is_left is None else self.settings.is_left for tr in live],
            self.focal,
            self.intrinsics,
        )
        hands = []
        for track, pred in zip(live, predictions, strict=True):
            pred.score = track.score
            track.last = pred
            track.bbox = _moved_to(track.bbox, pred.joints_2d)
            joints, vertices = track.joint_filter(pred.joints_3d, t), track.vertex_filter(pred.vertices, t)
            smooth = replace(pred, joints_3d=joints, vertices=vertices, joints_2d=project(joints, pred.K))
            hands.append(TrackedHand(track.track_id, smooth))
        return hands

    def _detect(self, frame: np.ndarray) -> None:
        from cliphand.detect import detect_hands

        s = self.settings
        self.detector_runs += 1
        detections = detect_hands(frame, s.max_hands, self.detector, tiles=False, zoom_out=False)  # flat cost per frame
        unmatched = list(range(len(detections)))
        for track in self.tracks:
            best, best_iou = None, s.match_iou
            for i in unmatched:
                overlap = box_iou(track.bbox, detections[i].bbox)
                if overlap >= best_iou:
                    best, best_iou = i, overlap
            if best is None:
                track.missed += 1
                continue
            unmatched.remove(best)
            hand = detections[best]
            track.bbox, track.score, track.missed = hand.bbox, hand.score, 0
            track.votes[hand.handedness] += 1
        self.tracks = [tr for tr in self.tracks if tr.missed <= s.max_missed]
        for i in unmatched:
            if len(self.tracks) >= s.max_hands:
                break
            hand = detections[i]
            self.tracks.append(
                Track(
                    self.next_id,
                    hand.bbox,
                    Counter({hand.handedness: 1}),
                    hand.score,
                    OneEuroFilter(s.smoothing),
                    OneEuroFilter(s.smoothing),
                )  # fmt: skip
            )
            self.next_id += 1


def _moved_to(box: tuple[float, float, float, float], joints_2d: np.ndarray) -> tuple[float, float, float, float]:
    """The same-sized box centred on the joints' box."""
    centre = (joints_2d.min(0) + joints_2d.max(0)) / 2
    return float(centre[0] - box[2] / 2), float(centre[1] - box[3] / 2), box[2], box[3]


def box_iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    union = aw * ah + bw * bh - w * h
    return w * h / union if union > 0 else 0.0
