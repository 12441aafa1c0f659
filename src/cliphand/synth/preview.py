"""A labelled contact sheet of synthetic samples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cliphand.data.geometry import project  # noqa: E402
from cliphand.hand.gestures import GESTURES  # noqa: E402
from cliphand.render.overlay import draw_skeleton  # noqa: E402
from cliphand.synth.generator import SynthSample  # noqa: E402


def contact_sheet(samples: Sequence[SynthSample], out: Path, skeleton: bool = True, columns: int = 4) -> Path:
    """Write a PNG grid of samples titled with gesture, background and pose source."""
    rows = -(-len(samples) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.4, rows * 2.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, samples, strict=False):
        ax.imshow(s.image)
        if skeleton:
            draw_skeleton(ax, project(s.joints_3d, s.K))
        ax.set_xlim(-0.5, s.image.shape[1] - 0.5)
        ax.set_ylim(s.image.shape[0] - 0.5, -0.5)
        ax.set_title(f"{GESTURES[s.gesture]} | {s.background}\n{s.pose_source}", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
