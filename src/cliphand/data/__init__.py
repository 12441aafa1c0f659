"""Datasets: readers for FreiHAND, RHD and Dexter+Object, cropping, augmentation, prompts.

from cliphand.data import load_dataset
ds = load_dataset("freihand", "/data/FreiHAND", split="training", augment=AugmentConfig())
loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_samples, num_workers=2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cliphand.data.augment import AugmentConfig
from cliphand.data.dataset import DataError, HandDataset, Record
from cliphand.data.sample import HandSample, collate_samples

DATASETS = ("freihand", "rhd", "dexter-object")


def dataset_records(name: str, root: str | Path, split: str = "training", **options: Any) -> list[Record]:
    """The records of a dataset split (Dexter+Object has only its evaluation sequences)."""
    if name == "freihand":
        from cliphand.data import freihand

        return freihand.records(root, split, **options)
    if name == "rhd":
        from cliphand.data import rhd

        return rhd.records(root, split, **options)
    if name == "dexter-object":
        from cliphand.data import dexter_object

        return dexter_object.records(root, **options)
    raise DataError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")


def load_dataset(
    name: str,
    root: str | Path,
    split: str = "training",
    size: int = 224,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    on_error: str = "raise",
    **options: Any,
) -> HandDataset:
    """A HandDataset over one split of a dataset in its official layout."""
    if not Path(root).is_dir():
        raise DataError(f"dataset folder not found: {root}")
    records = dataset_records(name, root, split, **options)
    return HandDataset(records, size=size, augment=augment, seed=seed, on_error=on_error)


__all__ = [
    "DATASETS",
    "AugmentConfig",
    "DataError",
    "HandDataset",
    "HandSample",
    "Record",
    "collate_samples",
    "dataset_records",
    "load_dataset",
]
