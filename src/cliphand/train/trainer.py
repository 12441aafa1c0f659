"""The training loop: `cliphand train`.

AdamW with a step learning-rate schedule per epoch, gradient clipping, mixed precision on
CUDA, validation on a held-out part of the training data (PA-MPJPE, F@15), CSV/TensorBoard
logs and a loss-curve picture, and checkpoints (last and best) written atomically. A
checkpoint holds everything needed to continue exactly: weights, optimiser, schedule, random
states and the step; data order and augmentation are functions of (seed, epoch, index).
"""

from __future__ import annotations

import csv
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from cliphand.data import AugmentConfig, HandDataset, collate_samples, dataset_records
from cliphand.data.check import MAX_JOINT_LABEL_GAP, joint_gap_message, joint_label_gap
from cliphand.data.dataset import DataError
from cliphand.eval.protocols import evaluate_freihand
from cliphand.fileio import write_text
from cliphand.model import ModelConfig, build_model
from cliphand.model.checkpoint import hand_identity, load_weights
from cliphand.model.cliphand import CLIPHand, load_config_hand
from cliphand.model.config import ConfigError, TrainSettings, config_from_dict
from cliphand.model.losses import compute_losses
from cliphand.model.mted import resize_positions, widen_feed_forward
from cliphand.train.checkpoint import CheckpointError, config_differences, load_checkpoint, save_checkpoint
from cliphand.train.distributed import Dist, all_reduce_mean, epoch_batches, init_distributed
from cliphand.train.views import appearance_view

LOSS_KEYS = (
    "total",
    "vertices",
    "joints",
    "joints_from_vertices",
    "joints_aligned",
    "joints_2d",
    "heatmap",
    "contrastive",
)


class TrainingError(RuntimeError):
    """Training stopped; the message says why and where the last good checkpoint is."""


@dataclass
class RunOptions:
    config: ModelConfig
    data: Path
    out: Path
    dataset: str = "freihand"
    epochs: int | None = None
    max_steps: int | None = None
    resume: bool = False
    seed: int = 0
    progress: bool = True
    skip_bad_samples: bool = False  # warn about a corrupt image or mask and train on; else stop naming it
    max_minutes: float | None = None  # wall-clock budget for this call (a checkpoint is saved when it ends)
    init: Path | None = None  # start from this checkpoint's network weights (fine-tuning), not from scratch

    def __post_init__(self) -> None:
        for name in ("epochs", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise TrainingError(f"max_minutes must be positive, got {self.max_minutes}")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the run saved where it was (when it had taken a step) and stopped."""


class _NoLog:
    def writerow(self, row: dict) -> None:
        pass


class TrainStep(nn.Module):
    """Network (+ CM when enabled) and loss in one module, so DDP sees one forward."""

    def __init__(self, model: CLIPHand, cm: nn.Module | None, config: ModelConfig) -> None:
        super().__init__()
        self.model, self.cm, self.config = model, cm, config

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        outputs = self.model(batch["image"])
        contrastive = None
        if self.cm is not None:
            masks = batch["mask"] * batch["has_mask"].reshape(-1, 1, 1, 1).to(batch["mask"].dtype)
            view = appearance_view(batch["image"], masks)
            view_feature = self.model.features(view)[-1].mean((2, 3))
            contrastive = self.cm(outputs["global_feature"], view_feature, view, batch["prompt"])["loss"]
        return compute_losses(
            outputs, batch, self.model, self.config.loss_weights, contrastive, self.config.heatmap_sigma
        )


def pretrained_backbone(model: CLIPHand) -> nn.Module:
    """The part of the backbone that starts from ImageNet weights (EfficientNet-Lite0's network
    without its adapters, or the whole PAT)."""
    return getattr(model.backbone, "net", model.backbone)


def split_records(records: list, fraction: float) -> tuple[list, list]:
    """Hold out every k-th annotation (with all its image versions) for validation."""
    if fraction <= 0:
        return records, []
    k = max(2, round(1 / fraction))
    is_val = [(r.group if r.group >= 0 else i) % k == k - 1 for i, r in enumerate(records)]
    return [r for r, v in zip(records, is_val, strict=True) if not v], [
        r for r, v in zip(records, is_val, strict=True) if v
    ]


def lr_factor(settings: TrainSettings, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """The lr multiplier at each step: a linear warm-up, then steps of lr_gamma or half a cosine to 0."""
    warmup = max(1, settings.warmup_steps)

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup)
        if settings.lr_schedule == "cosine":
            return ramp * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
        return ramp * settings.lr_gamma ** ((step // steps_per_epoch) // settings.lr_step_epochs)

    return factor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_cm(config: ModelConfig, feature_dim: int) -> nn.Module | None:
    if not config.cm:
        return None
    try:
        from cliphand.model.cm import CLIPModule

        return CLIPModule(feature_dim, spec=config.cm_encoders)
    except ImportError as exc:
        raise TrainingError(f"config enables CM but its encoders are unavailable ({exc}); set 'cm: false'") from None


HAND_DERIVED_BUFFERS = ("mean_joints", "mean_coarse", "pj.templates", "pj.palm")


class Trainer:
    def __init__(self, options: RunOptions) -> None:
        self.o = options
        self.config = options.config
        self.settings = options.config.train
        self.d: Dist = init_distributed()
        self.out = Path(options.out)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        o, cfg, s = self.o, self.config, self.settings
        seed_everything(o.seed)
        records = dataset_records(o.dataset, o.data, "training")
        train_records, val_records = split_records(records, s.val_fraction)
        augment = None
        if s.augment:
            augment = AugmentConfig(
                hue_deg=s.augment_hue_deg,
                gray_prob=s.augment_gray_prob,
                background_prob=s.augment_background_prob,
                random_conv_prob=s.augment_random_conv_prob,
            )
        on_error = "skip" if o.skip_bad_samples else "raise"
        self.train_set = HandDataset(train_records, cfg.image_size, augment, seed=o.seed, on_error=on_error)
        self.val_set = HandDataset(val_records, cfg.image_size, None, seed=o.seed, on_error=on_error)
        per_step = s.batch_size * self.d.world
        if len(self.train_set) < per_step:
            raise TrainingError(f"{len(self.train_set)} training samples are fewer than one batch of {per_step}")
        self.steps_per_epoch = len(self.train_set) // per_step
        epochs = o.epochs or s.epochs
        self.total_steps = o.max_steps or epochs * self.steps_per_epoch
        self.hand = load_config_hand(cfg)
        gap = joint_label_gap(records, self.hand)
        if gap is not None and gap > MAX_JOINT_LABEL_GAP:
            raise TrainingError(f"{o.data}: {joint_gap_message(gap, self.hand.name)}")
        # channels_last: oneDNN's convolutions run faster on NHWC, and PAT's channel groups
        # become views instead of copies (bench/train_speed.py).
        self.model = build_model(cfg, self.hand).to(self.d.device, memory_format=torch.channels_last)
        self.cm = build_cm(cfg, self.model.backbone.dims[-1])
        if self.cm is not None:
            self.cm.to(self.d.device)
        self.step_module = TrainStep(self.model, self.cm, cfg)
        self.optimizer = torch.optim.AdamW(self._param_groups(), lr=s.lr, weight_decay=s.weight_decay)
        norms = [m for m in pretrained_backbone(self.model).modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.frozen_norms = norms if s.backbone_bn == "frozen" else []
        self.scheduler = self._scheduler()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.d.device.type == "cuda")
        self.step, self.best = 0, math.inf
        self._resume_or_start()
        self.ddp = self.step_module
        if self.d.world > 1:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.step_module, device_ids=[self.d.local_rank] if self.d.device.type == "cuda" else None
            )

    def _scheduler(self, step: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
        """The lr schedule, positioned at `step` (its constructor takes one step from last_epoch)."""
        factor = lr_factor(self.settings, self.steps_per_epoch, self.total_steps)
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor, last_epoch=step - 1)

    def _param_groups(self) -> list[dict[str, Any]]:
        """The ImageNet-pretrained backbone at lr x backbone_lr_scale (left out when 0), the rest at lr."""
        scale = self.settings.backbone_lr_scale
        pretrained = list(pretrained_backbone(self.model).parameters())
        for p in pretrained:
            p.requires_grad_(scale > 0)
        ids = {id(p) for p in pretrained}
        groups = [
            {"params": [p for p in self.step_module.parameters() if p.requires_grad and id(p) not in ids]},
            {"params": [p for p in pretrained if p.requires_grad], "lr": self.settings.lr * scale},
        ]
        return [g for g in groups if g["params"]]

    def _resume_or_start(self) -> None:
        last = self.out / "last.pt"
        if not self.o.resume:
            if last.exists():
                raise TrainingError(f"{self.out} already holds a run (last.pt); pass --resume or choose another --out")
            if self.o.init is not None:
                self._load_init(self.o.init)
            return
        if not last.exists():
            raise CheckpointError(f"nothing to resume: {last} does not exist")
        state = load_checkpoint(last)
        try:  # settings added to cliphand since the run began take their defaults, as the run had them
            stored = config_from_dict(state["config"], str(last)).to_dict()
        except ConfigError:
            stored = state["config"]
        differences = config_differences(stored, self.config.to_dict())
        if differences:
            raise CheckpointError(f"{last} was trained with another config (differs in: {', '.join(differences)})")
        self._check_hand_model(state, last)
        load_weights(self.model, state["model"], last)
        if self.cm is not None and state.get("cm") is not None:
            self.cm.load_state_dict(state["cm"])
        self.optimizer.load_state_dict(state["optimizer"])
        # Rebuilt at the stored step, not loaded: the stored lr belongs to the stored schedule,
        # and a longer --max-steps stretches it from here.
        self.scheduler = self._scheduler(state["scheduler"]["last_epoch"])
        self.step, self.best = state["step"], state["best"]
        if self.d.main:  # a process killed while saving leaves its temporary file; the checkpoint is intact
            for stale in self.out.glob("*.pt*.tmp"):
                stale.unlink(missing_ok=True)
            # Steps logged after the checkpoint are trained again: drop their rows, or they repeat.
            for log in ("metrics.csv", "val.csv"):
                truncate_log(self.out / log, self.step)
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        if self.d.main:
            print(f"resuming {self.out} from step {self.step}")

    def _load_init(self, path: Path) -> None:
        state = load_checkpoint(path)
        self._check_hand_model(state, path)
        weights = resize_positions(state["model"], self.model)  # another input size: resample the token grid
        weights = widen_feed_forward(weights, self.model)  # wider MTED feed-forward layers: new units feed nothing
        # What the hand model defines (its mean hand, PJ's templates) comes from today's hand model,
        # so a checkpoint trained under an earlier joint convention starts from today's.
        own = self.model.state_dict()
        weights = {**weights, **{name: own[name] for name in HAND_DERIVED_BUFFERS if name in own}}
        load_weights(self.model, weights, f"{path} (for config '{self.config.name}')")  # fp16 is cast on copy
        if self.d.main:
            print(f"starting from the weights of {path} (step {state['step']} of its run)")

    def _check_hand_model(self, state: dict[str, Any], path: Path) -> None:
        ours = hand_identity(self.hand)
        if state["hand_model"] != ours:
            raise CheckpointError(f"{path} was trained with hand model {state['hand_model']}, not {ours}")

    # ------------------------------------------------------------------ loop
    def run(self) -> dict[str, Any]:
        self.setup()
        self.out.mkdir(parents=True, exist_ok=True)
        self.skipped = 0
        previous = signal.getsignal(signal.SIGTERM) if self.d.main else None
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            return self._loop()
        except KeyboardInterrupt:
            raise self._interrupted() from None
        finally:
            if previous is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, previous)

    def _interrupted(self) -> TrainingInterrupted:
        if self.step == 0 or not self.d.main:
            return TrainingInterrupted(f"interrupted before the first step; nothing to resume in {self.out}")
        self._save("last.pt")
        return TrainingInterrupted(
            f"interrupted at step {self.step}; saved {self.out / 'last.pt'}; continue with --resume"
        )

    def _loop(self) -> dict[str, Any]:
        log = self._open_log()
        board = self._tensorboard()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="training", unit="step",
                   disable=not (self.o.progress and self.d.main))  # fmt: skip
        last_saved = self.step
        deadline = None if self.o.max_minutes is None else time.monotonic() + 60 * self.o.max_minutes
        while self.step < self.total_steps:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            self.train_set.set_epoch(epoch)
            batches = epoch_batches(
                len(self.train_set), self.settings.batch_size, self.o.seed, epoch, self.d.rank, self.d.world
            )
            loader = torch.utils.data.DataLoader(
                self.train_set,
                batch_sampler=batches[offset:],
                num_workers=self.settings.num_workers,
                collate_fn=collate_samples,
                generator=torch.Generator().manual_seed(self.o.seed * 100003 + epoch),  # keeps the global RNG untouched
            )
            tick = time.perf_counter()
            for batch in _named_data_errors(loader):
                self.skipped += batch.get("skipped", 0)
                lr = self.scheduler.get_last_lr()[0]  # this step's; the step moves the scheduler on
                try:
                    terms = self._train_step(batch)
                except FloatingPointError as exc:
                    where = (
                        f"last good checkpoint: {self.out / 'last.pt'} (step {last_saved})"
                        if last_saved
                        else "no checkpoint yet"
                    )
                    raise TrainingError(f"stopped at step {self.step + 1}: {exc}; {where}") from None
                self.step += 1
                now = time.perf_counter()
                rate = self.settings.batch_size * self.d.world / (now - tick)  # data loading included
                tick = now
                if self.d.main:
                    row = {
                        "step": self.step,
                        "epoch": epoch,
                        "lr": lr,
                        "samples_per_s": rate,
                    }
                    row.update({k: float(terms[k]) for k in LOSS_KEYS})
                    log.writerow(row)
                    if board is not None:
                        for k in LOSS_KEYS:
                            board.add_scalar(f"loss/{k}", row[k], self.step)
                    bar.set_postfix(loss=f"{row['total']:.3f}", sps=f"{rate:.1f}")
                bar.update(1)
                done = self.step >= self.total_steps or (deadline is not None and time.monotonic() > deadline)
                if self.step % self.settings.val_every_steps == 0 or done:
                    self._validate(board)
                if self.step % self.settings.checkpoint_every_steps == 0 or done:
                    self._save("last.pt")
                    last_saved = self.step
                if done:
                    break
            if deadline is not None and time.monotonic() > deadline:
                break
        bar.close()
        summary = {"step": self.step, "best_pa_mpjpe_mm": None if math.isinf(self.best) else self.best}
        if self.o.skip_bad_samples:
            summary["skipped_bad_samples"] = self.skipped
            if self.skipped and self.d.main:
                print(f"skipped {self.skipped} bad samples (each named in a warning above)", file=sys.stderr)
        if self.d.main:
            self._plot()
        return summary

    def _train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        self.ddp.train()
        for m in self.frozen_norms:  # keep ImageNet's statistics, which photos share
            m.eval()
        batch = {k: v.to(self.d.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.autocast(self.d.device.type, dtype=torch.float16, enabled=self.d.device.type == "cuda"):
            terms = self.ddp(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(
            [p for g in self.optimizer.param_groups for p in g["params"]], self.settings.grad_clip
        )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return {k: all_reduce_mean(v.detach(), self.d) for k, v in terms.items()}

    # ------------------------------------------------------------------ validation, checkpoints, logs
    @torch.no_grad()
    def _validate(self, board) -> None:
        if len(self.val_set) == 0 or not self.d.main:
            return
        scores = predict_and_score(self.model, self.val_set, self.settings.batch_size, self.d.device)
        pa = scores["pa_mpjpe_mm"]
        with (self.out / "val.csv").open("a", newline="") as f:
            if f.tell() == 0:
                f.write("step,pa_mpjpe_mm,f_score_15mm\n")
            f.write(
                f"{self.step},{pa:.4f},{'' if scores['f_score_15mm'] is None else round(scores['f_score_15mm'], 5)}\n"
            )
        if board is not None:
            board.add_scalar("val/pa_mpjpe_mm", pa, self.step)
        if pa < self.best:
            self.best = pa
            self._save("best.pt")

    def _save(self, name: str) -> None:
        if not self.d.main:
            return
        state = {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "cm": None if self.cm is None else self.cm.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "best": self.best,
            "seed": self.o.seed,
            "hand_model": hand_identity(self.hand),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }
        save_checkpoint(self.out / name, state)

    def _open_log(self):
        """metrics.csv on rank 0 only (other ranks must not truncate it)."""
        if not self.d.main:
            self._log_handle = None
            return _NoLog()
        path = self.out / "metrics.csv"
        fresh = not path.exists() or not self.o.resume
        handle = path.open("w" if fresh else "a", newline="", buffering=1)
        writer = csv.DictWriter(handle, ["step", "epoch", "lr", "samples_per_s", *LOSS_KEYS])
        if fresh:
            writer.writeheader()
        self._log_handle = handle
        return writer

    def _tensorboard(self):
        if not self.d.main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None  # tensorboard is optional: the CSV logs hold the same numbers
        return SummaryWriter(str(self.out / "tensorboard"))

    def _plot(self) -> None:
        from cliphand.train.plots import plot_run

        self._log_handle.flush()
        plot_run(self.out)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends a run like Ctrl-C: save, then stop


def _named_data_errors(loader: torch.utils.data.DataLoader):
    """Batches from the loader; a DataError in a worker comes back as its one line, not a traceback."""
    try:
        yield from loader
    except DataError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        last = lines[-1] if lines else str(exc)
        message = last.split("DataError: ", 1)[-1]
        raise TrainingError(f"{message} (pass --skip-bad-samples to train on without it)") from None


def truncate_log(path: Path, step: int) -> None:
    """Keep the header and the rows of a CSV log up to `step` (first column)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)

    def logged_step(line: str) -> int:
        first = line.split(",", 1)[0]
        return int(first) if first.isdigit() else step + 1

    kept = lines[:1] + [line for line in lines[1:] if logged_step(line) <= step]
    if len(kept) != len(lines):
        write_text(path, "".join(kept))


@torch.no_grad()
def predict(model: CLIPHand, dataset: HandDataset, batch_size: int, device: torch.device) -> dict[str, np.ndarray]:
    """Run the network over a dataset: root-relative joints and vertices, plus the labels."""
    model.eval()
    # Its own generator: validation must not draw from the global RNG that dropout uses, or a
    # run that validated at a checkpoint would diverge from one that did not.
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, collate_fn=collate_samples, generator=torch.Generator().manual_seed(0)
    )
    out: dict[str, list] = {"joints": [], "vertices": [], "gt_joints": [], "gt_vertices": [], "has_vertices": []}
    for batch in loader:
        pred = model(batch["image"].to(device))
        out["joints"].append(pred["joints"].cpu().numpy())
        out["vertices"].append(pred["vertices"].cpu().numpy())
        out["gt_joints"].append(batch["joints_3d"].numpy())
        out["gt_vertices"].append(batch["vertices"].numpy())
        out["has_vertices"].append(batch["has_vertices"].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def predict_and_score(model: CLIPHand, dataset: HandDataset, batch_size: int, device: torch.device) -> dict[str, Any]:
    """PA-MPJPE, F@15 and the rest of FreiHAND's metrics on a dataset (vertices where it has them)."""
    p = predict(model, dataset, batch_size, device)
    with_mesh = p["has_vertices"].all() and p["gt_vertices"].shape[1] == p["vertices"].shape[1]
    return evaluate_freihand(p["gt_joints"], p["gt_vertices"], p["joints"], p["vertices"] if with_mesh else None)
