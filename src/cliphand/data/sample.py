"""The one sample type every reader yields, and how a batch of them becomes tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class HandSample:
    """One right-hand crop with its labels. S = crop size, V = vertices; metres and pixels."""

    image: np.ndarray  # (S, S, 3) uint8 RGB crop
    K: np.ndarray  # (3, 3) intrinsics of the crop
    joints_3d: np.ndarray  # (21, 3) camera frame, FreiHAND order
    joints_2d: np.ndarray  # (21, 2) crop pixels, the projection of joints_3d with K
    visible: np.ndarray  # (21,) bool: annotated (and, where known, visible)
    vertices: np.ndarray | None  # (V, 3) camera frame, where the dataset has a mesh
    mask: np.ndarray | None  # (S, S) uint8 hand mask (255 = hand), where the dataset has one
    gesture: int  # index into cliphand.hand.gestures.GESTURES
    background: str | None  # Table 1 colour word of the background, where known
    prompt: str  # text prompt for the CLIP module
    rotation: float  # radians of augmentation roll about the optical axis (0 if none)
    scale: float  # augmentation zoom factor (1 if none)
    source: str  # dataset and file the sample came from
    skipped: int = 0  # bad samples passed over to reach this one (on_error="skip")


def collate_samples(samples: list[HandSample]) -> dict[str, object]:
    """Stack samples into a batch: image (B, 3, S, S) float in [0, 1], K (B, 3, 3),
    joints_3d (B, 21, 3), joints_2d (B, 21, 2), visible (B, 21), vertices (B, V, 3) with
    has_vertices (B,), mask (B, 1, S, S) float with has_mask (B,), gesture (B,), rotation and
    scale (B,), and the lists prompt, background, source."""
    image = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).float() / 255.0
    size = image.shape[-1]
    n_verts = {s.vertices.shape[0] for s in samples if s.vertices is not None}
    if len(n_verts) > 1:
        raise ValueError(f"a batch mixes meshes with {sorted(n_verts)} vertices")
    v = n_verts.pop() if n_verts else 0
    vertices = np.stack([s.vertices if s.vertices is not None else np.zeros((v, 3)) for s in samples])
    mask = np.stack([s.mask if s.mask is not None else np.zeros((size, size), np.uint8) for s in samples])

    def f32(items):
        return torch.as_tensor(np.stack(items), dtype=torch.float32)

    return {
        "image": image,
        "K": f32([s.K for s in samples]),
        "joints_3d": f32([s.joints_3d for s in samples]),
        "joints_2d": f32([s.joints_2d for s in samples]),
        "visible": torch.as_tensor(np.stack([s.visible for s in samples])),
        "vertices": torch.as_tensor(vertices, dtype=torch.float32),
        "has_vertices": torch.tensor([s.vertices is not None for s in samples]),
        "mask": torch.as_tensor(mask, dtype=torch.float32)[:, None] / 255.0,
        "has_mask": torch.tensor([s.mask is not None for s in samples]),
        "gesture": torch.tensor([s.gesture for s in samples]),
        "rotation": torch.tensor([s.rotation for s in samples], dtype=torch.float32),
        "scale": torch.tensor([s.scale for s in samples], dtype=torch.float32),
        "prompt": [s.prompt for s in samples],
        "background": [s.background for s in samples],
        "source": [s.source for s in samples],
        "skipped": sum(s.skipped for s in samples),
    }
