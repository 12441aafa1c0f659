"""Write synthetic samples in FreiHAND's training layout, split across processes.

training/rgb/%08d.jpg, training/mask/%08d.jpg
training_{xyz,K,verts,scale,mano}.json   (mano = the hand model's pose, shape, translation)
training_meta.json                       gesture, background, prompt, pose source per sample
synth_info.json                          the settings, so a set can be regenerated
"""

from __future__ import annotations

import os
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image
from tqdm import tqdm

from cliphand import __version__
from cliphand.fileio import write_bytes
from cliphand.hand.gestures import GESTURES
from cliphand.synth.generator import Generator, SynthConfig, SynthSample

_WORKER: dict[str, Any] = {}


def _init_pool_worker(*args) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it cancels the pool
    _init_worker(*args)


def _init_worker(hand: str, hand_options: dict, config: SynthConfig, seed: int, out: str) -> None:
    import torch

    from cliphand.hand import load_hand_model

    torch.set_num_threads(1)  # one process per core; threads would fight over them
    _WORKER["generator"] = Generator(load_hand_model(hand, **hand_options), config, seed)
    _WORKER["out"] = Path(out)


def _render_and_save(index: int) -> dict[str, Any]:
    sample = _WORKER["generator"].sample(index)
    save_images(_WORKER["out"], index, sample)
    return annotation(sample)


def save_images(out: Path, index: int, sample: SynthSample) -> None:
    Image.fromarray(sample.image).save(out / "training" / "rgb" / f"{index:08d}.jpg", quality=sample.jpeg_quality)
    Image.fromarray(sample.mask).save(out / "training" / "mask" / f"{index:08d}.jpg", quality=95)


def annotation(sample: SynthSample) -> dict[str, Any]:
    """Per-sample annotations as numpy arrays (cheap to send between processes)."""
    return {
        "xyz": sample.joints_3d,
        "K": sample.K,
        "verts": sample.vertices,
        "scale": np.linalg.norm(sample.joints_3d[9] - sample.joints_3d[10]),
        "mano": np.concatenate([sample.pose, sample.shape, sample.trans])[None],
        "meta": {
            "gesture": GESTURES[sample.gesture],
            "gesture_index": sample.gesture,
            "background": sample.background,
            "prompt": sample.prompt,
            "pose_source": sample.pose_source,
            "held_object": sample.held_object,
            "distractor": sample.distractor,
        },
    }


def write_dataset(
    out: str | Path,
    num: int,
    seed: int = 0,
    hand: str = "openhand",
    hand_options: dict | None = None,
    config: SynthConfig | None = None,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Render `num` samples into `out` in FreiHAND's training layout. Same seed, same bytes.

    `out` must be absent or empty, unless `overwrite`: then it is replaced whole, once the new
    set is complete (it is rendered beside it first), so old images never mix with new labels.
    `workers` defaults to every core.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file; give a folder for the dataset")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; choose another folder or pass --overwrite to replace it")
    config = config or SynthConfig()
    hand_options = hand_options or {}
    workers = workers or os.cpu_count() or 1
    final, out = out, out.with_name(f".{out.name}.partial")
    if out.exists():
        shutil.rmtree(out)  # left over from an interrupted run
    old = final.with_name(f".{final.name}.old")
    try:
        _render_into(out, num, seed, hand, hand_options, config, workers, progress)
        if final.is_dir():  # --overwrite: the old set steps aside, the new one takes its name
            os.replace(final, old)
        os.replace(out, final)
    except BaseException:  # Ctrl-C or a failure: no half-written folder stays behind
        shutil.rmtree(out, ignore_errors=True)
        if old.exists() and not final.exists():
            os.replace(old, final)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _render_into(out: Path, num: int, seed: int, hand: str, hand_options: dict, config: SynthConfig, workers: int,
                 progress: bool) -> None:  # fmt: skip
    (out / "training" / "rgb").mkdir(parents=True)
    (out / "training" / "mask").mkdir(parents=True)
    args = (hand, hand_options, config, seed, str(out))
    # The bar closes before an error or Ctrl-C is reported, so that the report is the last line.
    with tqdm(total=num, desc="rendering", unit="img", disable=not progress) as bar:
        annotations = []
        if workers <= 1:
            _init_worker(*args)
            for annotation in map(_render_and_save, range(num)):
                annotations.append(annotation)
                bar.update()
        else:
            with ProcessPoolExecutor(workers, initializer=_init_pool_worker, initargs=args) as pool:
                chunk = max(1, min(16, num // (4 * workers)))  # small chunks: no worker idles at the end
                try:
                    for annotation in pool.map(_render_and_save, range(num), chunksize=chunk):
                        annotations.append(annotation)
                        bar.update()
                except BaseException:  # stop at once: the chunks not yet started are dropped
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    for key in ("xyz", "K", "verts", "scale", "mano"):
        _write_json(out / f"training_{key}.json", np.round(np.stack([a[key] for a in annotations]), 6))
    _write_json(out / "training_meta.json", [a["meta"] for a in annotations])
    info = {
        "generator": f"cliphand {__version__} synth",
        "num": num,
        "seed": seed,
        "hand_model": hand,
        "config": asdict(config),
        "mano_layout": "pose (48, axis-angle) + shape + translation of the hand model",
    }
    _write_json(out / "synth_info.json", info, indent=True)


def _write_json(path: Path, data: Any, indent: bool = False) -> None:
    """Atomic JSON write; numpy arrays go through orjson (10x faster than json for floats)."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    write_bytes(path, orjson.dumps(data, option=option))
