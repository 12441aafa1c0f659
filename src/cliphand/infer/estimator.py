"""`HandPoseEstimator`: joints and a mesh from a photo of a hand, in the camera frame.

    est = HandPoseEstimator.default()  # the shipped model; or .from_checkpoint("runs/x/best.pt")
    hands = est.predict_hands("photo.jpg")  # every hand the detector finds, best first
    pred = est.predict("hand.jpg", bbox=(x, y, w, h), is_left=False)  # one hand in a known box
    pred.joints_3d (21, 3) metres, pred.joints_2d (21, 2) pixels of the input, pred.vertices (N, 3)

The image is cropped around the box (square, padded) with the intrinsics K of the full image
(`intrinsics`, a 3x3 matrix, when the camera is known; else focal length `focal`, default
1.2 x the longer side, and the principal point at the image centre) carried into
the crop; the network's root-relative prediction is placed in the camera frame with the wrist
position its weak-perspective camera implies. Left hands are mirrored in, and the result
mirrored back.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cliphand.data.geometry import crop_affine, project, warp
from cliphand.model.cliphand import root_translation

# The crop side is this many times the box's longer side: a tight box (a detector's, around the
# joints) then fills ~60 % of the crop, the middle of the 30-90 % the synthetic training data spans.
BOX_PADDING = 1.7
MAX_PIXELS = 100_000_000  # larger images are refused (a decompression bomb, or not a photo of hands)
MIN_SIDE = 16  # smaller images cannot show a hand


class InferenceError(ValueError):
    """An input that cannot be used (unreadable image, bad box), named in one line."""


@dataclass
class HandPrediction:
    """One hand. Metres in the input camera's frame; pixels of the input image."""

    joints_3d: np.ndarray  # (21, 3)
    joints_2d: np.ndarray  # (21, 2)
    vertices: np.ndarray  # (N, 3)
    faces: np.ndarray  # (F, 3)
    camera: np.ndarray  # (3,) the network's weak-perspective camera of the crop
    K: np.ndarray  # (3, 3) intrinsics used for the input image
    confidence: float  # 0..1, how peaked the joint heatmaps are (1.0 for networks without heatmaps)
    is_left: bool
    bbox: tuple[float, float, float, float] | None = None  # x, y, w, h of the hand box; None: the whole image
    score: float | None = None  # the detector's score, when a detector found the hand

    @property
    def handedness(self) -> str:
        return "left" if self.is_left else "right"

    def to_dict(self, faces: bool = True) -> dict:
        """JSON-ready values; faces=False leaves out faces, K and is_left (per-image in the JSON
        `predict` writes, and the largest part of the conversion)."""
        record = {
            "joints_3d": self.joints_3d.round(6).tolist(),
            "joints_2d": self.joints_2d.round(3).tolist(),
            "vertices": self.vertices.round(6).tolist(),
            "camera": self.camera.round(6).tolist(),
            "confidence": round(float(self.confidence), 4),
            "handedness": self.handedness,
            "score": None if self.score is None else round(float(self.score), 4),
            "bbox": None if self.bbox is None else [round(float(v), 2) for v in self.bbox],
        }
        if faces:
            record.update(faces=self.faces.tolist(), K=self.K.round(4).tolist(), is_left=self.is_left)
        return record


def load_image(image: str | Path | np.ndarray | Image.Image) -> np.ndarray:
    """Any image (path, array, PIL; grayscale, RGBA, RGB) -> (H, W, 3) uint8 RGB."""
    if isinstance(image, str | Path):
        try:
            with warnings.catch_warnings(), Image.open(image) as img:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, in one line
                if img.width * img.height > MAX_PIXELS:
                    raise InferenceError(f"image {image} is {img.width}x{img.height}: over {MAX_PIXELS:,} pixels")
                return _checked(np.asarray(img.convert("RGB")), image)
        except InferenceError:
            raise
        except FileNotFoundError:
            raise InferenceError(f"image not found: {image}") from None
        except IsADirectoryError:
            raise InferenceError(f"{image} is a folder, not an image") from None
        except Image.DecompressionBombError:
            raise InferenceError(f"image {image} is too large: over {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise InferenceError(f"cannot read image {image}: {exc}") from None
    if isinstance(image, Image.Image):
        return _checked(np.asarray(image.convert("RGB")), "the image")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InferenceError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.dtype != np.uint8:
        if not np.isfinite(array).all():
            raise InferenceError("the image has NaN or infinite pixel values")
        array = np.clip(array * (255.0 if array.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return _checked(np.ascontiguousarray(array[..., :3]), "the image")


def _checked(array: np.ndarray, name) -> np.ndarray:
    if min(array.shape[:2]) < MIN_SIDE:
        raise InferenceError(f"{name} is {array.shape[1]}x{array.shape[0]} pixels: too small to show a hand")
    return array


def default_intrinsics(width: int, height: int, focal: float | None = None) -> np.ndarray:
    if focal is not None and not (np.isfinite(focal) and focal > 0):
        raise InferenceError(f"focal length must be a positive number of pixels, got {focal}")
    f = focal or 1.2 * max(width, height)
    return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])


def camera_matrix(width: int, height: int, focal: float | None = None, intrinsics=None) -> np.ndarray:
    """(3, 3) K of a width x height image: `intrinsics` when given (checked), else default_intrinsics."""
    if intrinsics is None:
        return default_intrinsics(width, height, focal)
    if focal is not None:
        raise InferenceError("give a focal length or intrinsics, not both")
    return checked_intrinsics(intrinsics)


def checked_intrinsics(intrinsics) -> np.ndarray:
    """A (3, 3) float K, or one line saying why it is not a camera matrix."""
    try:
        K = np.asarray(intrinsics, dtype=np.float64)
    except (TypeError, ValueError):
        K = np.zeros(0)
    valid = K.shape == (3, 3) and np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0, 0, 1])
    if not valid:
        raise InferenceError(
            f"intrinsics must be a 3x3 camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with positive fx and fy, "
            f"got {intrinsics!r:.120}"
        )
    return K


class HandPoseEstimator:
    """Runs a CLIP-Hand network (PyTorch or ONNX Runtime) on images."""

    def __init__(self, model, faces: np.ndarray, image_size: int, backend: str = "torch", device: str = "cpu") -> None:
        self.model, self.faces, self.size, self.backend = model, faces, image_size, backend
        self.device = torch.device(device)

    @functools.cached_property
    def faces_list(self) -> list[list[int]]:
        """faces (F, 3) as JSON-ready lists, converted once (3,196 triangles take milliseconds)."""
        return self.faces.tolist()

    @classmethod
    def default(cls, device: str = "cpu") -> HandPoseEstimator:
        """The pretrained model shipped inside the package (`cliphand.default_checkpoint()`)."""
        from cliphand import default_checkpoint

        return cls.from_checkpoint(default_checkpoint(), device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", backend: str = "torch") -> HandPoseEstimator:
        """Load a training checkpoint (backend "torch") or an exported .onnx file (backend "onnx")."""
        if backend == "onnx":
            from cliphand.infer.onnx import OnnxHandModel

            runtime = OnnxHandModel(path)
            return cls(runtime, runtime.faces, runtime.image_size, "onnx", "cpu")
        if backend != "torch":
            raise InferenceError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        from cliphand.model.checkpoint import load_model_from_checkpoint

        model = load_model_from_checkpoint(path).to(device)
        return cls(model, model.faces.cpu().numpy(), model.config.image_size, "torch", device)

    def predict(
        self,
        image,
        bbox: Sequence[float] | None = None,
        is_left: bool | None = None,
        focal: float | None = None,
        detect: bool = True,
        intrinsics: np.ndarray | None = None,
    ) -> HandPrediction:
        """One hand. bbox = (x, y, w, h) in pixels. Without a box the detector finds the best
        hand (and its handedness, unless is_left is given); detect=False takes the whole image
        as the crop instead (for images that are hand crops already). `intrinsics` (3, 3) is
        the camera's K when known (it places the hand in metres); else `focal` or a default."""
        if bbox is None and detect:
            image = load_image(image)
            hands = self.predict_hands(image, max_hands=1, focal=focal, is_left=is_left, intrinsics=intrinsics)
            if not hands:
                raise InferenceError("no hand found in the image (give a box, or detect=False for a hand crop)")
            return hands[0]
        return self.predict_batch([image], [bbox], [bool(is_left)], focal, intrinsics)[0]

    def predict_hands(
        self,
        image,
        max_hands: int = 4,
        focal: float | None = None,
        detector=None,
        is_left: bool | None = None,
        intrinsics: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        """Every hand the detector finds (best score first); [] when there is none. Left hands
        are mirrored in and out as with is_left; is_left overrides the detector's handedness."""
        from cliphand.detect import detect_hands

        image = load_image(image)
        boxes = detect_hands(image, max_hands, detector)
        if not boxes:
            return []
        lefts = [box.is_left if is_left is None else is_left for box in boxes]
        predictions = self.predict_batch([image] * len(boxes), [b.bbox for b in boxes], lefts, focal, intrinsics)
        for prediction, box in zip(predictions, boxes, strict=True):
            prediction.score = box.score
        return predictions

    def predict_batch(
        self,
        images: Sequence,
        bboxes: Sequence[Sequence[float] | None] | None = None,
        is_left: Sequence[bool] | None = None,
        focal: float | None = None,
        intrinsics: np.ndarray | None = None,
    ) -> list[HandPrediction]:
        """Several hands at once: one forward pass over all crops. A box of None takes the whole
        image as the crop. `intrinsics` is one (3, 3) K for every image."""
        bboxes = list(bboxes) if bboxes is not None else [None] * len(images)
        is_left = list(is_left) if is_left is not None else [False] * len(images)
        crops, Ks, crop_Ks = [], [], []
        for image, box, left in zip(images, bboxes, is_left, strict=True):
            image = load_image(image)
            K = camera_matrix(image.shape[1], image.shape[0], focal, intrinsics)
            crop, K_crop = self._crop(image, box, left, K)
            crops.append(crop)
            Ks.append(K)
            crop_Ks.append(K_crop)
        # (B, 3, S, S) in [0, 1], built in NumPy: a torch op here wakes torch's thread pool, which then
        # competes with ONNX Runtime's for the cores
        batch = torch.from_numpy(np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32) / 255)
        out = self._run(batch)
        K_crop_t = torch.as_tensor(np.stack(crop_Ks), dtype=torch.float32)
        root = root_translation(out["camera"], K_crop_t, self.size)[:, None]
        wrist = out["joints"][:, :1]
        joints = (out["joints"] - wrist + root).numpy().astype(np.float64)
        vertices = (out["vertices"] - wrist + root).numpy().astype(np.float64)
        confidence = _confidence(out.get("heatmaps"), len(crops))
        predictions = []
        for i, left in enumerate(is_left):
            j, v = joints[i], vertices[i]
            if left:  # back from the mirrored right hand: negate camera x
                j, v = j * [-1.0, 1.0, 1.0], v * [-1.0, 1.0, 1.0]
            predictions.append(
                HandPrediction(
                    joints_3d=j,
                    joints_2d=project(j, Ks[i]),
                    vertices=v,
                    faces=self.faces[:, ::-1].copy() if left else self.faces,
                    camera=out["camera"][i].numpy(),
                    K=Ks[i],
                    confidence=float(confidence[i]),
                    is_left=bool(left),
                    bbox=None if bboxes[i] is None else tuple(float(v) for v in bboxes[i]),
                )
            )
        return predictions

    def _crop(self, image: np.ndarray, box, is_left: bool, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's input crop (S, S, 3) and its intrinsics (3, 3)."""
        h, w = image.shape[:2]
        if box is None:
            centre, side = np.array([(w - 1) / 2, (h - 1) / 2]), float(max(w, h))
        else:
            x, y, bw, bh = (float(v) for v in box)
            if not all(np.isfinite([x, y, bw, bh])) or bw <= 0 or bh <= 0:
                raise InferenceError(f"bounding box must be finite with positive width and height, got {tuple(box)}")
            if x >= w or y >= h or x + bw <= 0 or y + bh <= 0:
                raise InferenceError(f"bounding box {tuple(box)} lies outside the {w}x{h} image")
            centre, side = np.array([x + bw / 2 - 0.5, y + bh / 2 - 0.5]), BOX_PADDING * max(bw, bh)
        view, K_view = image, K
        if is_left:  # mirror into a right hand: flip, and move the principal point accordingly
            view = np.ascontiguousarray(image[:, ::-1])
            K_view = K.copy()
            K_view[0, 2] = w - 1 - K[0, 2]
            centre = np.array([w - 1 - centre[0], centre[1]])
        affine, crop_only = crop_affine(K_view, centre, side, self.size)
        return warp(view, affine, self.size), crop_only @ K_view

    @torch.no_grad()
    def _run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.backend == "onnx":
            return self.model(batch)
        out = self.model(batch.to(self.device))
        return {k: v.cpu() for k, v in out.items() if v is not None}


def _confidence(heatmaps: torch.Tensor | None, batch: int) -> np.ndarray:
    """Mean over joints of the probability mass near each heatmap's peak (3x3), in [0, 1].

    In NumPy: on tensors this small, torch's per-op thread dispatch costs more than the sums."""
    if heatmaps is None:
        return np.ones(batch)
    logits = heatmaps[:, :21].numpy().astype(np.float64)
    b, j, h, w = logits.shape
    flat = logits.reshape(b, j, -1)
    prob = np.exp(flat - flat.max(-1, keepdims=True))
    prob = (prob / prob.sum(-1, keepdims=True)).reshape(b, j, h, w)
    padded = np.pad(prob, ((0, 0), (0, 0), (1, 1), (1, 1)))
    mass = sum(padded[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))  # 3x3 sums
    return mass.reshape(b, j, -1).max(-1).mean(-1)
