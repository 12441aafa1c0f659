"""Every command against hostile inputs: one table, one row per input.

Each row builds its inputs in a fresh folder, runs `cliphand ...` in-process from a fresh working
directory, and checks the exit code and that stderr's message matches, plus what must hold for
every row: no traceback, the error said in one line, no temporary file left anywhere, and every
JSON file written is valid (no NaN).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from batches import tiny_checkpoint
from PIL import Image

from cliphand.cli import main
from cliphand.synth.writer import write_dataset

# ----------------------------------------------------------------------------- shared inputs


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    """Good inputs the rows start from: a tiny checkpoint, its ONNX export, a photo, a synthetic set."""
    root = tmp_path_factory.mktemp("assets")
    ckpt = tiny_checkpoint(root / "tiny.pt")
    photo = root / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)).save(photo)
    synth = write_dataset(root / "synth", 4, seed=1, workers=1)
    cfg = root / "tiny_b2.yaml"
    cfg.write_text("base: tiny\ntrain:\n  batch_size: 2\n  val_fraction: 0.0\n")
    onnx = root / "tiny.onnx"
    if main(["export-onnx", "--checkpoint", str(ckpt), "--out", str(onnx)]) != 0:
        onnx = None
    return {"ckpt": ckpt, "photo": photo, "synth": synth, "onnx": onnx, "cfg": cfg}


@dataclass
class Row:
    """argv with {name} filled from the assets and what `build` returns; code; stderr regex."""

    id: str
    argv: list[str]
    code: int
    message: str
    build: Callable[[Path, dict], dict] | None = None
    stream: str = "err"  # where the message must appear
    extra_check: Callable[[Path], None] | None = field(default=None, repr=False)


def _file(name: str, data: bytes) -> Callable[[Path, dict], dict]:
    def build(tmp: Path, _assets: dict) -> dict:
        path = tmp / name
        path.write_bytes(data)
        return {"bad": path}

    return build


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but holds a few bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    )


def _truncated(key: str, keep: float = 0.5) -> Callable[[Path, dict], dict]:
    def build(tmp: Path, assets: dict) -> dict:
        data = assets[key].read_bytes()
        path = tmp / f"cut{assets[key].suffix}"
        path.write_bytes(data[: int(len(data) * keep)])
        return {"bad": path}

    return build


def _folder(name: str = "empty") -> Callable[[Path, dict], dict]:
    def build(tmp: Path, _assets: dict) -> dict:
        (tmp / name).mkdir()
        return {"bad": tmp / name}

    return build


def _below_a_file(tmp: Path, _assets: dict) -> dict:
    """An output path whose parent is a file: unwritable for every user, root included."""
    (tmp / "locked").write_text("a file, not a folder")
    return {"bad": tmp / "locked" / "out"}


def _image(width: int, height: int) -> Callable[[Path, dict], dict]:
    def build(tmp: Path, _assets: dict) -> dict:
        Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(tmp / "img.png")
        return {"bad": tmp / "img.png"}

    return build


def _mismatched_checkpoint(tmp: Path, assets: dict) -> dict:
    state = torch.load(assets["ckpt"], weights_only=False)
    state["config"]["hfa_dim"] = state["config"]["hfa_dim"] * 2
    torch.save(state, tmp / "mismatch.pt")
    return {"bad": tmp / "mismatch.pt"}


def _synth_with(edit: Callable[[list], None]) -> Callable[[Path, dict], dict]:
    """A copy of the synthetic set whose training_xyz.json went through `edit`."""

    def build(tmp: Path, assets: dict) -> dict:
        copy = shutil.copytree(assets["synth"], tmp / "set")
        xyz = json.loads((copy / "training_xyz.json").read_text())
        edit(xyz)
        (copy / "training_xyz.json").write_text(json.dumps(xyz).replace('"NaN"', "NaN"))
        return {"bad": copy}

    return build


def _string_label(xyz: list) -> None:
    xyz[2][5][1] = "abc"


def _nan_label(xyz: list) -> None:
    xyz[1][0][0] = "NaN"  # written as a bare NaN, which Python's json reads


def _ran_once(tmp: Path, assets: dict) -> dict:
    run = tmp / "run"
    argv = [
        "train",
        "--config",
        str(assets["cfg"]),
        "--data",
        str(assets["synth"]),
        "--out",
        str(run),
        "--max-steps",
        "1",
    ]
    assert main(argv) == 0
    return {"bad": run}


def _ran_once_and_other_lr(tmp: Path, assets: dict) -> dict:
    other = tmp / "other_lr.yaml"
    other.write_text(assets["cfg"].read_text() + "  lr: 0.5\n")
    return {**_ran_once(tmp, assets), "lr_cfg": other}


def _with_pred(content: str) -> Callable[[Path, dict], dict]:
    return _file("pred.json", content.encode())


def _yaml(text: str) -> Callable[[Path, dict], dict]:
    return _file("config.yaml", text.encode())


def _check_no_file(name: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert not any(tmp.rglob(name)), f"{name} was written"

    return check


P = ["predict", "--checkpoint", "{ckpt}", "--out", "{tmp}/out"]
NO_DETECT = [*P, "--no-detect"]
EVAL = ["eval", "--checkpoint", "{ckpt}", "--out", "{tmp}/e"]
EVALPRED = ["evaluate-predictions", "--gt", "{synth}", "--split", "training"]
TRAIN = ["train", "--config", "{cfg}", "--data", "{synth}"]
ONE_JOINT_SET = json.dumps([[[[0.0] * 3] * 21]])
NAN_JOINTS = json.dumps([[[[float("nan")] * 3] * 21] * 4])

# fmt: off
ROWS = [
    # ---------------------------------------------------------------- the command line itself
    Row("no-command", [], 2, r"required: COMMAND"),
    Row("unknown-command", ["fly"], 2, r"invalid choice: 'fly'"),
    Row("unknown-option", ["predict", "x", "--out", "o", "--colour"], 2, r"unrecognized arguments: --colour"),
    # ---------------------------------------------------------------- predict: inputs and outputs
    Row("predict-missing-file", [*NO_DETECT, "{tmp}/nope.jpg"], 2, r"no such file or folder: .*nope\.jpg"),
    Row("predict-empty-folder", [*NO_DETECT, "{bad}"], 2, r"no images in .*empty", _folder()),
    Row("predict-zero-byte", [*NO_DETECT, "{bad}"], 1, r"cannot read image .*zero\.png", _file("zero.png", b"")),
    Row("predict-text-as-image", [*NO_DETECT, "{bad}"], 1, r"cannot read image .*notes\.jpg",
        _file("notes.jpg", b"shopping list: eggs")),
    Row("predict-truncated-png", [*NO_DETECT, "{bad}"], 1, r"cannot read image .*cut\.png", _truncated("photo", 0.3)),
    Row("predict-bomb", [*NO_DETECT, "{bad}"], 1, r"bomb\.png is too large: over 100,000,000 pixels",
        _file("bomb.png", _png_header(20000, 20000))),
    Row("predict-1x1", [*NO_DETECT, "{bad}"], 1, r"img\.png is 1x1 pixels: too small to show a hand", _image(1, 1)),
    Row("predict-unreadable-video", [*NO_DETECT, "{bad}"], 1, r"cannot (open|read) video .*clip\.mp4",
        _file("clip.mp4", os.urandom(4000))),
    Row("predict-out-is-a-file", ["predict", "--checkpoint", "{ckpt}", "--out", "{photo}", "--no-detect", "{photo}"],
        2, r"--out .*photo\.png is a file"),
    Row("predict-out-below-a-file", ["predict", "--checkpoint", "{ckpt}", "--out", "{bad}", "--no-detect", "{photo}"],
        2, r"cannot use .*locked.*: part of that path is a file, not a folder", _below_a_file),
    # ---------------------------------------------------------------- predict: numbers
    Row("predict-bbox-nan", [*P, "--bbox", "nan,0,10,10", "{photo}"], 2, r"--bbox must be x,y,w,h with finite"),
    Row("predict-bbox-inf", [*P, "--bbox", "0,0,inf,10", "{photo}"], 2, r"--bbox must be x,y,w,h with finite"),
    Row("predict-bbox-zero", [*P, "--bbox", "0,0,0,10", "{photo}"], 2, r"positive w and h"),
    Row("predict-bbox-negative", [*P, "--bbox", "0,0,-5,10", "{photo}"], 2, r"positive w and h"),
    Row("predict-bbox-three", [*P, "--bbox", "1,2,3", "{photo}"], 2, r"--bbox must be x,y,w,h"),
    Row("predict-bbox-outside", [*P, "--bbox", "500,500,20,20", "{photo}"], 1, r"lies outside the 160x120 image"),
    Row("predict-focal-nan", [*P, "--focal", "nan", "{photo}"], 2, r"--focal: must be a number > 0, got nan"),
    Row("predict-focal-zero", [*P, "--focal", "0", "{photo}"], 2, r"--focal: must be a number > 0"),
    Row("predict-focal-negative", [*P, "--focal", "-500", "{photo}"], 2, r"--focal: must be a number > 0"),
    Row("predict-max-hands-0", [*P, "--max-hands", "0", "{photo}"], 2,
        r"--max-hands: must be an integer >= 1 and <= 16"),
    Row("predict-intrinsics-missing", [*NO_DETECT, "--intrinsics", "{tmp}/K.json", "{photo}"], 2,
        r"intrinsics file not found: .*K\.json"),
    Row("predict-intrinsics-malformed", [*NO_DETECT, "--intrinsics", "{bad}", "{photo}"], 2,
        r"K\.json is not valid JSON", _file("K.json", b"[[1, 0,")),
    Row("predict-intrinsics-not-3x3", [*NO_DETECT, "--intrinsics", "{bad}", "{photo}"], 2,
        r"K\.json must hold one 3x3 matrix", _file("K.json", b"[[1, 0], [0, 1]]")),
    Row("predict-intrinsics-and-focal", [*NO_DETECT, "--intrinsics", "{bad}", "--focal", "500", "{photo}"], 2,
        r"give --focal or --intrinsics, not both", _file("K.json", b"[[500, 0, 80], [0, 500, 60], [0, 0, 1]]")),
    # ---------------------------------------------------------------- checkpoints
    Row("ckpt-missing", ["predict", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/o", "{photo}"], 2,
        r"checkpoint not found: .*none\.pt"),
    Row("ckpt-random-bytes", ["predict", "--checkpoint", "{bad}", "--out", "{tmp}/o", "{photo}"], 2,
        r"truncated or corrupt checkpoint .*junk\.pt", _file("junk.pt", os.urandom(3000))),
    Row("ckpt-truncated", ["predict", "--checkpoint", "{bad}", "--out", "{tmp}/o", "{photo}"], 2,
        r"truncated or corrupt checkpoint .*cut\.pt: the file ends early", _truncated("ckpt")),
    Row("ckpt-text-file", ["predict", "--checkpoint", "{bad}", "--out", "{tmp}/o", "{photo}"], 2,
        r"truncated or corrupt checkpoint .*notes\.pt", _file("notes.pt", b"not a checkpoint\n")),
    Row("ckpt-mismatched-config", ["predict", "--checkpoint", "{bad}", "--out", "{tmp}/o", "{photo}"], 2,
        r"does not fit its config: \S+ is \(", _mismatched_checkpoint),
    Row("ckpt-corrupt-onnx", ["predict", "--checkpoint", "{bad}", "--out", "{tmp}/o", "{photo}"], 2,
        r"cannot load ONNX model .*bad\.onnx", _file("bad.onnx", os.urandom(2000))),
    Row("ckpt-onnx-to-eval", [*EVAL, "--data", "{synth}", "--checkpoint", "{onnx}", "--split", "training"], 2,
        r"is an ONNX model, not a training checkpoint"),
    Row("ckpt-onnx-to-export", ["export-onnx", "--checkpoint", "{onnx}", "--out", "{tmp}/x.onnx"], 2,
        r"is an ONNX model, not a training checkpoint"),
    # ---------------------------------------------------------------- export-onnx
    Row("export-out-is-folder", ["export-onnx", "--checkpoint", "{ckpt}", "--out", "{bad}"], 2,
        r"outdir is a folder; give a file name", _folder("outdir")),
    Row("export-out-below-a-file", ["export-onnx", "--checkpoint", "{ckpt}", "--out", "{bad}"], 2,
        r"cannot use .*locked.*: part of that path is a file, not a folder", _below_a_file),
    Row("export-checkpoint-missing", ["export-onnx", "--checkpoint", "{tmp}/no.pt", "--out", "{tmp}/x.onnx"], 2,
        r"checkpoint not found"),
    # ---------------------------------------------------------------- eval
    Row("eval-data-missing", [*EVAL, "--data", "{tmp}/nodata"], 2, r"nodata"),
    Row("eval-synthetic-set-evaluation-split", [*EVAL, "--data", "{synth}"], 2,
        r"has no evaluation split .*pass --split training"),
    Row("eval-string-label", [*EVAL, "--data", "{bad}", "--split", "training"], 2,
        r"training_xyz\.json: sample 2 is not all numbers .*'abc'", _synth_with(_string_label)),
    Row("eval-nan-label", [*EVAL, "--data", "{bad}", "--split", "training"], 2,
        r"training_xyz\.json: sample 1 holds values that are not finite", _synth_with(_nan_label)),
    Row("eval-overlays-negative", [*EVAL, "--data", "{synth}", "--overlays", "-1"], 2,
        r"--overlays: must be an integer >= 0"),
    Row("eval-split-unknown", [*EVAL, "--data", "{synth}", "--split", "test"], 2, r"--split: invalid choice: 'test'"),
    # ---------------------------------------------------------------- evaluate-predictions
    Row("evalpred-pred-missing", [*EVALPRED, "--pred", "{tmp}/p.json"], 2, r"predictions not found: .*p\.json"),
    Row("evalpred-pred-malformed", [*EVALPRED, "--pred", "{bad}"], 2, r"pred\.json is not valid JSON",
        _with_pred("[[[0.1, 0.2")),
    Row("evalpred-pred-wrong-count", [*EVALPRED, "--pred", "{bad}"], 2,
        r"pred\.json: 1 joint sets, but the ground truth has 4", _with_pred(ONE_JOINT_SET)),
    Row("evalpred-pred-nan", [*EVALPRED, "--pred", "{bad}"], 2, r"sample 0 has NaN", _with_pred(NAN_JOINTS)),
    Row("evalpred-synthetic-gt", ["evaluate-predictions", "--gt", "{synth}", "--pred", "{bad}", "--out",
        "{tmp}/s.json"], 2, r"no evaluation_xyz\.json; a cliphand synth set has only the training split",
        _with_pred("[[], []]")),
    Row("evalpred-out-is-folder", [*EVALPRED, "--pred", "{bad}", "--out", "{tmp}"], 2,
        r"--out .* is a folder; give the scores file", _with_pred("[[], []]")),
    Row("evalpred-gt-missing", ["evaluate-predictions", "--dataset", "rhd", "--gt", "{tmp}/gt.json", "--pred", "{bad}"],
        2, r"ground truth not found: .*gt\.json", _with_pred("[]")),
    # ---------------------------------------------------------------- model summary, bench, report
    Row("summary-runs-0", ["model", "summary", "--config", "tiny", "--runs", "0"], 2,
        r"--runs: must be an integer >= 1"),
    Row("summary-unknown-config", ["model", "summary", "--config", "s99"], 2, r"unknown config 's99'; shipped configs"),
    Row("summary-config-file-missing", ["model", "summary", "--config", "{tmp}/c.yaml"], 2, r"config file not found"),
    Row("summary-config-malformed", ["model", "summary", "--config", "{bad}"], 2, r"config\.yaml",
        _yaml("base: [tiny")),
    Row("summary-config-unknown-key", ["model", "summary", "--config", "{bad}"], 2,
        r"unknown key\(s\) colour", _yaml("colour: 3\n")),
    Row("bench-runs-0", ["bench", "--config", "tiny", "--runs", "0"], 2, r"--runs: must be an integer >= 1"),
    Row("bench-neither", ["bench"], 2, r"give --checkpoint or --config"),
    Row("report-missing", ["report", "{tmp}/scores.json"], 2, r"scores file not found"),
    Row("report-malformed", ["report", "{bad}"], 2, r"scores\.json is not valid JSON",
        _file("scores.json", b"{oops")),
    # ---------------------------------------------------------------- synth
    Row("synth-num-0", ["synth", "--num", "0", "--out", "{tmp}/s"], 2, r"--num: must be an integer >= 1, got 0",
        extra_check=_check_no_file("s")),
    Row("synth-supersample-0", ["synth", "--supersample", "0", "--out", "{tmp}/s"], 2,
        r"--supersample: must be an integer >= 1 and <= 4"),
    Row("synth-size-8", ["synth", "--size", "8", "--out", "{tmp}/s"], 2, r"--size: must be an integer >= 32"),
    Row("synth-view-spread", ["synth", "--view-spread", "500", "--out", "{tmp}/s"], 2, r"--view-spread: .*<= 180"),
    Row("synth-workers-0", ["synth", "--workers", "0", "--out", "{tmp}/s"], 2, r"--workers: must be an integer >= 1"),
    Row("synth-backgrounds", ["synth", "--backgrounds", "{tmp}/nobg", "--out", "{tmp}/s"], 2,
        r"--backgrounds must be colors, textures, mixed or a folder"),
    Row("synth-no-out", ["synth"], 2, r"needs --out DIR"),
    Row("synth-out-is-file", ["synth", "--num", "1", "--out", "{photo}"], 2, r"photo\.png is a file; give a folder"),
    Row("synth-out-not-empty", ["synth", "--num", "1", "--out", "{synth}"], 2, r"--overwrite"),
    Row("synth-mano-no-path", ["synth", "--hand", "mano", "--num", "1", "--out", "{tmp}/s"], 2,
        r"--hand mano needs --mano-path"),
    # ---------------------------------------------------------------- hand
    Row("hand-unknown-gesture", ["hand", "export", "--gesture", "wave", "--out", "{tmp}/h.obj"], 2, r"wave"),
    Row("hand-bad-format", ["hand", "export", "--out", "{tmp}/h.xyz"], 2, r"\.xyz"),
    Row("hand-mano-missing", ["hand", "info", "--model", "mano", "--mano-path", "{tmp}/MANO_RIGHT.pkl"], 2,
        r"MANO_RIGHT\.pkl"),
    Row("hand-mano-not-a-pickle", ["hand", "info", "--model", "mano", "--mano-path", "{bad}"], 2, r"mano\.pkl",
        _file("mano.pkl", b"not a pickle at all")),
    Row("hand-show-into-folder", ["hand", "show", "--gesture", "ok", "--out", "{bad}"], 0,
        r"wrote .*pics/gestures\.png", _folder("pics"), stream="out"),
    # ---------------------------------------------------------------- data
    Row("data-check-missing", ["data", "check", "--root", "{tmp}/none"], 1, r"dataset folder not found: .*none"),
    Row("data-check-empty", ["data", "check", "--root", "{bad}"], 1, r"no freihand split found in .*empty", _folder()),
    Row("data-check-string-label", ["data", "check", "--root", "{bad}"], 1,
        r"training_xyz\.json: sample 2 is not all numbers", _synth_with(_string_label)),
    Row("data-show-index", ["data", "show", "--root", "{synth}", "--index", "99", "--out", "{tmp}/x.png"], 2,
        r"index 99 out of range"),
    Row("data-show-negative-index", ["data", "show", "--root", "{synth}", "--index", "-1"], 2,
        r"--index: must be an integer >= 0"),
    # ---------------------------------------------------------------- train
    Row("train-data-missing", ["train", "--config", "{cfg}", "--data", "{tmp}/none", "--out", "{tmp}/r"], 2, r"none"),
    Row("train-unknown-config", ["train", "--config", "s99", "--data", "{synth}", "--out", "{tmp}/r"], 2, r"s99"),
    Row("train-epochs-0", [*TRAIN, "--out", "{tmp}/r", "--epochs", "0"], 2, r"--epochs: must be an integer >= 1"),
    Row("train-max-minutes-0", [*TRAIN, "--out", "{tmp}/r", "--max-minutes", "0"], 2,
        r"--max-minutes: must be a number > 0"),
    Row("train-both-limits", [*TRAIN, "--out", "{tmp}/r", "--epochs", "1", "--max-steps", "2"], 2,
        r"give --epochs or --max-steps, not both"),
    Row("train-resume-nothing", [*TRAIN, "--out", "{tmp}/r", "--resume"], 2, r"nothing to resume"),
    Row("train-init-missing", [*TRAIN, "--out", "{tmp}/r", "--init", "{tmp}/w.pt"], 2, r"checkpoint not found"),
    Row("train-init-random", [*TRAIN, "--out", "{tmp}/r", "--init", "{bad}"], 2, r"truncated or corrupt checkpoint",
        _file("w.pt", os.urandom(500))),
    Row("train-out-holds-run", [*TRAIN, "--out", "{bad}", "--max-steps", "2"], 2, r"already holds a run .*--resume",
        _ran_once),
    Row("train-resume-other-lr", ["train", "--config", "{lr_cfg}", "--data", "{synth}", "--out", "{bad}", "--resume"],
        2, r"trained with another config \(differs in: train\.lr\)", _ran_once_and_other_lr),
    # ---------------------------------------------------------------- live, serve, demo
    Row("live-video-missing", ["live", "--video", "{tmp}/v.mp4", "--checkpoint", "{ckpt}", "--no-window"], 2,
        r"v\.mp4"),
    Row("live-video-corrupt", ["live", "--video", "{bad}", "--checkpoint", "{ckpt}", "--no-window"], 2,
        r"cannot (open|read) video .*v\.mp4", _file("v.mp4", os.urandom(3000))),
    Row("serve-port-0", ["serve", "--port", "0"], 2, r"--port: must be an integer >= 1 and <= 65535"),
    Row("serve-workers-0", ["serve", "--workers", "0"], 2, r"--workers: must be an integer >= 1"),
    Row("serve-timeout-negative", ["serve", "--timeout", "-1"], 2, r"--timeout: must be a number > 0"),
    Row("serve-corrupt-checkpoint", ["serve", "--checkpoint", "{bad}"], 2, r"truncated or corrupt checkpoint",
        _file("bad.pt", os.urandom(900))),
    Row("serve-mismatched-checkpoint", ["serve", "--checkpoint", "{bad}"], 2, r"does not fit its config",
        _mismatched_checkpoint),
    Row("demo-steps-0", ["demo", "--steps", "0"], 2, r"--steps: must be an integer >= 1"),
    Row("demo-too-few-images", ["demo", "--train-images", "10"], 2, r"--train-images: must be an integer >= 16"),
]
# fmt: on


def _fill(arg: str, values: dict) -> str:
    for key, value in values.items():
        arg = arg.replace("{" + key + "}", str(value))
    return arg


def _strict_json(path: Path) -> None:
    def refuse(constant: str):
        raise ValueError(f"{path} holds {constant}")

    json.loads(path.read_text(), parse_constant=refuse)


def test_the_table_is_large_and_its_ids_unique():
    assert len(ROWS) >= 60 and len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row: Row, assets, tmp_path, monkeypatch, capsys):
    if "{onnx}" in " ".join(row.argv) and assets["onnx"] is None:
        pytest.skip("ONNX export is not installed")
    work, cwd = tmp_path / "work", tmp_path / "cwd"
    work.mkdir()
    cwd.mkdir()
    values = {"tmp": work, **assets}
    if row.build is not None:
        values.update(row.build(work, assets))
    capsys.readouterr()  # what building printed is not the row's output
    inputs = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.json")}  # deliberately broken ones too
    monkeypatch.chdir(cwd)
    try:
        code = main([_fill(arg, values) for arg in row.argv])
    finally:
        for path in work.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)  # read-only rows: let pytest clean up
    out, err = capsys.readouterr()
    stream = out if row.stream == "out" else err
    assert code == row.code, f"exit {code}, expected {row.code}\nstdout: {out}\nstderr: {err}"
    assert re.search(row.message, stream), f"{row.message!r} not in:\n{stream}"
    assert "Traceback" not in err and "Traceback" not in out
    if row.code != 0:
        problems = [line for line in err.splitlines() if line.startswith("cliphand")]
        assert len(problems) == 1 and len(problems[0]) < 400, err  # one line says it
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".partial")) or p.name.startswith("tmp")]
    assert not leftovers, leftovers
    for path in tmp_path.rglob("*.json"):
        if inputs.get(path) != path.stat().st_mtime_ns:  # written by the command
            _strict_json(path)
    if row.extra_check is not None:
        row.extra_check(work)


# ----------------------------------------------------------------------------- beyond the table


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "cliphand"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subparsers(sub, f"{prefix} {name}")


def test_every_option_is_described_and_shows_its_default():
    from cliphand.cli import build_parser

    parser = build_parser()
    assert "3D hand pose" in parser.format_help()
    for name, sub in _subparsers(parser):
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help text"
            if action.default is not None and action.default is not False:
                assert "default" in formatter._get_help_string(action), f"{name} {action.option_strings[0]}"


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_during_synth_says_so_and_leaves_nothing(tmp_path, workers):
    out = tmp_path / "set"
    command = [sys.executable, "-m", "cliphand", "synth", "--num", "400", "--workers", str(workers), "--out", str(out)]
    # Ctrl-C's default action restored: a process started in the background inherits SIGINT ignored
    restore = lambda: signal.signal(signal.SIGINT, signal.default_int_handler)  # noqa: E731
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, preexec_fn=restore)
    deadline = time.time() + 120
    while time.time() < deadline and not any(tmp_path.glob(".set.partial/training/rgb/*.jpg")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last_line = err.decode().replace("\r", "\n").strip().splitlines()[-1]
    assert last_line == f"cliphand: synth interrupted; nothing was written to {out}"
    assert list(tmp_path.iterdir()) == []  # neither the set nor its partial folder
    assert "Traceback" not in err.decode()


def test_ctrl_c_inside_a_write_waits_for_the_file_to_be_whole(tmp_path):
    from cliphand.fileio import atomic_path

    path = tmp_path / "state.bin"
    # As in an interactive shell: a test runner started in the background inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
            tmp.write_bytes(b"first half ")
            os.kill(os.getpid(), signal.SIGINT)  # held back until the block has finished
            tmp.write_bytes(b"first half, second half")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert path.read_bytes() == b"first half, second half"
    assert [p.name for p in tmp_path.iterdir()] == ["state.bin"]


def test_resume_accepts_a_change_of_data_workers(assets, tmp_path):
    run = _ran_once(tmp_path, assets)["bad"]
    more_workers = tmp_path / "workers.yaml"
    more_workers.write_text(assets["cfg"].read_text() + "  num_workers: 1\n")
    argv = ["train", "--config", str(more_workers), "--data", str(assets["synth"]), "--out", str(run), "--resume"]
    assert main([*argv, "--max-steps", "2"]) == 0
