"""`cliphand eval`: run a checkpoint on a dataset split and score it with the official protocols."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cliphand.data import collate_samples, load_dataset
from cliphand.eval.predictions import write_freihand_predictions, zip_predictions
from cliphand.eval.protocols import DEXTER_PROTOCOL, RHD_PROTOCOL, evaluate_freihand, evaluate_pck
from cliphand.eval.report import format_scores, plot_pck
from cliphand.fileio import write_text
from cliphand.model.checkpoint import load_model_from_checkpoint
from cliphand.model.cliphand import root_translation


@torch.no_grad()
def evaluate_checkpoint(
    checkpoint: str | Path,
    dataset: str,
    data: str | Path,
    out: str | Path,
    split: str = "evaluation",
    overlays: int = 8,
) -> Path:
    """Predict, score (scores.json + PCK plot), write pred.json (FreiHAND) and overlay pictures."""
    out = Path(out)
    model = load_model_from_checkpoint(checkpoint)
    size = model.config.image_size
    ds = load_dataset(dataset, data, split, size=size)
    loader = torch.utils.data.DataLoader(ds, batch_size=16, collate_fn=collate_samples)
    joints, vertices, gt, gt_verts, has_verts, visible, shown = [], [], [], [], [], [], []
    for batch in tqdm(loader, desc="evaluating", unit="batch"):
        pred = model(batch["image"])
        root = root_translation(pred["camera"], batch["K"], size)[:, None]
        wrist = pred["joints"][:, :1]
        joints.append((pred["joints"] - wrist + root).numpy())
        vertices.append((pred["vertices"] - wrist + root).numpy())
        gt.append(batch["joints_3d"].numpy())
        gt_verts.append(batch["vertices"].numpy())
        has_verts.append(batch["has_vertices"].numpy())
        visible.append(batch["visible"].numpy())
        if len(shown) < overlays:
            shown += [
                (batch["image"][i], batch["K"][i], vertices[-1][i], joints[-1][i]) for i in range(len(batch["image"]))
            ]
    joints, vertices, gt = np.concatenate(joints), np.concatenate(vertices), np.concatenate(gt)
    gt_verts, has_verts, visible = np.concatenate(gt_verts), np.concatenate(has_verts), np.concatenate(visible)
    out.mkdir(parents=True, exist_ok=True)
    if dataset == "freihand":
        mesh_gt = has_verts.all()
        scores = evaluate_freihand(
            gt, gt_verts if mesh_gt else np.zeros((len(gt), 1, 3)), joints, vertices if mesh_gt else None
        )
        zip_predictions(write_freihand_predictions(out / "pred.json", joints, vertices))
    else:
        scores = evaluate_pck(gt, joints, RHD_PROTOCOL if dataset == "rhd" else DEXTER_PROTOCOL, visible)
    scores = {"dataset": dataset, "checkpoint": str(checkpoint), "split": split, **scores}
    write_text(out / "scores.json", json.dumps(scores, indent=2))
    plot_pck(scores, out / "scores_pck.png", f"{dataset} {split}: PCK")
    _overlays(shown[:overlays], model.faces.numpy(), out, size)
    print(format_scores(scores))
    return out / "scores.json"


def _overlays(samples: list, faces, out: Path, size: int) -> None:
    """Predicted meshes rendered over their input crops, with the predicted skeleton."""
    if not samples:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cliphand.data.geometry import project
    from cliphand.hand.skeleton import PARENTS
    from cliphand.render.raster import composite, render_mesh

    cols = min(4, len(samples))
    rows = -(-len(samples) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, K, verts, joints) in zip(axes.flat, samples, strict=False):
        picture = (image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        K = K.numpy().astype(np.float64)
        if (verts[:, 2] > 0.05).all():  # a mesh behind the camera is not drawn
            rendering = render_mesh(
                verts.astype(np.float64), faces, K, size, size, colors=np.full((len(verts), 3), 0.6)
            )
            rendering.alpha *= 0.7  # let the photo show through the mesh
            picture = composite(picture, rendering)
        ax.imshow(picture)
        uv = project(joints.astype(np.float64), K)
        for child, parent in enumerate(PARENTS):
            if parent >= 0:
                ax.plot(*uv[[parent, child]].T, "-", color="yellow", lw=1)
    fig.tight_layout()
    fig.savefig(out / "overlays.png", dpi=100)
    plt.close(fig)
