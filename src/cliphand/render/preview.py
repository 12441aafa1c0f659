"""Painter's-algorithm mesh previews with matplotlib: enough to look at a hand model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402

SKIN = np.array([0.93, 0.74, 0.62])
BONE_COLORS = {"thumb": "#d62728", "index": "#2ca02c", "middle": "#1f77b4", "ring": "#9467bd", "pinky": "#ff7f0e"}


def view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Rotation taking model coordinates to view coordinates (x right, y up, z toward viewer)."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    about_y = np.array([[np.cos(az), 0, np.sin(az)], [0, 1, 0], [-np.sin(az), 0, np.cos(az)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(el), -np.sin(el)], [0, np.sin(el), np.cos(el)]])
    return about_x @ about_y


def draw_mesh(
    ax: plt.Axes,
    vertices: np.ndarray,
    faces: np.ndarray,
    rotation: np.ndarray | None = None,
    joints: np.ndarray | None = None,
    color: np.ndarray = SKIN,
) -> None:
    """Draw a shaded mesh (N,3) / (F,3), and optionally its (21,3) skeleton, on `ax`."""
    rotation = np.eye(3) if rotation is None else rotation
    centre = vertices.mean(0)
    v = (vertices - centre) @ rotation.T
    tri = v[faces]  # (F, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(1e-12)
    light = np.array([0.3, 0.5, 0.81])
    shade = 0.35 + 0.65 * np.abs(normals @ light)  # two-sided: the wrist opening shows its inside
    order = np.argsort(tri[:, :, 2].mean(1))  # far to near
    colors = np.clip(shade[order, None] * color[None], 0, 1)
    ax.add_collection(PolyCollection(tri[order, :, :2], facecolors=colors, edgecolors=colors, linewidths=0.2))
    if joints is not None:
        from cliphand.hand.skeleton import FINGERS, PARENTS

        j = (joints - centre) @ rotation.T
        segments, seg_colors = [], []
        for child, parent in enumerate(PARENTS):
            if parent >= 0:
                segments.append([j[parent, :2], j[child, :2]])
                seg_colors.append(BONE_COLORS[FINGERS[(child - 1) // 4]])
        ax.add_collection(LineCollection(segments, colors=seg_colors, linewidths=1.5, zorder=3))
        ax.scatter(j[:, 0], j[:, 1], s=4, c="k", zorder=4)
    extent = np.abs(v[:, :2]).max() * 1.05
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.axis("off")


def mesh_grid(
    meshes: Sequence[tuple[np.ndarray, np.ndarray | None]],
    faces: np.ndarray,
    titles: Sequence[str],
    out: Path,
    rotations: Sequence[np.ndarray] | None = None,
    columns: int = 5,
    panel_inches: float = 2.2,
) -> Path:
    """Save a labelled grid of (vertices, joints) pairs sharing one face array to `out` (PNG).

    `rotations` gives each panel's model-to-view rotation (default: look down the model's -z).
    """
    rotations = rotations if rotations is not None else [np.eye(3)] * len(meshes)
    rows = -(-len(meshes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * panel_inches, rows * panel_inches), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (verts, joints), title, rotation in zip(axes.flat, meshes, titles, rotations, strict=False):
        draw_mesh(ax, verts, faces, rotation, joints)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
