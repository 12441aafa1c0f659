"""`cliphand demo`: the whole system on a fresh machine, with no licensed data and no downloads.

Renders a synthetic training set and a held-out set, trains the fastest-learning config
(mobile: an ImageNet-pretrained EfficientNet-Lite0 with the paper's modules) for a fixed number
of steps, scores it with the FreiHAND protocol on the held-out set beside the best fixed answer,
predicts on held-out images (JSON, meshes, overlays), then runs the pretrained model shipped
in the package on the same held-out set and on real photos (FreiHAND evaluation crops, when a
folder of them is given or found at ../shared/real/freihand_eval200), and writes a report
folder whose index.html shows everything.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from cliphand.data import load_dataset
from cliphand.eval.protocols import evaluate_freihand
from cliphand.hand import load_hand_model
from cliphand.hand.gestures import GESTURES, gesture_templates
from cliphand.infer import HandPoseEstimator
from cliphand.infer.predict import predict_images
from cliphand.model import load_config
from cliphand.synth.generator import SynthConfig
from cliphand.synth.writer import write_dataset
from cliphand.train.evaluate import evaluate_checkpoint
from cliphand.train.runs import train_runs


def run_demo(
    out: Path, train_images: int = 2000, test_images: int = 120, steps: int = 500, predict_images_count: int = 8,
    workers: int | None = None, seed: int = 0, config_name: str = "mobile", real: Path | None = None,
) -> Path:  # fmt: skip
    """Run the demo into `out`; returns the report's index.html."""
    start = time.perf_counter()
    out = Path(out)
    timings = {}
    print(f"[1/6] rendering {train_images} training and {test_images} held-out synthetic images")
    t = time.perf_counter()
    # Views within 70 degrees of frontal (FreiHAND-like): a budget of minutes cannot learn every orientation.
    synth = SynthConfig(view_spread_deg=70.0)
    workers = workers or os.cpu_count() or 1
    train_set = write_dataset(out / "data" / "train", train_images, seed, config=synth, workers=workers, overwrite=True)
    test_set = write_dataset(
        out / "data" / "test", test_images, seed + 1000, config=synth, workers=workers, overwrite=True
    )
    timings["synth_s"] = time.perf_counter() - t
    print(f"[2/6] training the {config_name} config for {steps} steps")
    t = time.perf_counter()
    config = load_config(config_name)
    config = replace(
        config, train=replace(config.train, val_every_steps=max(50, steps // 4), num_workers=min(2, workers))
    )
    run = out / "run"
    if run.exists() and not (run / "last.pt").exists():
        shutil.rmtree(run)
    resume = (run / "last.pt").exists()
    train_runs(config, train_set, run, max_steps=steps, resume=resume, seed=seed)
    timings["train_s"] = time.perf_counter() - t
    print("[3/6] scoring on the held-out set (FreiHAND protocol)")
    t = time.perf_counter()
    evaluate_checkpoint(run / "last.pt", "freihand", test_set, out / "eval", split="training", overlays=8)
    timings["eval_s"] = time.perf_counter() - t
    scores = json.loads((out / "eval" / "scores.json").read_text())
    baseline_name, baseline = template_baseline(load_dataset("freihand", test_set))
    print(
        f"      held-out PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm; the best fixed answer "
        f"('{baseline_name}' for every image) {baseline:.1f} mm"
    )
    estimator = HandPoseEstimator.from_checkpoint(run / "last.pt")
    dataset = load_dataset("freihand", test_set)
    images = [dataset.records[i].image_path for i in range(min(predict_images_count, len(dataset)))]
    print(f"[4/6] predicting joints, meshes and overlays for {len(images)} held-out images")
    # The synthetic images are hand crops already, with their K: the whole image is the crop.
    predict_images(estimator, images, out / "predictions", focal=float(dataset.records[0].K[0, 0]), detect=False)
    spread = prediction_spread(out / "predictions")
    print("[5/6] the shipped pretrained model on the held-out set" + (f" and on photos in {real}" if real else ""))
    shipped = shipped_model(out / "shipped", dataset, real)
    timings["total_s"] = time.perf_counter() - start
    print("[6/6] writing the report")
    return write_report(out, timings, config_name, steps, (baseline_name, baseline), spread, shipped)


REAL_PHOTOS = Path("..") / "shared" / "real" / "freihand_eval200"


def default_real_photos() -> Path | None:
    """The FreiHAND evaluation crops beside this checkout, if they are there."""
    return REAL_PHOTOS if (REAL_PHOTOS / "evaluation" / "rgb").is_dir() else None


def shipped_model(out: Path, dataset, real: Path | None, count: int = 8) -> dict:
    """Score the shipped model on the held-out synthetic set; overlays on it and on real photos."""
    estimator = HandPoseEstimator.default()
    records = dataset.records
    predictions = estimator.predict_batch([r.image_path for r in records], focal=float(records[0].K[0, 0]))
    gt, gt_verts = np.stack([r.joints_3d for r in records]), np.stack([r.vertices for r in records])
    pred, pred_verts = np.stack([p.joints_3d for p in predictions]), np.stack([p.vertices for p in predictions])
    scores = evaluate_freihand(gt, gt_verts, pred, pred_verts)
    print(f"      shipped model: held-out PA-MPJPE {scores['pa_mpjpe_mm']:.1f} mm, F@15 {scores['f_score_15mm']:.3f}")
    predict_images(estimator, [r.image_path for r in records[:count]], out / "synthetic", detect=False)
    summary = {"pa_mpjpe_mm": scores["pa_mpjpe_mm"], "f_score_15mm": scores["f_score_15mm"], "real_photos": None}
    if real is not None:
        photos = sorted((Path(real) / "evaluation" / "rgb").glob("*.jpg"))[: 3 * count : 3]
        ks = Path(real) / "evaluation_K.json"
        focal = float(np.asarray(json.loads(ks.read_text()))[0, 0, 0]) if ks.exists() else None
        predict_images(estimator, photos, out / "real", focal=focal, detect=False)  # FreiHAND's are crops
        summary["real_photos"] = len(photos)
    return summary


def template_baseline(dataset) -> tuple[str, float]:
    """The best fixed answer: the gesture template with the lowest PA-MPJPE on every image."""
    gt = np.stack([r.joints_3d for r in dataset.records])
    templates = gesture_templates(load_hand_model("openhand")).numpy()
    scores = {
        name: evaluate_freihand(gt, None, np.repeat(templates[i : i + 1], len(gt), 0), None)["pa_mpjpe_mm"]
        for i, name in enumerate(GESTURES)
    }
    best = min(scores, key=scores.get)
    return best, scores[best]


def prediction_spread(folder: Path) -> float:
    """Mean per-joint standard deviation (mm) of the root-relative joints predicted across the
    images: 0 for a network that answers every image with the same hand."""
    joints = []
    for path in sorted(folder.glob("*.json")):
        j = np.asarray(json.loads(path.read_text())["hands"][0]["joints_3d"])
        joints.append(j - j[:1])
    return float(np.stack(joints).std(0).mean() * 1000) if len(joints) > 1 else 0.0


def write_report(
    out: Path, timings: dict[str, float], config_name: str, steps: int, baseline: tuple[str, float], spread: float,
    shipped: dict,
) -> Path:  # fmt: skip
    scores = json.loads((out / "eval" / "scores.json").read_text())
    keys = ("pa_mpjpe_mm", "pa_mpvpe_mm", "f_score_5mm", "f_score_15mm", "auc_pa_joints_0_50mm", "n_samples")
    rows = "".join(
        f"<tr><td>{k}</td><td>{'n/a' if scores.get(k) is None else round(scores[k], 4)}</td></tr>" for k in keys
    )
    rows += (
        f"<tr><td>best fixed answer ({html.escape(baseline[0])} for every image)</td><td>{baseline[1]:.2f} mm</td></tr>"
    )
    rows += f"<tr><td>spread of the predictions across images</td><td>{spread:.1f} mm</td></tr>"
    summary = {
        "config": config_name,
        "steps": steps,
        "scores": {k: scores.get(k) for k in keys},
        "template_baseline": {"gesture": baseline[0], "pa_mpjpe_mm": baseline[1]},
        "prediction_spread_mm": spread,
        "shipped_model": shipped,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    real_link = (
        f' &middot; <a href="shipped/real/index.html">on {shipped["real_photos"]} real photos</a>'
        if shipped["real_photos"]
        else " (no real photos found: give --real DIR)"
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>cliphand demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} td{{padding:2px 12px}} img{{max-width:100%}}</style>
<h1>cliphand demo</h1>
<p>The {html.escape(config_name)} CLIP-Hand config trained for {steps} steps on synthetic hands rendered by
cliphand (no licensed data, no downloads), scored on held-out synthetic images with the FreiHAND protocol.
Total time {timings["total_s"] / 60:.1f} min.</p>
<h2>Scores (held-out synthetic set)</h2><table>{rows}</table>
<p><a href="eval/scores.json">scores.json</a> &middot; <a href="summary.json">summary.json</a></p>
<h2>Training</h2><img src="run/loss_curve.png">
<h2>PCK curves</h2><img src="eval/scores_pck.png">
<h2>Predictions over the inputs</h2><img src="eval/overlays.png">
<p>Per-image JSON, meshes and overlays: <a href="predictions/index.html">predictions/index.html</a></p>
<h2>The shipped pretrained model</h2>
<p>The model inside the package (<code>HandPoseEstimator.default()</code>, docs/model_card.md) on the same
held-out set: PA-MPJPE {shipped["pa_mpjpe_mm"]:.2f} mm, F@15 {shipped["f_score_15mm"]:.3f}.
<a href="shipped/synthetic/index.html">Its predictions on held-out synthetic images</a>{real_link}.</p>
<h2>Training data</h2><p>{html.escape(str(out / "data"))} (FreiHAND layout; see data/train/synth_info.json)</p>
"""
    index = out / "index.html"
    index.write_text(page)
    return index
