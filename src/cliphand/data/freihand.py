"""FreiHAND v2 in its official layout.

    training_{xyz,K,verts,scale,mano}.json   32,560 annotations
    training/rgb/%08d.jpg                    4 versions x 32,560 images; image i uses annotation i % 32,560
    training/mask/%08d.jpg                   one hand mask per annotation
    evaluation_{K,scale,xyz,verts,mano}.json and evaluation/rgb/%08d.jpg

The four training versions are the green-screen originals followed by three composites with
other backgrounds; only the first has a known background ("green"). Sets written by
`cliphand synth` use the same layout with one version, any mesh size, and a
training_meta.json that gives each sample's gesture and background.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson

from cliphand.data.dataset import DataError, Record

VERSIONS = ("green-screen", "hom", "sample", "auto")


def load_json(path: Path) -> list:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"missing annotation file: {path}") from None
    try:
        return orjson.loads(text)  # 5-10x faster than json on the large vertex files
    except orjson.JSONDecodeError:
        pass  # maybe NaN or Infinity, which orjson refuses and json reads (`data check` reports them)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"corrupt annotation file: {path} ({exc})") from None


def numbers(path: Path, finite: bool = True) -> np.ndarray:
    """A JSON file of per-sample number arrays as float64; a sample that is not all numbers (or,
    with `finite`, holds NaN or inf) is named in the error."""
    data = load_json(path)
    try:
        array = np.asarray(data, np.float64)
    except (ValueError, TypeError) as exc:
        for i, entry in enumerate(data if isinstance(data, list) else []):
            try:
                np.asarray(entry, np.float64)
            except (ValueError, TypeError) as entry_exc:
                raise DataError(f"{path}: sample {i} is not all numbers ({entry_exc})") from None
        raise DataError(f"{path}: the samples' arrays differ in shape ({exc})") from None
    if finite and array.ndim >= 1 and len(array):
        bad = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(1))
        if len(bad):
            count = f"{len(bad)} sample(s)"
            raise DataError(f"{path}: sample {bad[0]} holds values that are not finite (NaN or inf; {count})")
    return array


def annotations(root: Path, split: str, vertices: bool = True, finite: bool = True) -> dict[str, np.ndarray]:
    """The split's K (N, 3, 3), xyz (N, 21, 3) and, if asked and present, verts (N, 778, 3).
    finite=False lets NaN and inf through (`data check` lists every such sample itself)."""
    if split == "evaluation" and not (root / "evaluation_K.json").exists() and (root / "training_K.json").exists():
        raise DataError(
            f"{root} has no evaluation split (no evaluation_K.json); a cliphand synth set has only the training "
            "split: pass --split training"
        )
    out = {"K": numbers(root / f"{split}_K.json", finite), "xyz": numbers(root / f"{split}_xyz.json", finite)}
    if vertices and (root / f"{split}_verts.json").exists():
        out["verts"] = numbers(root / f"{split}_verts.json", finite)
    n = len(out["K"])
    for key, value in out.items():
        expected = {"K": (3, 3), "xyz": (21, 3), "verts": (value.shape[1] if value.ndim == 3 else -1, 3)}[key]
        if value.ndim != 3 or value.shape[1:] != expected:
            raise DataError(
                f"{root / f'{split}_{key}.json'}: entries have shape {value.shape[1:]}, expected {expected}"
            )
        if len(value) != n:
            raise DataError(f"{root}: {split}_K.json has {n} entries but {split}_{key}.json has {len(value)}")
    return out


def records(
    root: str | Path,
    split: str = "training",
    versions: tuple[int, ...] | None = None,
    vertices: bool = True,
    finite: bool = True,
) -> list[Record]:
    """One Record per image: annotation a in version v is image v * N + a (training).

    `versions` defaults to as many as there are images (4 for FreiHAND, 1 for synthetic sets).
    """
    root = Path(root)
    if split not in ("training", "evaluation"):
        raise DataError(f"FreiHAND split must be 'training' or 'evaluation', got {split!r}")
    ann = annotations(root, split, vertices, finite)
    n = len(ann["K"])
    if split == "evaluation":
        versions = (0,)
    elif versions is None:
        n_images = sum(1 for _ in (root / split / "rgb").glob("*.jpg"))
        versions = tuple(range(max(1, min(len(VERSIONS), n_images // max(n, 1)))))
    meta = load_json(root / f"{split}_meta.json") if (root / f"{split}_meta.json").exists() else None
    if meta is not None and len(meta) != n:
        raise DataError(f"{root}: {split}_meta.json has {len(meta)} entries but {split}_K.json has {n}")
    out = []
    for v in versions:
        for a in range(n):
            image_id = v * n + a
            out.append(
                Record(
                    image_path=root / split / "rgb" / f"{image_id:08d}.jpg",
                    K=ann["K"][a],
                    joints_3d=ann["xyz"][a],
                    visible=np.ones(21, bool),
                    vertices=ann["verts"][a] if "verts" in ann else None,
                    mask_path=root / split / "mask" / f"{a:08d}.jpg" if split == "training" else None,
                    gesture=meta[a]["gesture_index"] if meta else None,
                    background=meta[a]["background"] if meta else ("green" if split == "training" and v == 0 else None),
                    full_image_box=True,
                    group=a,
                    source=f"freihand/{split}/rgb/{image_id:08d}.jpg",
                )
            )
    return out
