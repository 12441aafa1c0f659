"""Second views for CM's contrastive pairs: same geometry, other appearance.

PeCLR's positives are two augmentations of one image. Geometric changes would move the hand
and change the labels the views share, so the second view changes only appearance: colour
(brightness, contrast, saturation, a colour cast), the background where a mask is known, blur
and sensor noise. Runs on the batch tensors, so it costs no extra image decoding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def appearance_view(
    images: torch.Tensor, masks: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """images (B, 3, H, W) in [0, 1], masks (B, 1, H, W) in [0, 1] or None -> (B, 3, H, W) in [0, 1].

    Rows of `masks` that are all zero (no mask for that sample) keep their background.
    """
    b, device = images.shape[0], images.device

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(b, *shape, generator=generator).to(device)

    x = images
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * uniform(0.4, 1.6, 1, 1, 1)  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(0.6, 1.4, 1, 1, 1)  # contrast
    x = x * uniform(0.6, 1.4, 1, 1, 1) * uniform(0.85, 1.15, 3, 1, 1)  # brightness, colour cast
    if masks is not None:
        background = uniform(0.0, 1.0, 3, 1, 1) + 0.15 * torch.randn(x.shape, generator=generator).to(device)
        keep = masks.clamp(0, 1)
        has_mask = masks.flatten(1).amax(1).gt(0).to(x.dtype).reshape(b, 1, 1, 1)
        x = has_mask * (keep * x + (1 - keep) * background) + (1 - has_mask) * x
    blur = uniform(0.0, 1.0, 1, 1, 1) < 0.3
    if bool(blur.any()):
        kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device)
        kernel = (kernel[:, None] * kernel[None, :] / 256.0).expand(3, 1, 5, 5)
        blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=3)
        x = torch.where(blur, blurred, x)
    x = x + uniform(0.0, 0.04, 1, 1, 1) * torch.randn(x.shape, generator=generator).to(device)
    return x.clamp(0, 1)
