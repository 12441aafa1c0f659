"""Validate a dataset folder: counts, shapes, missing or corrupt files, reprojection error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from cliphand.data.dataset import DataError, Record, read_image, read_mask
from cliphand.data.geometry import project
from cliphand.hand.model import HandModel


def check_dataset(name: str, root: str | Path, decode: int | None = 200, progress: bool = True) -> dict[str, Any]:
    """Check a dataset in its official layout.

    Every expected file is checked to exist; `decode` images per split are opened (evenly
    spread; None = all). Returns {dataset, root, num_samples, splits, reprojection_error_px,
    problems}; problems is a list of one-line strings, empty when all is well.
    """
    from cliphand.data import dataset_records

    root = Path(root)
    report: dict[str, Any] = {"dataset": name, "root": str(root), "num_samples": 0, "splits": {}, "problems": []}
    if not root.is_dir():
        report["problems"].append(f"dataset folder not found: {root}")
        return report
    splits = {"freihand": ("training", "evaluation"), "rhd": ("training", "evaluation")}.get(name, ("evaluation",))
    errors = []
    for split in splits:
        if name != "dexter-object" and not (root / split).exists() and not any(root.glob(f"*{split}*")):
            report.setdefault("absent_splits", []).append(split)  # e.g. a synthetic set has no evaluation
            continue
        try:
            records = dataset_records(name, root, split, **({"finite": False} if name == "freihand" else {}))
        except DataError as exc:
            report["problems"].append(f"{split}: {exc}")
            continue
        report["splits"][split] = len(records)
        report["num_samples"] += len(records)
        report["problems"] += _missing_files(records)
        if name == "freihand":
            report["problems"] += _unlabelled_images(root, split, records)
        files = {k: f"{split}_{k}.json" for k in ("xyz", "K", "verts")} if name == "freihand" else {}
        report["problems"] += _non_finite(records, files)
        report["problems"] += _decode(records, decode, progress, f"{name} {split}")
        errors += _reprojection(name, root, split)
        report["problems"] += _outside(records)
        report["problems"] += _joint_definition(records, split)
    if not report["splits"] and not report["problems"]:
        report["problems"].append(f"no {name} split found in {root}")
    if errors:
        err = np.concatenate(errors)
        report["reprojection_error_px"] = {"mean": float(err.mean()), "max": float(err.max())}
        if err.max() > 5.0:
            report["problems"].append(f"2D and 3D annotations disagree by up to {err.max():.1f} px")
    else:
        report["reprojection_error_px"] = None  # the dataset has no separate 2D annotations
    return report


MAX_JOINT_LABEL_GAP = 1e-3  # metres; JSON rounding leaves ~1e-6


def joint_label_gap(records: list[Record], hand: HandModel, samples: int = 32) -> float | None:
    """Mean distance (m) between the joint labels of up to `samples` records that carry `hand`'s
    mesh and the joints `hand` reads from those meshes; None when no record carries its mesh.
    Labels from another joint definition (a synthetic set of cliphand < 0.8.0 holds openhand's
    rig joints, 3-10 mm from its joints today) would teach the network that definition."""
    chosen = [r for r in records[:: max(1, len(records) // samples)] if r.vertices is not None]
    chosen = [r for r in chosen if r.vertices.shape == (hand.num_vertices, 3)]
    chosen = [r for r in chosen if np.isfinite(r.vertices).all() and np.isfinite(r.joints_3d).all()][:samples]
    if not chosen:
        return None
    vertices = torch.as_tensor(np.stack([r.vertices for r in chosen]), dtype=torch.float32)
    joints = hand.joints_from_vertices(vertices).numpy()
    return float(np.linalg.norm(joints - np.stack([r.joints_3d for r in chosen]), axis=-1).mean())


def joint_gap_message(gap: float, hand_name: str) -> str:
    return (
        f"its joint labels are {gap * 1000:.1f} mm from the joints {hand_name} reads from the same meshes "
        "(another joint definition, e.g. a synthetic set made before cliphand 0.8.0): render it again"
    )


def _joint_definition(records: list[Record], split: str) -> list[str]:
    """openhand's meshes (the only hand model that needs no file) with labels it does not make."""
    from cliphand.hand import load_hand_model

    hand = load_hand_model("openhand")
    gap = joint_label_gap(records, hand)
    return [f"{split}: {joint_gap_message(gap, hand.name)}"] if gap is not None and gap > MAX_JOINT_LABEL_GAP else []


def _missing_files(records: list[Record]) -> list[str]:
    problems = []
    folders: dict[Path, set[str]] = {}
    for r in records:
        for path in (r.image_path, r.mask_path):
            if path is None:
                continue
            names = folders.setdefault(path.parent, {p.name for p in path.parent.glob("*")})
            if path.name not in names:
                kind = "mask" if path == r.mask_path else "image"
                problems.append(f"missing {kind}: {path}")
    return problems[:50] + ([f"... and {len(problems) - 50} more missing files"] if len(problems) > 50 else [])


def _unlabelled_images(root: Path, split: str, records: list[Record]) -> list[str]:
    """Images in FreiHAND's rgb/ folder that no annotation describes (e.g. left from an older set)."""
    folder = root / split / "rgb"
    used = {r.image_path.name for r in records}
    extra = sorted(p.name for p in folder.glob("*.jpg") if p.name not in used) if folder.is_dir() else []
    if not extra:
        return []
    return [
        f"{folder}: {len(extra)} images have no matching labels (e.g. {extra[0]}); "
        f"{split}_xyz.json describes {len(records)} samples"
    ]


def _non_finite(records: list[Record], files: dict[str, str]) -> list[str]:
    """NaN or infinite labels, named by annotation file (where the layout has one) and sample."""
    problems, seen = [], set()
    for i, r in enumerate(records):
        sample = r.group if r.group >= 0 else i
        for label, value in (("xyz", r.joints_3d), ("K", r.K), ("verts", r.vertices)):
            if value is not None and (label, sample) not in seen and not np.isfinite(value).all():
                seen.add((label, sample))
                where = f"{files[label]}, sample {sample}" if label in files else f"{r.source}: {label} label"
                problems.append(f"non-finite values in {where}")
    return problems[:20] + ([f"... and {len(problems) - 20} more non-finite labels"] if len(problems) > 20 else [])


def _decode(records: list[Record], count: int | None, progress: bool, label: str) -> list[str]:
    picks = range(len(records)) if count is None else np.linspace(0, len(records) - 1, min(count, len(records)))
    problems = []
    quiet = not progress or not sys.stderr.isatty()
    for i in tqdm(sorted({int(i) for i in picks}), desc=f"decoding {label}", disable=quiet, leave=False):
        record = records[i]
        if not record.image_path.exists():
            continue  # already reported as missing
        try:
            read_image(record.image_path)
            if record.mask_path is not None and record.mask_path.exists():
                read_mask(record.mask_path, record.mask_labels)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def _reprojection(name: str, root: Path, split: str) -> list[np.ndarray]:
    """Pixel distance between annotated 2D keypoints and projected 3D ones (RHD only)."""
    if name != "rhd":
        return []
    from cliphand.data.rhd import load_annotations

    out = []
    for ann in load_annotations(root / split / f"anno_{split}.pickle").values():
        xyz, uv_vis, K = (np.asarray(ann[k], np.float64) for k in ("xyz", "uv_vis", "K"))
        visible = uv_vis[:, 2] > 0.5
        if visible.any():
            out.append(np.linalg.norm(project(xyz[visible], K) - uv_vis[visible, :2], axis=1))
    return out


def _outside(records: list[Record]) -> list[str]:
    """Samples whose annotated joints project behind the camera (a broken K or 3D label)."""
    bad = [r.source for r in records if r.visible.any() and not np.isfinite(project(r.joints_3d[r.visible], r.K)).all()]
    return [f"{len(bad)} samples have joints behind the camera, e.g. {bad[0]}"] if bad else []
