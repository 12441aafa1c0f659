"""Drawing 2D labels over images: skeleton, joints and projected mesh vertices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cliphand.hand.skeleton import FINGERS, PARENTS  # noqa: E402
from cliphand.render.preview import BONE_COLORS  # noqa: E402


def draw_skeleton(ax: plt.Axes, joints_2d: np.ndarray, visible: np.ndarray | None = None) -> None:
    """Draw (21, 2) joints and bones on `ax`; invisible joints hollow, their bones dashed."""
    visible = np.ones(21, bool) if visible is None else np.asarray(visible, bool)
    for child, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        style = "-" if visible[child] and visible[parent] else ":"
        color = BONE_COLORS[FINGERS[(child - 1) // 4]]
        ax.plot(*joints_2d[[parent, child]].T, style, color=color, linewidth=1.5)
    ax.scatter(*joints_2d[visible].T, s=10, c="white", edgecolors="black", linewidths=0.6, zorder=3)
    ax.scatter(*joints_2d[~visible].T, s=10, facecolors="none", edgecolors="white", linewidths=0.6, zorder=3)


def save_sample_figure(
    image: np.ndarray,
    joints_2d: np.ndarray,
    visible: np.ndarray,
    out: Path,
    vertices_2d: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Write a PNG of an image with its projected labels (and mask outline when given)."""
    fig, ax = plt.subplots(figsize=(5, 5.6))
    ax.imshow(image)
    if mask is not None:
        ax.contour(mask > 127, levels=[0.5], colors="cyan", linewidths=0.8)
    if vertices_2d is not None:
        ax.scatter(*vertices_2d.T, s=0.5, c="yellow", alpha=0.5)
    draw_skeleton(ax, joints_2d, visible)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.axis("off")
    ax.set_title(title, fontsize=8, wrap=True)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
