"""Dexter+Object (evaluation only): fingertip annotations of left hands holding objects.

    data/<Sequence>/color/*.png                 640 x 480 colour frames, sorted by name
    data/<Sequence>/annotations/<Sequence>3D.txt one line per frame: 5 fingertips
                                                 (thumb..pinky) "x, y, z" in mm, ';'-separated,
                                                 in the depth camera's frame; 32001 = missing

Sequences: Grasp1, Grasp2, Occlusion, Rigid, Pinch, Rotate. The 3D annotations are moved into
the colour camera's frame with the dataset's calibration (x and y flipped, then the colour
extrinsics), and every hand is mirrored into a right hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cliphand.data.dataset import DataError, Record

FINGERTIPS = (4, 8, 12, 16, 20)  # FreiHAND order
DEXTER_MISSING = 32001.0  # the dataset's marker for a fingertip without annotation

SEQUENCES = ("Grasp1", "Grasp2", "Occlusion", "Rigid", "Pinch", "Rotate")
COLOR_K = np.array([[587.45209, 0.0, 325.0], [0.0, 600.67456, 249.0], [0.0, 0.0, 1.0]])
DEPTH_TO_COLOR = np.array(
    [[0.9999, 0.0034, 0.0161, 19.0473], [-0.0033, 1.0000, -0.0079, -1.8514], [-0.0162, 0.0079, 0.9998, -4.7501]]
)  # rotation and translation (mm) from the (x, y flipped) depth frame to the colour frame


def read_tips(path: Path) -> np.ndarray:
    """(F, 5, 3) fingertips in mm as written, NaN where missing."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise DataError(f"missing annotation file: {path}") from None
    tips = np.full((len(lines), 5, 3), np.nan)
    for i, line in enumerate(lines):
        entries = [e for e in line.split(";") if e.strip()]
        try:
            values = np.array([[float(x) for x in e.replace(",", " ").split()] for e in entries[:5]])
        except ValueError:
            raise DataError(f"{path}: line {i + 1} is not 5 ';'-separated 'x, y, z' triples") from None
        if values.shape != (5, 3):
            raise DataError(f"{path}: line {i + 1} has {values.shape} values, expected 5 x 3")
        missing = (np.abs(values) >= DEXTER_MISSING - 0.5).any(1)
        tips[i] = np.where(missing[:, None], np.nan, values)
    return tips


def to_color_frame(tips_mm: np.ndarray) -> np.ndarray:
    """(..., 3) depth-frame mm -> colour-frame metres."""
    flipped = tips_mm * np.array([-1.0, -1.0, 1.0])
    return (flipped @ DEPTH_TO_COLOR[:, :3].T + DEPTH_TO_COLOR[:, 3]) / 1000.0


def records(root: str | Path, sequences: tuple[str, ...] | None = None) -> list[Record]:
    """Records of the given sequences, or of every official sequence present under root/data."""
    root = Path(root)
    if sequences is None:
        sequences = tuple(s for s in SEQUENCES if (root / "data" / s).is_dir())
        if not sequences:
            raise DataError(f"no Dexter+Object sequence folders ({', '.join(SEQUENCES)}) in {root / 'data'}")
    out = []
    for seq in sequences:
        folder = root / "data" / seq
        frames = sorted((folder / "color").glob("*.png"))
        if not frames:
            raise DataError(f"no colour frames in {folder / 'color'}")
        tips = read_tips(folder / "annotations" / f"{seq}3D.txt")
        if len(tips) != len(frames):
            raise DataError(f"{folder}: {len(frames)} colour frames but {len(tips)} annotation lines")
        for frame, tip in zip(frames, tips, strict=True):
            joints = np.zeros((21, 3))
            visible = np.zeros(21, bool)
            ok = ~np.isnan(tip).any(1)
            joints[list(FINGERTIPS)] = np.where(ok[:, None], to_color_frame(np.nan_to_num(tip)), 0.0)
            visible[list(FINGERTIPS)] = ok
            out.append(
                Record(
                    image_path=frame,
                    K=COLOR_K.copy(),
                    joints_3d=joints,
                    visible=visible,
                    is_left=True,
                    complete_3d=False,
                    source=f"dexter-object/{seq}/color/{frame.name}",
                )
            )
    return out
