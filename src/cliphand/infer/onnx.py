"""ONNX export of the inference path, and an ONNX Runtime backend for HandPoseEstimator."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cliphand.fileio import atomic_path

log = logging.getLogger("cliphand.infer")

OUTPUTS = ("joints", "vertices", "camera", "heatmaps")


class _Exported(nn.Module):
    """The network with tuple outputs (ONNX graphs return positional tensors)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image)
        heatmaps = out["heatmaps"] if out["heatmaps"] is not None else out["camera"][:, :1, None, None] * 0
        return out["joints"], out["vertices"], out["camera"], heatmaps


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17) -> Path:
    """Write the inference path of a checkpoint as ONNX (dynamic batch), with the mesh faces,
    image size and config stored as metadata."""
    from cliphand.model.checkpoint import load_model_from_checkpoint

    return export_model(load_model_from_checkpoint(checkpoint), out, opset)


def export_model(model: nn.Module, out: str | Path, opset: int = 17) -> Path:
    """Export a CLIPHand network to `out` (written atomically)."""
    import onnx

    size = model.config.image_size
    out = Path(out)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        # The tracer warns that spatial sizes become constants: they are, the input size is fixed.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        torch.onnx.export(
            _Exported(model).eval(),
            (torch.rand(1, 3, size, size),),
            str(tmp),
            input_names=["image"],
            output_names=list(OUTPUTS),
            dynamic_axes={"image": {0: "batch"}, **{name: {0: "batch"} for name in OUTPUTS}},
            opset_version=opset,
            dynamo=False,  # the TorchScript exporter handles this network without onnxscript rewrites
        )
        graph = onnx.load(str(tmp))
        meta = {
            "image_size": str(size),
            "faces": json.dumps(model.faces.tolist()),
            "config": json.dumps(model.config.to_dict()),
        }
        for key, value in meta.items():
            graph.metadata_props.add(key=f"cliphand.{key}", value=value)
        onnx.save(graph, str(tmp))
    return out


def cached_onnx_export(checkpoint: str | Path) -> Path:
    """The ONNX export of a checkpoint, made once and cached by the checkpoint's content hash
    under cache_dir()/onnx; an .onnx file is returned as it is."""
    checkpoint = Path(checkpoint)
    if checkpoint.suffix == ".onnx":
        return checkpoint
    from cliphand.hand.coarse import cache_dir

    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:16]
    path = cache_dir() / "onnx" / f"{checkpoint.stem}_{digest}.onnx"
    if not path.exists():
        log.info("exporting %s to ONNX once: %s", checkpoint.name, path)
        export_onnx(checkpoint, path)
    return path


class OnnxHandModel:
    """ONNX Runtime session that answers like the PyTorch network (a dict of tensors)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError("the ONNX backend needs onnxruntime: pip install 'cliphand[onnx]'") from exc
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ValueError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "cliphand.faces" not in meta:
            raise ValueError(f"{path} was not exported by cliphand (no cliphand metadata)")
        self.faces = np.asarray(json.loads(meta["cliphand.faces"]), dtype=np.int64)
        self.image_size = int(meta["cliphand.image_size"])
        self.has_heatmaps = json.loads(meta["cliphand.config"]).get("mhf", True)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        values = self.session.run(list(OUTPUTS), {"image": np.ascontiguousarray(image.numpy(), dtype=np.float32)})
        out = {name: torch.from_numpy(v) for name, v in zip(OUTPUTS, values, strict=True)}
        if not self.has_heatmaps:
            out.pop("heatmaps")
        return out
