"""Model configurations: one dataclass, YAML files in model/configs, one registry by name."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@dataclass
class LossWeights:
    """Weights of paper Eq. 1. The 3D terms are L1 in metres (the paper's joint term is MSE, whose
    gradient vanishes near the answer), and the heatmap weight is 100, not 1 (docs/training.md)."""

    vertices: float = 1000.0
    joints: float = 1000.0
    joints_aligned: float = 0.0
    joints_2d: float = 100.0
    heatmap: float = 100.0  # paper: 1; x100 gives the heatmaps a gradient comparable to the 3D terms'
    contrastive: float = 10.0


@dataclass
class TrainSettings:
    """The training recipe (paper §4.2: AdamW, lr 1e-4, batch 8, 120 epochs, x0.1 every 40)."""

    epochs: int = 120
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-4
    lr_step_epochs: int = 40
    lr_gamma: float = 0.1
    # "step": x lr_gamma every lr_step_epochs; "cosine": half a cosine from lr to 0 over the run's steps
    lr_schedule: str = "step"
    warmup_steps: int = 0  # linear warm-up: Adam's first steps move every weight by the full lr
    # The ImageNet-pretrained part of the backbone: its lr is lr x backbone_lr_scale (0 freezes it),
    # and backbone_bn "frozen" keeps its BatchNorm statistics (ImageNet's) while training.
    backbone_lr_scale: float = 1.0
    backbone_bn: str = "train"  # "train" or "frozen"
    grad_clip: float = 1.0
    val_fraction: float = 0.05  # held out from the training data for validation
    val_every_steps: int = 500
    checkpoint_every_steps: int = 200
    num_workers: int = 2
    augment: bool = True
    augment_hue_deg: float = 0.0  # AugmentConfig.hue_deg
    augment_gray_prob: float = 0.0  # AugmentConfig.gray_prob
    augment_background_prob: float = 0.8  # AugmentConfig.background_prob
    augment_random_conv_prob: float = 0.0  # AugmentConfig.random_conv_prob


@dataclass
class ModelConfig:
    """Everything that defines a CLIP-Hand network. Module switches reproduce Table 5."""

    name: str = "s12"
    backbone: str = "pat_s12"  # pat_s12, pat_s24, pat_tiny, efficientnet_lite0, hand_landmark
    backbone_weights: str | None = None  # local ImageNet weights for PAT backbones
    backbone_dims: tuple[int, ...] | None = None  # efficientnet_lite0, hand_landmark: widths of their adapters
    hand_model: str = "openhand"  # or "mano:/path/to/MANO_RIGHT.pkl"
    image_size: int = 224
    hfa: bool = True
    hfa_dim: int = 64
    hfa_mlp_ratio: float = 4.0
    hfa_stage_dim: int = 0  # > 0: each stage projected to this width before HFA concatenates them
    mhf: bool = True
    mted: bool = True
    mted_dims: tuple[int, ...] = (512, 128)  # mted_dims[0] is also the MHF token width
    mted_ff_dims: tuple[int, ...] = (2048, 512)
    mted_heads: int = 8
    mted_encoder_layers: int = 1
    mted_decoder_layers: int = 2
    masks: bool = True
    cm: bool = True
    cm_encoders: str = "offline"  # or "hf-clip:/path/to/clip"
    pj: bool = True
    pj_dim: int = 128
    dropout: float = 0.1
    # Weak-perspective scale at the start of training (the camera head predicts log(s / s0)):
    # 2 f / (z (S - 1)) for FreiHAND-like crops, 6.7-12.3 with a mean of 9.4 on our synthetic data.
    camera_scale: float = 9.4
    heatmap_sigma: float = 1.5  # Gaussian target width in heatmap pixels (H/4)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConfigError(ValueError):
    """A configuration that names an unknown key or module, or has a bad value."""


def config_names() -> list[str]:
    """Names of the configs shipped in cliphand/model/configs."""
    return sorted(
        p.name[: -len(".yaml")] for p in resources.files("cliphand.model.configs").iterdir() if p.name.endswith(".yaml")
    )


def load_config(name_or_path: str | Path) -> ModelConfig:
    """A shipped config by name (s12, s24, tiny, table5_a ... table5_g) or a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        if str(name_or_path) not in config_names():
            raise ConfigError(f"unknown config '{name_or_path}'; shipped configs: {', '.join(config_names())}")
        text = resources.files("cliphand.model.configs").joinpath(f"{name_or_path}.yaml").read_text()
        source = f"config '{name_or_path}'"
    else:
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text, source = path.read_text(), str(path)
    return config_from_dict(_with_base(_parse_yaml(text, source), source), source)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None


def _with_base(raw: Any, source: str) -> Any:
    """`base: NAME` starts from a shipped config; this file's keys (and train settings one by
    one) replace the base's. Lets a recipe say only what it changes."""
    if not isinstance(raw, dict) or "base" not in raw:
        return raw
    raw = dict(raw)
    name = str(raw.pop("base"))
    if name not in config_names():
        raise ConfigError(f"{source}: unknown base config '{name}'; shipped configs: {', '.join(config_names())}")
    text = resources.files("cliphand.model.configs").joinpath(f"{name}.yaml").read_text()
    merged = _with_base(_parse_yaml(text, f"config '{name}'"), f"config '{name}'")
    train = {**(merged.get("train") or {}), **(raw.pop("train", None) or {})}
    merged.update(raw)
    if train:
        merged["train"] = train
    return merged


def config_from_dict(raw: dict[str, Any], source: str = "config") -> ModelConfig:
    """Build and check a ModelConfig; unknown keys and bad values raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else " (the keys are ModelConfig's fields: docs/model.md)"
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}{hint}")
    values = dict(raw)
    if "loss_weights" in values:
        weights = values["loss_weights"] or {}
        bad = sorted(set(weights) - {f.name for f in fields(LossWeights)})
        if bad:
            raise ConfigError(f"{source}: unknown loss weight(s) {', '.join(bad)}")
        values["loss_weights"] = LossWeights(**weights)
    if "train" in values:
        settings = values["train"] or {}
        bad = sorted(set(settings) - {f.name for f in fields(TrainSettings)})
        if bad:
            raise ConfigError(f"{source}: unknown train setting(s) {', '.join(bad)}")
        values["train"] = TrainSettings(**settings)
    for key in ("mted_dims", "mted_ff_dims", "backbone_dims"):
        if key in values and values[key] is not None:
            values[key] = tuple(values[key])
    config = ModelConfig(**values)
    check_config(config, source)
    return config


def check_config(config: ModelConfig, source: str = "config") -> None:
    from cliphand.model.pat import PAT_VARIANTS

    backbones = (*PAT_VARIANTS, "efficientnet_lite0", "hand_landmark")
    if config.backbone not in backbones:
        raise ConfigError(f"{source}: unknown backbone '{config.backbone}'; choose one of: {', '.join(backbones)}")
    if len(config.mted_dims) != len(config.mted_ff_dims) or not config.mted_dims:
        raise ConfigError(f"{source}: mted_dims and mted_ff_dims must have the same, non-zero length")
    if any(d % config.mted_heads for d in config.mted_dims):
        raise ConfigError(f"{source}: every mted_dims entry must divide by mted_heads={config.mted_heads}")
    if config.backbone_dims is not None and (len(config.backbone_dims) != 4 or sum(config.backbone_dims) % 32):
        raise ConfigError(f"{source}: backbone_dims needs 4 widths whose sum divides by 32 (HFA's PAT block)")
    if config.train.backbone_bn not in ("train", "frozen"):
        raise ConfigError(f"{source}: train.backbone_bn must be 'train' or 'frozen', got {config.train.backbone_bn!r}")
    if config.train.lr_schedule not in ("step", "cosine"):
        raise ConfigError(f"{source}: train.lr_schedule must be 'step' or 'cosine', got {config.train.lr_schedule!r}")
    if not config.train.backbone_lr_scale >= 0:
        raise ConfigError(f"{source}: train.backbone_lr_scale must be >= 0, got {config.train.backbone_lr_scale}")
    if config.image_size % 32:
        raise ConfigError(f"{source}: image_size must be a multiple of 32, got {config.image_size}")
    if not (config.hand_model == "openhand" or config.hand_model.startswith("mano:")):
        raise ConfigError(f"{source}: hand_model must be 'openhand' or 'mano:/path/MANO_RIGHT.pkl'")
