"""The `cliphand` command. Thin: parses arguments and calls the packages."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from cliphand import __version__

DESCRIPTION = """\
3D hand pose and hand mesh from a single RGB image (CLIP-Hand), with a pretrained model inside.

common commands:
  cliphand predict photo.jpg --out results     every hand in a photo: joints, mesh, overlay, JSON
  cliphand live                                 track hands from the webcam
  cliphand serve                                a web page and an HTTP API on 127.0.0.1:8000
  cliphand demo                                 synthetic data -> train -> evaluate -> report
  cliphand COMMAND --help                       the options of one command
"""


class CliError(Exception):
    """An error to report to the user as one line."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        hidden = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if hidden or "default" in text or not action.option_strings:
            return text
        return super()._get_help_string(action)


class _RawHelpFormatter(_HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, and a description laid out by hand."""


class _Parser(argparse.ArgumentParser):
    """argparse with the defaults in --help and one-line usage errors (exit code 2)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: an int or finite float within [low, high] (or (low, high] with low_open)."""
    span = " and ".join(
        part for part in (
            None if low is None else f"{'>' if low_open else '>='} {low:g}",
            None if high is None else f"<= {high:g}",
        ) if part
    )  # fmt: skip
    name = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {name} {span}, got {text!r}") from None
        below = low is not None and (value <= low if low_open else value < low)
        if not math.isfinite(value) or below or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {name} {span}, got {text}")
        return value

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


POSITIVE_INT = _number(int, 1)
COUNT = _number(int, 0)
POSITIVE = _number(float, 0, low_open=True)


def _png_path(out: Path, default_name: str) -> Path:
    """Where a picture goes: into `out` when it is a folder, with .png added when it has no suffix."""
    out = Path(out)
    if out.is_dir():
        return out / default_name
    return out if out.suffix else out.with_name(out.name + ".png")


def _hand_model(args: argparse.Namespace):
    from cliphand.hand import load_hand_model

    if args.model == "mano":
        return load_hand_model("mano", path=args.mano_path, coarse_path=args.coarse_path)
    return load_hand_model(args.model)


def cmd_hand_info(args: argparse.Namespace) -> None:
    from cliphand.hand.info import hand_info

    info = hand_info(_hand_model(args))
    if args.json:
        print(json.dumps(info, indent=2))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        print(f"{key:<{width}}  {value}")


def cmd_hand_export(args: argparse.Namespace) -> None:
    import torch

    from cliphand.hand.gestures import gesture_pose
    from cliphand.hand.meshio import save_mesh

    model = _hand_model(args)
    pose = None if args.gesture == "rest" else gesture_pose(model, args.gesture)[None]
    if pose is None and model.pose_mean.any():
        pose = -torch.cat([torch.zeros(3), model.pose_mean])[None]  # the flat rest pose
    with torch.no_grad():
        verts, _ = model(pose)
    try:
        out = save_mesh(args.out, verts[0].numpy(), model.faces.numpy())
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {out} ({model.num_vertices} vertices, gesture {args.gesture})")


def cmd_hand_show(args: argparse.Namespace) -> None:
    import torch

    from cliphand.hand.gestures import GESTURES, display_rotation, gesture_pose
    from cliphand.render.preview import mesh_grid

    model = _hand_model(args)
    names = GESTURES if args.gesture == "all" else tuple(args.gesture.split(","))
    poses = torch.stack([gesture_pose(model, n) for n in names])
    with torch.no_grad():
        verts, joints = model(poses)
    hand_frame = model.frames[0].numpy().T  # model frame -> hand frame
    rotations = [display_rotation(n) @ hand_frame for n in names]
    meshes = [(v.numpy(), j.numpy()) for v, j in zip(verts, joints, strict=True)]
    out = _png_path(args.out, "gestures.png")
    out = mesh_grid(meshes, model.faces.numpy(), names, out, rotations, columns=min(5, len(names)))
    print(f"wrote {out} ({len(names)} gestures, {model.name})")


def cmd_evaluate_predictions(args: argparse.Namespace) -> None:
    from cliphand.eval.evaluate import evaluate_prediction_files, write_scores
    from cliphand.eval.report import format_scores

    if args.out.is_dir():
        raise CliError(f"--out {args.out} is a folder; give the scores file to write (e.g. {args.out / 'scores.json'})")
    scores = evaluate_prediction_files(args.dataset, args.gt, args.pred, args.unaligned_fscore, args.split)
    out, plot = write_scores(scores, args.out)
    print(format_scores(scores))
    print(f"wrote {out} and {plot}")


def cmd_report(args: argparse.Namespace) -> None:
    from cliphand.eval.report import comparison_table

    missing = [p for p in args.scores if not p.is_file()]
    if missing:
        raise CliError(f"scores file not found: {missing[0]}")
    table = comparison_table(args.scores)
    if args.out:
        args.out.write_text(table + "\n")
    print(table)


def cmd_data_check(args: argparse.Namespace) -> int:
    from cliphand.data.check import check_dataset

    report = check_dataset(args.dataset, args.root, decode=None if args.full else args.decode, progress=not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['dataset']} at {report['root']}: {report['num_samples']} samples")
        for split, count in report["splits"].items():
            print(f"  {split}: {count}")
        if report.get("reprojection_error_px"):
            err = report["reprojection_error_px"]
            print(f"  2D vs projected 3D: mean {err['mean']:.2f} px, max {err['max']:.2f} px")
        for problem in report["problems"]:
            print(f"  problem: {problem}")
        print("OK" if not report["problems"] else f"{len(report['problems'])} problem(s)")
    if report["problems"]:
        print(f"cliphand: {len(report['problems'])} problem(s) in {args.root}; the first: {report['problems'][0]}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def cmd_data_show(args: argparse.Namespace) -> None:
    from cliphand.data import AugmentConfig, load_dataset
    from cliphand.data.geometry import project
    from cliphand.hand.gestures import GESTURES
    from cliphand.render.overlay import save_sample_figure

    dataset = load_dataset(args.dataset, args.root, args.split, augment=AugmentConfig() if args.augment else None)
    if not 0 <= args.index < len(dataset):
        raise CliError(f"index {args.index} out of range: {args.dataset} {args.split} has {len(dataset)} samples")
    s = dataset[args.index]
    vertices_2d = None if s.vertices is None else project(s.vertices, s.K)
    title = f"{s.source} | {GESTURES[s.gesture]}\n{s.prompt}"
    out = save_sample_figure(
        s.image, s.joints_2d, s.visible, _png_path(args.out, "sample.png"), vertices_2d, s.mask, title
    )
    print(f"wrote {out}")


def cmd_synth(args: argparse.Namespace) -> None:
    from cliphand.synth.generator import SynthConfig

    if args.backgrounds not in ("colors", "textures", "mixed") and not Path(args.backgrounds).is_dir():
        raise CliError(f"--backgrounds must be colors, textures, mixed or a folder of images: {args.backgrounds}")
    if args.photo_views > 0 and args.view_spread < 180:
        raise CliError("--photo-views draws from every orientation: it needs --view-spread 180 (the default)")
    config = SynthConfig(
        size=args.size,
        backgrounds=args.backgrounds,
        supersample=args.supersample,
        view_spread_deg=args.view_spread,
        photo_view_prob=args.photo_views,
        shadows=args.shadows,
    )
    if args.hand == "mano" and args.mano_path is None:
        raise CliError("--hand mano needs --mano-path MANO_RIGHT.pkl (MANO is licensed: cliphand cannot ship it)")
    hand_options = {"path": args.mano_path} if args.hand == "mano" else {}
    if args.action == "preview":
        from cliphand.hand import load_hand_model
        from cliphand.synth.generator import Generator
        from cliphand.synth.preview import contact_sheet

        generator = Generator(load_hand_model(args.hand, **hand_options), config, args.seed)
        out = _png_path(args.out or Path("."), "synth_preview.png")
        out = contact_sheet([generator.sample(i) for i in range(args.num)], out)
        print(f"wrote {out} ({args.num} samples)")
        return
    from cliphand.synth.writer import write_dataset

    if args.out is None:
        raise CliError("cliphand synth needs --out DIR")
    if args.num < 1:
        raise CliError(f"--num must be a positive number of samples, got {args.num}")
    try:
        out = write_dataset(
            args.out, args.num, args.seed, args.hand, hand_options, config, args.workers, overwrite=args.overwrite
        )
    except FileExistsError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"synth interrupted; nothing was written to {args.out}") from None
    print(f"wrote {args.num} samples to {out} (FreiHAND training layout; read with --dataset freihand)")


def cmd_model_summary(args: argparse.Namespace) -> None:
    from cliphand.model import build_model, load_config
    from cliphand.model.summary import summarize

    config = load_config(args.config)
    summary = summarize(build_model(config, pretrained=False), config, latency_runs=args.runs, with_cm=not args.no_cm)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"{summary['config']}: {summary['params_m']} M parameters (inference path), {summary['gflops']} GFLOPs "
        f"at {summary['image_size']}px, {summary['latency_ms']} ms at batch 1 on {summary['threads']} CPU threads"
    )
    for name, n in summary["params_by_module"].items():
        print(f"  {name:<12} {n / 1e6:8.2f} M")
    for name, shape in summary["output_shapes"].items():
        print(f"  output {name:<18} {tuple(shape)}")
    if "cm" in summary:
        cm = summary["cm"]
        if cm["available"]:
            print(
                f"  CM (training only): {cm['frozen_encoder_params'] / 1e6:.2f} M frozen encoder + "
                f"{cm['trainable_params'] / 1e6:.2f} M trainable parameters"
            )
        else:
            print(f"  CM (training only): not installed ({cm['reason']})")


def cmd_train(args: argparse.Namespace) -> None:
    from cliphand.model import load_config
    from cliphand.train.runs import train_runs

    if args.epochs is not None and args.max_steps is not None:
        raise CliError("give --epochs or --max-steps, not both")
    config = load_config(args.config)
    for name in ("epochs", "max_steps", "seeds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CliError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.max_minutes is not None and not (math.isfinite(args.max_minutes) and args.max_minutes > 0):
        raise CliError(f"--max-minutes must be a positive number, got {args.max_minutes}")
    summary = train_runs(
        config, args.data, args.out, args.dataset, args.epochs, args.max_steps, args.resume, args.seed, args.seeds,
        skip_bad_samples=args.skip_bad_samples, init=args.init, max_minutes=args.max_minutes,
    )  # fmt: skip
    if summary is None:
        return
    if "runs" in summary:  # several seeds
        mean, std = summary["best_pa_mpjpe_mm_mean"], summary["best_pa_mpjpe_mm_std"]
        score = "not measured (no validation split)" if mean is None else f"{mean:.2f} mm (std {std:.2f})"
        print(f"{len(summary['runs'])} seeds: best validation PA-MPJPE {score}; per seed in "
              f"{args.out / 'seeds_summary.json'}")  # fmt: skip
        return
    best = summary["best_pa_mpjpe_mm"]
    score = "not measured (no validation split)" if best is None else f"{best:.2f} mm"
    print(f"stopped at step {summary['step']}; best validation PA-MPJPE {score}")
    if (args.out / "best.pt").exists():
        print(f"  {args.out / 'best.pt'}: the best validated weights (cliphand eval / predict --checkpoint)")
    print(f"  {args.out / 'last.pt'}: the latest state (train --resume continues; eval and predict take it too)")
    print(f"  {args.out / 'metrics.csv'} and {args.out / 'loss_curve.png'}: the run's curves")


def cmd_eval(args: argparse.Namespace) -> None:
    from cliphand.train.evaluate import evaluate_checkpoint

    out = evaluate_checkpoint(args.checkpoint, args.dataset, args.data, args.out, args.split, args.overlays)
    print(f"wrote {out}")


def cmd_predict(args: argparse.Namespace) -> int:
    from cliphand.infer import HandPoseEstimator
    from cliphand.infer.predict import expand_inputs, predict_images

    bbox = None
    if args.bbox:
        try:
            bbox = [float(v) for v in args.bbox.split(",")]
        except ValueError:
            bbox = []
        if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox) or bbox[2] <= 0 or bbox[3] <= 0:
            raise CliError(f"--bbox must be x,y,w,h with finite numbers and positive w and h, got {args.bbox!r}")
    if args.focal is not None and args.intrinsics is not None:
        raise CliError("give --focal or --intrinsics, not both")
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise CliError(f"no such file or folder: {missing[0]}")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"--out {args.out} is a file; give a folder for the results")
    if args.checkpoint is None:
        estimator = HandPoseEstimator.default()
    else:
        backend = "onnx" if str(args.checkpoint).endswith(".onnx") else "torch"
        estimator = HandPoseEstimator.from_checkpoint(args.checkpoint, backend=backend)
    paths = expand_inputs(args.paths, skip_outputs_of=args.out)
    if not paths:
        raise CliError(f"no images in {', '.join(map(str, args.paths))} (a folder's inputs are its image files)")
    from cliphand.infer.estimator import InferenceError
    from cliphand.infer.predict import load_intrinsics

    try:
        Ks = dict(zip(paths, load_intrinsics(args.intrinsics, paths), strict=True)) if args.intrinsics else {}
    except InferenceError as exc:
        raise CliError(str(exc)) from None
    from cliphand.infer.smoothing import OneEuroSettings
    from cliphand.infer.video import VIDEO_SUFFIXES, predict_video

    is_left = True if args.left else False if args.right else None  # None: the detector says
    videos = [p for p in paths if p.suffix.lower() in VIDEO_SUFFIXES]
    images = [p for p in paths if p not in videos]
    errors = []
    smoothing = OneEuroSettings(float("inf") if args.no_smoothing else args.min_cutoff, args.beta, args.d_cutoff)
    for video in videos:
        try:
            overlay_path, lines = predict_video(
                estimator,
                video,
                args.out,
                bbox,
                is_left,
                args.focal,
                smoothing,
                detect=not args.no_detect,
                intrinsics=Ks.get(video),
            )
            print(f"wrote {overlay_path} and {lines}")
        except InferenceError as exc:
            errors.append(str(exc))
            print(f"cliphand: error: {exc}", file=sys.stderr)
    if images:
        results, image_errors = predict_images(
            estimator,
            images,
            args.out,
            bbox,
            is_left,
            args.focal,
            args.mesh_format,
            detect=not args.no_detect,
            max_hands=args.max_hands,
            intrinsics=[Ks[p] for p in images] if Ks else None,
        )
        errors += image_errors
        print(f"wrote {len(results)} predictions to {args.out} (index.html)")
    if errors:
        print(f"{len(errors)} input(s) failed", file=sys.stderr)
    return 1 if errors else 0


def cmd_live(args: argparse.Namespace) -> None:
    from cliphand.infer import HandPoseEstimator
    from cliphand.infer.live import run_live
    from cliphand.infer.tracking import TrackerSettings

    if args.max_hands < 1 or args.redetect_every < 1:
        raise CliError("--max-hands and --redetect-every must be at least 1")
    source = args.video if args.video is not None else args.camera
    if args.checkpoint is None:
        estimator = HandPoseEstimator.default()
    else:
        estimator = HandPoseEstimator.from_checkpoint(
            args.checkpoint, backend="onnx" if str(args.checkpoint).endswith(".onnx") else "torch"
        )
    settings = TrackerSettings(max_hands=args.max_hands, redetect_every=args.redetect_every)
    stats = run_live(estimator, source, args.out, settings, args.frames, show=not args.no_window)
    print(f"{stats['frames']} frames, {stats['ms_per_frame']:.0f} ms per frame, detector on {stats['detector_runs']}, "
          f"tracks {stats['track_ids']}" + (f"; wrote {args.out}" if args.out else ""))  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from cliphand.serve.app import ServeSettings, create_app
    except ImportError:
        raise CliError("cliphand serve needs FastAPI and uvicorn: pip install 'cliphand[serve]'") from None
    if args.workers < 1 or args.queue < 0 or args.timeout <= 0 or args.max_upload_mb <= 0:
        raise CliError("--workers must be at least 1, --queue at least 0, --timeout and --max-upload-mb positive")
    if args.checkpoint is not None:  # load it once here: a bad file is one line, not a failed startup
        from cliphand.infer import HandPoseEstimator

        backend = "onnx" if args.checkpoint.suffix == ".onnx" else "torch"
        HandPoseEstimator.from_checkpoint(args.checkpoint, backend=backend)
    settings = ServeSettings(
        checkpoint=None if args.checkpoint is None else str(args.checkpoint),
        workers=args.workers,
        backend=args.backend,
        max_upload_mb=args.max_upload_mb,
        timeout_s=args.timeout,
        queue=args.queue,
        cors_origin=args.cors,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cliphand: serving on {args.host}: reachable from other machines", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from cliphand.infer.onnx import export_onnx

    print(f"wrote {export_onnx(args.checkpoint, args.out)}")


def cmd_demo(args: argparse.Namespace) -> None:
    from cliphand.demo import default_real_photos, run_demo

    index = run_demo(
        args.out, args.train_images, args.test_images, args.steps, workers=args.workers, seed=args.seed,
        config_name=args.config, real=args.real or default_real_photos(),
    )  # fmt: skip
    print(f"report: {index}")


def cmd_bench(args: argparse.Namespace) -> None:
    from cliphand.infer.bench import benchmark, format_bench

    if (args.checkpoint is None) == (args.config is None):
        raise CliError("give --checkpoint or --config (one of them)")
    if args.checkpoint is not None:
        from cliphand.model.checkpoint import load_model_from_checkpoint

        model, name = load_model_from_checkpoint(args.checkpoint), str(args.checkpoint)
    else:
        from cliphand.model import build_model, load_config

        model, name = build_model(load_config(args.config), pretrained=False), args.config  # times only
    result = benchmark(model, model.config.image_size, runs=args.runs, onnx=not args.no_onnx)
    print(json.dumps(result, indent=2) if args.json else format_bench(name, result))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cliphand", description=DESCRIPTION, formatter_class=_RawHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cliphand {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    hand = commands.add_parser("hand", help="hand models: info, export, show").add_subparsers(
        dest="hand_command", required=True
    )

    def with_model(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--model", choices=("openhand", "mano"), default="openhand", help="hand model")
        p.add_argument("--mano-path", type=Path, help="MANO_RIGHT.pkl or MANO_LEFT.pkl (for --model mano)")
        p.add_argument("--coarse-path", type=Path, help="METRO's mano_downsampling.npz (for --model mano)")
        return p

    info = with_model(hand.add_parser("info", help="vertex/face/joint counts, coarse mesh, licence"))
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_hand_info)

    export = with_model(hand.add_parser("export", help="write the mesh in a gesture as .obj, .ply or .glb"))
    export.add_argument("--gesture", default="rest", help="a gesture name, or 'rest' (default)")
    export.add_argument("--out", required=True, type=Path, help="output .obj, .ply or .glb")
    export.set_defaults(func=cmd_hand_export)

    show = with_model(hand.add_parser("show", help="draw gesture templates as a labelled PNG grid"))
    show.add_argument("--gesture", default="all", help="'all' or comma-separated gesture names")
    show.add_argument("--out", default=Path("gestures.png"), type=Path, help="output PNG (.png is added if missing)")
    show.set_defaults(func=cmd_hand_show)

    evaluate = commands.add_parser("evaluate-predictions", help="score a prediction file with the official protocol")
    evaluate.add_argument("--dataset", choices=("freihand", "rhd", "dexter-object"), default="freihand",
                          help="which benchmark's protocol scores the file")  # fmt: skip
    evaluate.add_argument("--gt", required=True, type=Path, help="FreiHAND folder, or RHD / Dexter+Object gt JSON")
    evaluate.add_argument("--pred", required=True, type=Path, help="pred.json")
    evaluate.add_argument("--split", choices=("evaluation", "training"), default="evaluation",
                          help="FreiHAND: which split's labels (a cliphand synth set has only training)")  # fmt: skip
    evaluate.add_argument("--out", default=Path("scores.json"), type=Path, help="scores.json (PCK plot beside it)")
    evaluate.add_argument(
        "--unaligned-fscore", action="store_true", help="also F-scores without Procrustes (FreiHAND; ~2x slower)"
    )
    evaluate.set_defaults(func=cmd_evaluate_predictions)

    data = commands.add_parser("data", help="datasets: check a folder, show a sample").add_subparsers(
        dest="data_command", required=True
    )
    check = data.add_parser("check", help="validate a dataset folder in its official layout")
    check.add_argument("--dataset", choices=("freihand", "rhd", "dexter-object"), default="freihand",
                       help="the layout the folder is in")  # fmt: skip
    check.add_argument("--root", type=Path, required=True, help="the dataset folder")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--decode", type=COUNT, default=200, help="images to open per split")
    check.add_argument("--full", action="store_true", help="open every image")
    check.set_defaults(func=cmd_data_check)
    show = data.add_parser("show", help="draw one sample with its projected labels")
    show.add_argument("--dataset", choices=("freihand", "rhd", "dexter-object"), default="freihand",
                      help="the layout the folder is in")  # fmt: skip
    show.add_argument("--root", type=Path, required=True, help="the dataset folder")
    show.add_argument("--split", default="training", help="training or evaluation (Dexter+Object: ignored)")
    show.add_argument("--index", type=COUNT, default=0, help="which sample (0-based)")
    show.add_argument("--augment", action="store_true", help="apply training augmentation")
    show.add_argument("--out", type=Path, default=Path("sample.png"), help="output PNG")
    show.set_defaults(func=cmd_data_show)

    synth = commands.add_parser(
        "synth",
        help="render a synthetic dataset (or a preview grid)",
        formatter_class=_RawHelpFormatter,
        description="""\
cliphand synth --out DIR [options]           render --num samples in FreiHAND's training layout
cliphand synth preview [--out grid.png] ...  draw --num samples as a labelled contact sheet

Both take --num, --seed, --hand, --mano-path, --size, --backgrounds, --supersample,
--view-spread and --photo-views; --workers and --overwrite apply to datasets only. Sample i depends on (seed, i)
alone, so a preview shows exactly what a dataset of the same options holds.""",
    )
    synth.add_argument("action", nargs="?", choices=("preview",), help="'preview': a labelled contact sheet")
    synth.add_argument("--out", type=Path, help="output folder (for preview: a PNG, default synth_preview.png)")
    synth.add_argument("--num", type=POSITIVE_INT, default=16, help="number of samples")
    synth.add_argument("--seed", type=int, default=0, help="sample i is a function of (seed, i) alone")
    synth.add_argument("--hand", choices=("openhand", "mano"), default="openhand", help="hand model")
    synth.add_argument("--mano-path", type=Path, help="MANO_RIGHT.pkl for --hand mano")
    synth.add_argument("--size", type=_number(int, 32, 2048), default=224, help="image side in pixels")
    synth.add_argument("--backgrounds", default="mixed", help="colors, textures, mixed, or a folder of images")
    synth.add_argument("--supersample", type=_number(int, 1, 4), default=1, help="anti-aliasing samples per pixel side")
    synth.add_argument("--workers", type=POSITIVE_INT, help="processes (default: every core)")
    synth.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder whole")
    synth.add_argument("--view-spread", type=_number(float, 0, 180), default=180.0,
                       help="max degrees from a frontal view (palm to camera, fingers up); 180 = any")  # fmt: skip
    synth.add_argument("--photo-views", type=_number(float, 0, 1), default=0.0,
                       help="with --view-spread 180: the share of hands that face the camera as in photos "
                            "(docs/synthetic.md); the rest take any orientation")  # fmt: skip
    synth.add_argument("--shadows", type=_number(float, 0, 1), default=0.0,
                       help="how much of the key light the hand's shadows on itself take (0 = none)")  # fmt: skip
    synth.set_defaults(func=cmd_synth)

    model = commands.add_parser("model", help="the network: summary").add_subparsers(
        dest="model_command", required=True
    )
    summary = model.add_parser("summary", help="parameters, GFLOPs, output shapes and CPU latency of a config")
    summary.add_argument("--config", default="s12", help="a shipped config name or a YAML file")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument("--runs", type=POSITIVE_INT, default=10, help="timed forward passes for the latency")
    summary.add_argument("--no-cm", action="store_true", help="do not load the CM encoders to count them")
    summary.set_defaults(func=cmd_model_summary)

    train = commands.add_parser("train", help="train a network (torchrun for several processes)")
    train.add_argument("--config", required=True, help="a shipped config name or a YAML file")
    train.add_argument("--data", required=True, type=Path, help="dataset folder in its official layout")
    train.add_argument("--dataset", choices=("freihand", "rhd"), default="freihand",
                       help="the layout of --data (cliphand synth writes FreiHAND's)")  # fmt: skip
    train.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, logs, plots)")
    train.add_argument("--epochs", type=POSITIVE_INT, help="override the config's epochs")
    train.add_argument("--max-steps", type=POSITIVE_INT, help="stop after this many optimiser steps")
    train.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    train.add_argument("--init", type=Path, help="start from this checkpoint's network weights (fine-tuning)")
    train.add_argument(
        "--max-minutes", type=POSITIVE, help="stop (and save) after this many minutes; --resume continues"
    )
    train.add_argument("--seed", type=int, default=0, help="weights, data order and augmentation follow from it")
    train.add_argument(
        "--seeds", type=POSITIVE_INT, default=1, help="train this many seeds (seed, seed+1, ...) and summarise"
    )
    train.add_argument("--skip-bad-samples", action="store_true",
                       help="warn about each corrupt image or mask and train on (counted at the end)")  # fmt: skip
    train.set_defaults(func=cmd_train)

    evaluate_ckpt = commands.add_parser("eval", help="evaluate a checkpoint on a dataset's evaluation split")
    evaluate_ckpt.add_argument("--checkpoint", required=True, type=Path, help="a .pt checkpoint (train's best.pt)")
    evaluate_ckpt.add_argument("--dataset", choices=("freihand", "rhd", "dexter-object"), default="freihand",
                               help="the layout of --data")  # fmt: skip
    evaluate_ckpt.add_argument("--data", required=True, type=Path, help="the dataset folder")
    evaluate_ckpt.add_argument("--out", required=True, type=Path, help="folder for scores.json, pred.json, pictures")
    evaluate_ckpt.add_argument("--split", choices=("evaluation", "training"), default="evaluation",
                               help="which split to score (a synthetic set has only training)")  # fmt: skip
    evaluate_ckpt.add_argument("--overlays", type=COUNT, default=8, help="overlay pictures to draw")
    evaluate_ckpt.set_defaults(func=cmd_eval)

    predict = commands.add_parser("predict", help="joints, mesh and overlay for images, folders and videos")
    predict.add_argument("paths", nargs="+", help="images, folders of images, or videos (.mp4 ...)")
    predict.add_argument("--checkpoint", type=Path, help="a .pt checkpoint or an .onnx (default: the shipped model)")
    predict.add_argument("--out", required=True, type=Path, help="output folder (not one of the inputs)")
    predict.add_argument("--bbox", help="hand box x,y,w,h in pixels (default: detect every hand)")
    side = predict.add_mutually_exclusive_group()
    side.add_argument("--left", action="store_true", help="every hand is a left hand (default: the detector says)")
    side.add_argument("--right", action="store_true", help="every hand is a right hand (default: the detector says)")
    predict.add_argument(
        "--max-hands", type=_number(int, 1, 16), default=4, help="at most this many detected hands per image"
    )
    predict.add_argument("--no-detect", action="store_true", help="no detector: the whole image is one hand's crop")
    predict.add_argument("--focal", type=POSITIVE, help="focal length in pixels (default 1.2 x the longer side)")
    predict.add_argument(
        "--intrinsics",
        type=Path,
        help="JSON camera matrix K: one 3x3 for all inputs, a list with one per input (FreiHAND's *_K.json), "
        "or {file name: 3x3}; places the hands in metres",
    )
    predict.add_argument(
        "--mesh-format", choices=(".obj", ".ply", ".glb"), default=".obj", help="one mesh file per hand"
    )
    predict.add_argument("--min-cutoff", type=POSITIVE, default=1.0, help="video One Euro filter: cut-off at rest (Hz)")
    predict.add_argument("--beta", type=_number(float, 0), default=0.5, help="video One Euro filter: speed coefficient")
    predict.add_argument(
        "--d-cutoff", type=POSITIVE, default=1.0, help="video One Euro filter: derivative cut-off (Hz)"
    )
    predict.add_argument("--no-smoothing", action="store_true", help="video: no temporal smoothing")
    predict.set_defaults(func=cmd_predict)

    live = commands.add_parser("live", help="track hands from a webcam or a video, in a window and/or a video file")
    live.add_argument("--camera", type=COUNT, default=0, help="camera number")
    live.add_argument("--video", type=Path, help="read this video instead of a camera")
    live.add_argument("--out", type=Path, help="write the annotated video here (.mp4)")
    live.add_argument("--checkpoint", type=Path, help="a .pt checkpoint or an .onnx (default: the shipped model)")
    live.add_argument("--max-hands", type=_number(int, 1, 16), default=2, help="hands to track at once")
    live.add_argument("--redetect-every", type=POSITIVE_INT, default=10, help="frames between detector runs")
    live.add_argument("--frames", type=POSITIVE_INT, help="stop after this many frames")
    live.add_argument("--no-window", action="store_true", help="do not open a window even when a display exists")
    live.set_defaults(func=cmd_live)

    serve = commands.add_parser("serve", help="a web page and an HTTP API (pip install 'cliphand[serve]')")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=_number(int, 1, 65535), default=8000, help="TCP port")
    serve.add_argument("--checkpoint", type=Path, help="a .pt or .onnx model (default: the shipped model)")
    serve.add_argument("--workers", type=POSITIVE_INT, default=1, help="models loaded, predictions run at once")
    serve.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                       help="auto: ONNX Runtime when installed (the checkpoint is exported once, cached)")  # fmt: skip
    serve.add_argument("--queue", type=COUNT, default=8, help="requests that may wait for a worker; more get 503")
    serve.add_argument("--timeout", type=POSITIVE, default=30.0, help="seconds per prediction before 504")
    serve.add_argument("--max-upload-mb", type=POSITIVE, default=10.0, help="larger requests get 413")
    serve.add_argument("--cors", metavar="ORIGIN", help="allow browser pages from this origin (default: none)")
    serve.set_defaults(func=cmd_serve)

    export = commands.add_parser("export-onnx", help="export a checkpoint's inference path to ONNX")
    export.add_argument("--checkpoint", required=True, type=Path, help="a .pt checkpoint")
    export.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    export.set_defaults(func=cmd_export_onnx)

    demo = commands.add_parser("demo", help="synthetic data -> train -> evaluate -> predict -> report")
    demo.add_argument("--out", type=Path, default=Path("cliphand_demo"), help="report folder")
    demo.add_argument("--config", default="mobile", help="config to train (default: the fastest-learning one)")
    demo.add_argument("--train-images", type=_number(int, 16), default=2000, help="synthetic training images to render")
    demo.add_argument("--test-images", type=POSITIVE_INT, default=120, help="held-out synthetic images to score")
    demo.add_argument("--steps", type=POSITIVE_INT, default=500, help="training steps (batch 16)")
    demo.add_argument("--workers", type=POSITIVE_INT, help="processes for rendering (default: every core)")
    demo.add_argument("--real", type=Path, help="FreiHAND-layout folder of real photos for the shipped model "
                      "(default: ../shared/real/freihand_eval200 when present)")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, help="data, weights and order follow from it")
    demo.set_defaults(func=cmd_demo)

    bench = commands.add_parser("bench", help="params, GFLOPs, latency and FPS for PyTorch and ONNX Runtime")
    bench.add_argument("--checkpoint", type=Path, help="a .pt checkpoint (or give --config)")
    bench.add_argument("--config", help="a config name or YAML file, random weights (or give --checkpoint)")
    bench.add_argument("--runs", type=POSITIVE_INT, default=10, help="timed runs per backend and batch size")
    bench.add_argument("--no-onnx", action="store_true", help="PyTorch only")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=cmd_bench)

    report = commands.add_parser("report", help="scores.json files as a Markdown table (paper Table 3/4 columns)")
    report.add_argument("scores", nargs="+", type=Path, help="scores.json files")
    report.add_argument("--out", type=Path, help="also write the table to this file")
    report.set_defaults(func=cmd_report)
    return parser


def _os_message(exc: OSError) -> str:
    """One line for an operating-system error, naming the path and what to do rather than an errno."""
    if exc.filename is None:
        return str(exc)
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return f"cannot use {exc.filename}: part of that path is a file, not a folder"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}"
    if isinstance(exc, FileNotFoundError):
        return f"not found: {exc.filename}"
    return f"{exc.strerror or exc}: {exc.filename}"


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2), returned like any other outcome
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code = args.func(args)
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        return 0
    except KeyboardInterrupt as exc:  # training's TrainingInterrupted says what it saved
        print(f"cliphand: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"cliphand: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except (CliError, ValueError, RuntimeError) as exc:  # HandModelError is a ValueError
        print(f"cliphand: error: {exc}", file=sys.stderr)
        return 2
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
