"""The HTTP API and the web page of `cliphand serve` (FastAPI).

    GET  /                 the page: drop a photo or use the webcam; overlay, 3D mesh, downloads
    POST /api/v1/predict   multipart `image` (+ optional bbox, focal, max_hands, left): the JSON
                           of `cliphand predict`, plus the mesh faces
    POST /api/v1/mesh      JSON {vertices, faces, format}: the mesh as .obj, .ply or .glb
    GET  /api/v1/info      model, version, parameters, hand model, licences
    GET  /healthz          {"status": "ok"}
    GET  /docs             OpenAPI

Every error is a JSON {"error": "<one line>"} with its status: 400 bad input, 413 too large,
503 overloaded, 504 too slow. Requests are read into memory under a size limit; nothing is
written to disk and no path comes from a client.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from python_multipart.multipart import FormParser, parse_options_header

import cliphand
from cliphand.detect import DetectorUnavailable
from cliphand.hand.meshio import MESH_FORMATS, mesh_bytes
from cliphand.infer.estimator import MIN_SIDE, HandPoseEstimator, InferenceError
from cliphand.infer.predict import image_record
from cliphand.model.checkpoint import load_model_from_checkpoint
from cliphand.serve.pool import Busy, ModelPool, TimedOut

MESH_TYPES = {".obj": "text/plain", ".ply": "application/octet-stream", ".glb": "model/gltf-binary"}


@dataclass
class ServeSettings:
    checkpoint: str | None = None  # default: the model shipped in the package
    workers: int = 1
    backend: str = "auto"  # ONNX Runtime when installed, else PyTorch
    max_upload_mb: float = 10.0
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0
    queue: int = 8  # requests that may wait for a worker; more get 503
    cors_origin: str | None = None


class ApiError(HTTPException):
    """An error answered as {"error": detail}."""


def create_app(settings: ServeSettings | None = None, pool: ModelPool | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    limit = int(settings.max_upload_mb * 2**20)
    checkpoint = settings.checkpoint or str(cliphand.default_checkpoint())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = pool or ModelPool(
            checkpoint, settings.workers, settings.backend, settings.queue, settings.timeout_s
        )
        app.state.info = model_info(app.state.pool, checkpoint)
        yield
        app.state.pool.close()

    app = FastAPI(title="cliphand", version=cliphand.__version__, lifespan=lifespan,
                  description="3D hand joints and meshes from photos (CLIP-Hand).")  # fmt: skip
    if settings.cors_origin:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=[settings.cors_origin], allow_methods=["GET", "POST"])

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(v) for v in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', 'bad value')}"}, status_code=400)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser's console

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ("viewer.js", "page.js"):  # a fixed list: no path from the client reaches the disk
            raise ApiError(404, f"no such file: {name}")
        return Response(_static(name), media_type="text/javascript")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "busy": app.state.pool.admitted}

    @app.get("/api/v1/info")
    async def info() -> dict:
        return app.state.info

    @app.post(
        "/api/v1/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["image"],
                            "properties": {
                                "image": {
                                    "type": "string",
                                    "format": "binary",
                                    "description": "JPEG, PNG, WebP or BMP",
                                },
                                "bbox": {"type": "string", "description": "x,y,w,h of one hand (skips detection)"},
                                "focal": {"type": "number", "description": "focal length in pixels"},
                                "max_hands": {"type": "integer", "default": 4},
                                "left": {
                                    "type": "boolean",
                                    "description": "every hand is left (true) or right (false); default: "
                                    "the detector says (a bbox's hand: right)",
                                },
                            },
                        }
                    }
                },  # fmt: skip
            }
        },
    )
    async def predict(request: Request) -> JSONResponse:
        """Every hand in the image (or the one in `bbox`): the JSON `cliphand predict` writes,
        with `faces` (F, 3) of a right hand (left hands: reverse each triangle)."""
        fields = parse_form(await read_body(request, limit), request.headers.get("content-type", ""))
        if "image" not in fields:
            raise ApiError(400, "the form needs an 'image' file field")
        image = decode_image(fields["image"], settings.max_pixels)
        options = prediction_options(fields)

        def work(estimator: HandPoseEstimator) -> dict:
            return predict_record(estimator, image, **options)

        try:
            record = await app.state.pool.run(work)
        except Busy as exc:
            raise ApiError(503, str(exc)) from None
        except TimedOut as exc:
            raise ApiError(504, str(exc)) from None
        except InferenceError as exc:
            raise ApiError(400, str(exc)) from None
        except DetectorUnavailable as exc:
            raise ApiError(501, f"{exc} (this server has no hand detector)") from None
        return JSONResponse(record)

    @app.post("/api/v1/mesh")
    async def mesh(request: Request) -> Response:
        """JSON {"vertices": (N, 3), "faces": (F, 3), "format": ".obj" | ".ply" | ".glb"} -> the file."""
        try:
            body = json.loads(await read_body(request, limit))
            fmt = str(body.get("format", ".obj")).lower()
            vertices = np.asarray(body["vertices"], dtype=np.float64)
            faces = np.asarray(body["faces"], dtype=np.int64)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ApiError(400, f"expected JSON with vertices, faces and format: {exc}") from None
        if fmt not in MESH_FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(MESH_FORMATS)}")
        if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ApiError(400, "vertices and faces must be (N, 3) and (F, 3) arrays")
        if not np.isfinite(vertices).all() or faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ApiError(400, "vertices must be finite and faces must index them")
        return Response(mesh_bytes(vertices, faces, fmt), media_type=MESH_TYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="hand{fmt}"'})  # fmt: skip

    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (before reading, when declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request of {int(declared):,} bytes is over the {limit:,}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request is over the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes, content_type: str) -> dict[str, bytes]:
    """A multipart/form-data body -> {field name: bytes}, entirely in memory."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(400, "send multipart/form-data with an 'image' file field")
    fields: dict[str, bytes] = {}

    def on_field(field) -> None:
        fields[field.field_name.decode("utf-8", "replace")] = field.value or b""

    def on_file(file) -> None:
        file.file_object.seek(0)
        fields[file.field_name.decode("utf-8", "replace")] = file.file_object.read()

    config = {"MAX_MEMORY_FILE_SIZE": math.inf, "MAX_FIELDS": 16}  # files stay in memory: nothing on disk
    try:
        parser = FormParser(kind.decode(), on_field, on_file, boundary=params[b"boundary"], config=config)
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError(400, f"malformed multipart body: {reason}") from None
    return fields


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes of an image file -> (H, W, 3) uint8; 400 for anything that is not a usable image."""
    if not data:
        raise ApiError(400, "the image field is empty")
    try:
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as img:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if img.width * img.height > max_pixels:
                raise ApiError(400, f"image is {img.width}x{img.height}: over the {max_pixels:,}-pixel limit")
            array = np.asarray(img.convert("RGB"))
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(400, f"image is over the {max_pixels:,}-pixel limit") from None
    except Image.UnidentifiedImageError:
        raise ApiError(400, "not a readable image: expected JPEG, PNG, WebP or BMP bytes") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ApiError(400, f"not a readable image: {str(exc).splitlines()[0]}") from None
    if min(array.shape[:2]) < MIN_SIDE:
        raise ApiError(400, f"image is {array.shape[1]}x{array.shape[0]} pixels: too small to show a hand")
    return array


def prediction_options(fields: dict[str, bytes]) -> dict:
    """bbox, focal, max_hands and left from form fields, each checked (400 with the field's name)."""
    text = {k: v.decode("utf-8", "replace").strip() for k, v in fields.items() if k != "image"}
    options: dict = {"bbox": None, "focal": None, "max_hands": 4, "left": None}  # left None: the detector says
    try:
        if text.get("bbox"):
            bbox = [float(v) for v in text["bbox"].split(",")]
            if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox) or bbox[2] <= 0 or bbox[3] <= 0:
                raise ValueError
            options["bbox"] = bbox
    except ValueError:
        raise ApiError(
            400, f"bbox must be x,y,w,h with finite numbers and positive w, h; got {text['bbox']!r}"
        ) from None
    try:
        if text.get("focal"):
            options["focal"] = float(text["focal"])
            if not (math.isfinite(options["focal"]) and options["focal"] > 0):
                raise ValueError
    except ValueError:
        raise ApiError(400, f"focal must be a positive number of pixels; got {text['focal']!r}") from None
    try:
        if text.get("max_hands"):
            options["max_hands"] = int(text["max_hands"])
            if not 1 <= options["max_hands"] <= 16:
                raise ValueError
    except ValueError:
        raise ApiError(400, f"max_hands must be an integer from 1 to 16; got {text['max_hands']!r}") from None
    if text.get("left", "false").lower() not in ("true", "false", "1", "0", ""):
        raise ApiError(400, f"left must be true or false; got {text['left']!r}")
    if text.get("left"):
        options["left"] = text["left"].lower() in ("true", "1")
    return options


def predict_record(
    estimator: HandPoseEstimator, image: np.ndarray, bbox, focal, max_hands: int, left: bool | None
) -> dict:
    """The per-image JSON of `cliphand predict` for an in-memory image, plus the faces. `left`
    sets every hand's side; None leaves it to the detector (a given box: a right hand)."""
    if bbox is None:
        hands = estimator.predict_hands(image, max_hands, focal, is_left=left)
    else:
        hands = [estimator.predict(image, bbox=bbox, is_left=bool(left), focal=focal, detect=False)]
    return {**image_record(image, hands, focal), "faces": estimator.faces_list}


def model_info(pool: ModelPool, checkpoint: str) -> dict:
    """What /api/v1/info answers: read once from the checkpoint (an .onnx file carries its config)."""
    info = {"name": "cliphand", "version": cliphand.__version__, "checkpoint": Path(checkpoint).name,
            "backend": pool.backend, "workers": pool.workers}  # fmt: skip
    if Path(checkpoint).suffix != ".onnx":
        model = load_model_from_checkpoint(checkpoint)
        info["config"] = model.config.name
        info["parameters"] = sum(p.numel() for p in model.parameters())
        info["hand_model"] = model.hand_name
    info["licence"] = "code and shipped weights Apache-2.0; MANO, when used, under its own licence (docs/model_card.md)"
    return info


def _static(name: str) -> str:
    return resources.files("cliphand.serve").joinpath("static", name).read_text()
