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
from cliphand.infer.estimator import (
    HandPoseEstimator,
    HandPrediction,
    InferenceError,
    camera_matrix,
    checked_intrinsics,
    load_image,
)
from cliphand.render.preview import BONE_COLORS
from cliphand.render.raster import composite, render_mesh

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def expand_inputs(paths: Sequence[str | Path], skip_outputs_of: Path | None = None) -> list[Path]:
    """Files as given, folders expanded to their images (sorted); videos pass through. Overlays
    that an earlier run wrote into `skip_outputs_of` are not inputs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            images = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if skip_outputs_of is not None and p.resolve() == Path(skip_outputs_of).resolve():
                images = [f for f in images if not f.stem.endswith("_overlay")]
            out += images
        else:
            out.append(p)
    return out


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """Output names: the file's stem, with _2, _3 ... when two inputs share one (a/x.jpg, b/x.png)."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        count = seen.get(path.stem, 0) + 1
        seen[path.stem] = count
        stems.append(path.stem if count == 1 else f"{path.stem}_{count}")
    return stems


def overlay(image: np.ndarray, preds: HandPrediction | Sequence[HandPrediction], opacity: float = 0.6) -> np.ndarray:
    """The predicted meshes rendered over the image with the input K, plus the skeletons."""
    preds = [preds] if isinstance(preds, HandPrediction) else list(preds)
    h, w = image.shape[:2]
    picture = image
    for pred in sorted(preds, key=lambda p: -p.joints_3d[:, 2].mean()):  # far hands first
        if (pred.vertices[:, 2] > 0.01).all():
            colors = np.full((len(pred.vertices), 3), 0.75)
            rendering = render_mesh(pred.vertices, pred.faces, pred.K, h, w, colors=colors)
            rendering.alpha *= opacity
            picture = composite(picture, rendering)
    canvas = Image.fromarray(picture)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(max(h, w) / 200))
    for pred in preds:
        for child, parent in enumerate(PARENTS):
            if parent >= 0:
                a, b = pred.joints_2d[parent], pred.joints_2d[child]
                draw.line([tuple(a), tuple(b)], fill=BONE_COLORS[FINGERS[(child - 1) // 4]], width=width)
        for u, v in pred.joints_2d:
            draw.ellipse([u - width, v - width, u + width, v + width], fill="white", outline="black")
        if pred.bbox is not None and len(preds) > 1:  # which hand is which
            x, y = pred.bbox[0], pred.bbox[1]
            draw.text((x, max(0, y - 12)), f"{pred.handedness} {pred.score or pred.confidence:.2f}", fill="yellow")
    return np.asarray(canvas)


def hand_record(pred: HandPrediction) -> dict:
    """One hand of the per-image JSON (faces and K are per image, not per hand)."""
    return pred.to_dict(faces=False)


def image_record(image: np.ndarray, preds: Sequence[HandPrediction], focal: float | None = None,
                 intrinsics: np.ndarray | None = None) -> dict:  # fmt: skip
    """{"width", "height", "K", "hands"} of one image: the per-image JSON, without its name."""
    h, w = image.shape[:2]
    K = preds[0].K if preds else camera_matrix(w, h, focal, intrinsics)
    return {"width": w, "height": h, "K": np.round(K, 4).tolist(), "hands": [hand_record(p) for p in preds]}


def predict_images(
    estimator: HandPoseEstimator,
    paths: Sequence[Path],
    out: Path,
    bbox: Sequence[float] | None = None,
    is_left: bool | None = None,
    focal: float | None = None,
    mesh_format: str = ".obj",
    detect: bool = True,
    max_hands: int = 4,
    intrinsics: Sequence[np.ndarray] | None = None,
) -> tuple[list[dict], list[str]]:
    """Predict every image; a bad one is reported and skipped. Returns (results, errors).

    Without a box (and with detect) every detected hand is predicted, up to max_hands; with a
    box, or detect=False (the whole image is the crop), one hand. Per image: <stem>.json
    ({"image", "width", "height", "K", "hands": [...]}, hands best first), one mesh per hand
    (<stem>_hand<k>.obj) and <stem>_overlay.png with every hand. `intrinsics`: one (3, 3) K per
    path (load_intrinsics), else `focal` or the default camera.
    """
    out.mkdir(parents=True, exist_ok=True)
    results, errors = [], []
    stems = unique_stems(paths)
    Ks = list(intrinsics) if intrinsics is not None else [None] * len(paths)
    for path, stem, K_given in tqdm(zip(paths, stems, Ks, strict=True), desc="predicting", unit="img",
                                    total=len(paths), disable=len(paths) < 2):  # fmt: skip
        try:
            image = load_image(path)
            if bbox is None and detect:
                preds = estimator.predict_hands(image, max_hands, focal, is_left=is_left, intrinsics=K_given)
            else:
                preds = [estimator.predict(image, bbox, bool(is_left), focal, detect=False, intrinsics=K_given)]
        except InferenceError as exc:
            errors.append(str(exc))
            print(f"cliphand: error: {exc}", file=sys.stderr)
            continue
        if not preds:
            print(
                f"cliphand: no hand found in {path} (--bbox x,y,w,h gives one; --no-detect: a hand crop)",
                file=sys.stderr,
            )
        record = {"image": path.name, **image_record(image, preds, focal, K_given)}
        try:
            text = json.dumps(record, allow_nan=False)
        except ValueError:  # a non-finite prediction: say so rather than write invalid JSON
            errors.append(f"{path}: the network returned non-finite values")
            print(f"cliphand: error: {errors[-1]}", file=sys.stderr)
            continue
        (out / f"{stem}.json").write_text(text)
        meshes = []
        for k, pred in enumerate(preds):
            meshes.append(f"{stem}_hand{k}{mesh_format}")
            save_mesh(out / meshes[-1], pred.vertices, pred.faces)
        Image.fromarray(overlay(image, preds)).save(out / f"{stem}_overlay.png")
        confidence = max((p.confidence for p in preds), default=0.0)
        results.append({"input": str(path), "stem": stem, "hands": len(preds), "confidence": confidence,
                        "meshes": meshes})  # fmt: skip
    write_index(out, results, errors)
    return results, errors


def write_index(out: Path, results: list[dict], errors: list[str]) -> Path:
    """index.html: every overlay with links to its JSON and mesh, and the errors."""
    cards = "\n".join(
        f'<figure><img src="{html.escape(r["stem"])}_overlay.png" width="320">'
        f"<figcaption>{html.escape(Path(r['input']).name)} &middot; {r['hands']} hand(s) &middot; "
        f"confidence {r['confidence']:.2f}<br>"
        f'<a href="{html.escape(r["stem"])}.json">JSON</a>'
        + "".join(f' &middot; <a href="{html.escape(m)}">mesh {k}</a>' for k, m in enumerate(r["meshes"]))
        + "</figcaption></figure>"
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


def load_intrinsics(path: Path, inputs: Sequence[Path]) -> list[np.ndarray]:
    """One (3, 3) K per input from a JSON file holding one matrix for all inputs, a list with one
    matrix per input in order (FreiHAND's *_K.json), or an object mapping file names to matrices."""
    if not Path(path).is_file():
        raise InferenceError(f"intrinsics file not found: {path}")
    try:
        data = json.loads(Path(path).read_text())
    except ValueError as exc:
        raise InferenceError(f"{path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise InferenceError(f"cannot read intrinsics {path}: {exc.strerror or exc}") from None
    if isinstance(data, dict):
        missing = [p.name for p in inputs if p.name not in data]
        if missing:
            raise InferenceError(f"{path} has no matrix for {missing[0]} ({len(missing)} input(s) missing)")
        matrices = [data[p.name] for p in inputs]
    elif _is_matrix(data):
        matrices = [data] * len(inputs)
    elif isinstance(data, list) and len(data) == len(inputs):
        matrices = data
    else:
        raise InferenceError(
            f"{path} must hold one 3x3 matrix, a list of {len(inputs)} (one per input), or {{file name: matrix}}"
        )
    return [checked_intrinsics(K) for K in matrices]  # all checked before any prediction runs


def _is_matrix(value) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(isinstance(row, list) and len(row) == 3 for row in value)
