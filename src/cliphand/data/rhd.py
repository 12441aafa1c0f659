"""The Rendered Hand Pose dataset (RHD v2) in its official layout.

    {training,evaluation}/color/%05d.png, mask/%05d.png, depth/%05d.png, 320 x 320
    {training,evaluation}/anno_{training,evaluation}.pickle: {id: {xyz (42,3) m, uv_vis (42,3), K (3,3)}}

Joints 0-20 are the left hand, 21-41 the right, each wrist then tip-to-base per finger. The
hand with more visible keypoints is used (ties go to the one with more mask pixels when that
matters, else the right); a left hand is mirrored into a right one. Mask labels: 0 background,
1 person, 2-17 left hand, 18-33 right hand.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from cliphand.data.dataset import DataError, Record

RHD_TO_FREIHAND = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)
LEFT_LABELS, RIGHT_LABELS = (2, 17), (18, 33)


def load_annotations(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            data = pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise DataError(f"missing annotation file: {path}") from None
    except Exception as exc:  # any unpickling failure: the file is not what it should be
        raise DataError(f"corrupt annotation file: {path} ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a dict of samples, found {type(data).__name__}")
    return data


def records(root: str | Path, split: str = "training") -> list[Record]:
    root = Path(root)
    if split not in ("training", "evaluation"):
        raise DataError(f"RHD split must be 'training' or 'evaluation', got {split!r}")
    annotations = load_annotations(root / split / f"anno_{split}.pickle")
    out = []
    for sample_id in sorted(annotations):
        ann = annotations[sample_id]
        try:
            xyz = np.asarray(ann["xyz"], np.float64).reshape(42, 3)
            uv_vis = np.asarray(ann["uv_vis"], np.float64).reshape(42, 3)
            K = np.asarray(ann["K"], np.float64).reshape(3, 3)
        except (KeyError, ValueError) as exc:
            raise DataError(f"{root / split}: annotation {sample_id} is malformed ({exc})") from None
        visible = uv_vis[:, 2] > 0.5
        left = visible[:21].sum() > visible[21:].sum()
        hand = slice(0, 21) if left else slice(21, 42)
        order = list(RHD_TO_FREIHAND)
        out.append(
            Record(
                image_path=root / split / "color" / f"{int(sample_id):05d}.png",
                K=K,
                joints_3d=xyz[hand][order],
                visible=visible[hand][order],
                mask_path=root / split / "mask" / f"{int(sample_id):05d}.png",
                mask_labels=LEFT_LABELS if left else RIGHT_LABELS,
                is_left=bool(left),
                source=f"rhd/{split}/color/{int(sample_id):05d}.png",
            )
        )
    return out
