"""`cliphand predict` on images and folders: per image a JSON file, a mesh and an overlay
picture, and an index.html that shows them all."""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from cliphand.hand.meshio import save_mesh
from cliphand.hand.skeleton import FINGERS, PARENTS
from cliphand.infer.estimator import HandPoseEstimator, HandPrediction, InferenceError, load_image
from cliphand.render.preview import BONE_COLORS
from cliphand.render.raster import composite, render_mesh

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted); videos pass through."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def overlay(image: np.ndarray, pred: HandPrediction, opacity: float = 0.6) -> np.ndarray:
    """The predicted mesh rendered over the image with the input K, plus the skeleton."""
    h, w = image.shape[:2]
    picture = image
    if (pred.vertices[:, 2] > 0.01).all():
        rendering = render_mesh(pred.vertices, pred.faces, pred.K, h, w, colors=np.full((len(pred.vertices), 3), 0.75))
        rendering.alpha *= opacity
        picture = composite(image, rendering)
    canvas = Image.fromarray(picture)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(max(h, w) / 200))
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            a, b = pred.joints_2d[parent], pred.joints_2d[child]
            draw.line([tuple(a), tuple(b)], fill=BONE_COLORS[FINGERS[(child - 1) // 4]], width=width)
    for u, v in pred.joints_2d:
        draw.ellipse([u - width, v - width, u + width, v + width], fill="white", outline="black")
    return np.asarray(canvas)


def predict_images(
    estimator: HandPoseEstimator,
    paths: Sequence[Path],
    out: Path,
    bbox: Sequence[float] | None = None,
    is_left: bool = False,
    focal: float | None = None,
    mesh_format: str = ".obj",
) -> tuple[list[dict], list[str]]:
    """Predict every image; a bad one is reported and skipped. Returns (results, errors)."""
    out.mkdir(parents=True, exist_ok=True)
    results, errors = [], []
    for path in tqdm(paths, desc="predicting", unit="img", disable=len(paths) < 2):
        try:
            image = load_image(path)
            pred = estimator.predict(image, bbox=bbox, is_left=is_left, focal=focal)
        except InferenceError as exc:
            errors.append(str(exc))
            print(f"cliphand: error: {exc}", file=sys.stderr)
            continue
        stem = path.stem
        record = pred.to_dict()
        (out / f"{stem}.json").write_text(json.dumps(record))
        save_mesh(out / f"{stem}{mesh_format}", pred.vertices, pred.faces)
        Image.fromarray(overlay(image, pred)).save(out / f"{stem}_overlay.png")
        results.append(
            {"input": str(path), "stem": stem, "confidence": record["confidence"], "mesh": f"{stem}{mesh_format}"}
        )
    write_index(out, results, errors)
    return results, errors


def write_index(out: Path, results: list[dict], errors: list[str]) -> Path:
    """index.html: every overlay with links to its JSON and mesh, and the errors."""
    cards = "\n".join(
        f'<figure><img src="{html.escape(r["stem"])}_overlay.png" width="320">'
        f"<figcaption>{html.escape(Path(r['input']).name)} &middot; confidence {r['confidence']:.2f}<br>"
        f'<a href="{html.escape(r["stem"])}.json">JSON</a> &middot; <a href="{html.escape(r["mesh"])}">mesh</a>'
        "</figcaption></figure>"
        for r in results
    )
    problems = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    page = (
        "<!doctype html><meta charset='utf-8'><title>cliphand predictions</title>"
        "<style>body{font-family:sans-serif}figure{display:inline-block;margin:8px}</style>"
        f"<h1>cliphand predictions ({len(results)} images)</h1>{cards}"
        + (f"<h2>Could not process</h2><ul>{problems}</ul>" if errors else "")
    )
    path = out / "index.html"
    path.write_text(page)
    return path
