"""The CLIP-Hand network: one file per paper module (pat, hfa, mhf, mted, pj, cm), the
assembly (cliphand.py), losses and configs."""

from cliphand.model.cliphand import CLIPHand, build_model
from cliphand.model.config import ConfigError, LossWeights, ModelConfig, config_names, load_config

__all__ = ["CLIPHand", "ConfigError", "LossWeights", "ModelConfig", "build_model", "config_names", "load_config"]
