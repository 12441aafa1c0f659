"""Training augmentation: geometry (sampled here, applied by geometry.py), colour, blur,
noise, and FreiHAND-style background replacement through the hand mask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from cliphand.data.prompts import COLORS, nearest_color


@dataclass
class AugmentConfig:
    """Ranges of the random training augmentation (all off with `AugmentConfig.none()`)."""

    rotation_deg: float = 30.0  # uniform in +-rotation_deg about the optical axis
    scale: tuple[float, float] = (0.9, 1.1)  # zoom factor of the crop
    shift: float = 0.05  # crop centre jitter, fraction of the crop side
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    blur_prob: float = 0.2
    blur_sigma: float = 1.5
    noise_std: float = 4.0  # max std of Gaussian pixel noise, in 0-255 units
    background_prob: float = 0.8  # chance to replace the background where a mask allows
    backgrounds: str = "mixed"  # "colors", "textures", "clutter", "mixed", or a folder of images
    hue_deg: float = 0.0  # uniform hue rotation in +-hue_deg (skin tones the renderer never made)
    gray_prob: float = 0.0  # chance of a greyscale image (shape cues without colour)
    random_conv_prob: float = 0.0  # chance of a random convolution's texture and colours (random_convolution)

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def sample_geometry(rng: np.random.Generator, cfg: AugmentConfig) -> tuple[float, float, np.ndarray]:
    """Random (rotation in radians, zoom factor, centre shift as a fraction of the side (2,))."""
    theta = np.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    zoom = rng.uniform(*cfg.scale)
    shift = rng.uniform(-cfg.shift, cfg.shift, size=2)
    return float(theta), float(zoom), shift


def color_jitter(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast and saturation of an (H, W, 3) uint8 image."""
    x = image.astype(np.float32)
    x = x * rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    gray = x.mean(-1, keepdims=True)
    x = (x - gray) * rng.uniform(1 - cfg.saturation, 1 + cfg.saturation) + gray
    if cfg.hue_deg > 0:
        x = x @ hue_rotation(np.radians(rng.uniform(-cfg.hue_deg, cfg.hue_deg))).T
    if cfg.gray_prob > 0 and rng.random() < cfg.gray_prob:
        x = np.repeat(x.mean(-1, keepdims=True), 3, axis=-1)
    return np.clip(x, 0, 255).astype(np.uint8)


def hue_rotation(angle: float) -> np.ndarray:
    """(3, 3) RGB matrix that turns colours by `angle` radians about the grey axis (keeps grey grey)."""
    axis = np.full(3, 1 / np.sqrt(3))
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(axis, axis)


def random_convolution(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 seen through a random k x k convolution (k = 1, 3 or 5), blended with the
    original by a random weight: new colours and local textures, the same shapes.

    Random convolutions (Xu et al., ICLR 2021) keep edges and silhouettes while replacing the
    appearance the renderer gave them, so a network cannot lean on the renders' own skin and
    shading. Each output channel is brought back to the input's mean and spread, so the result
    stays an ordinary 8-bit image.
    """
    k = int(rng.choice([1, 3, 5]))
    weights = rng.normal(0, 1 / np.sqrt(3 * k * k), (k, k, 3, 3)).astype(np.float32)  # (dy, dx, in, out)
    x = image.astype(np.float32)
    padded = np.pad(x, ((k // 2, k // 2), (k // 2, k // 2), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += padded[dy : dy + h, dx : dx + w] @ weights[dy, dx]
    mean, std = x.reshape(-1, 3).mean(0), x.reshape(-1, 3).std(0)
    out_mean, out_std = out.reshape(-1, 3).mean(0), out.reshape(-1, 3).std(0)
    out = (out - out_mean) / np.maximum(out_std, 1e-3) * std + mean
    keep = rng.uniform(0, 1)
    return np.clip(keep * x + (1 - keep) * out + 0.5, 0, 255).astype(np.uint8)


def blur_and_noise(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    if cfg.blur_prob > 0 and rng.random() < cfg.blur_prob:
        radius = rng.uniform(0.3, cfg.blur_sigma)
        image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
    if cfg.noise_std > 0:
        noise = rng.normal(0, rng.uniform(0, cfg.noise_std), size=image.shape)
        image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return image


def mean_colour(image: np.ndarray) -> np.ndarray:
    """(3,) mean RGB of an (H, W, 3) image: the same value as image.reshape(-1, 3).mean(0), 15x
    faster (summing whole rows first keeps the inner loop over contiguous memory)."""
    rows = image.reshape(image.shape[0], -1).sum(0, dtype=np.float64)  # (W * 3,)
    return rows.reshape(-1, 3).sum(0) / (image.shape[0] * image.shape[1])


def background_image(size: int, rng: np.random.Generator, kind: str) -> tuple[np.ndarray, str]:
    """A (size, size, 3) background and its Table 1 colour word.

    kind: "colors" (a solid Table 1 colour), "textures" (gradients, stripes, checks or blotches
    in Table 1 colours, named by their mean colour), "fractal" (1/f noise in muted colours: the
    power spectrum of natural images), "clutter" (a room-like jumble of bars, boxes and blobs,
    from a few to hundreds, some textured or skin-coloured, over a texture or fractal noise, with
    photo-like statistics), "photos" (random crops of the public-domain photos and textures that
    scikit-image ships: foliage, gravel, brick, a person, a cat, a rocket), "mixed" (any of
    these, mostly clutter and photos), or a folder of images.
    """
    if kind == "mixed":
        kinds, weights = ["colors", "textures", "fractal", "clutter", "photos"], [0.05, 0.1, 0.15, 0.4, 0.3]
        kind = str(rng.choice(kinds, p=weights))
    if kind == "colors":
        name = str(rng.choice(list(COLORS)))
        return np.full((size, size, 3), COLORS[name], np.uint8), name
    makers = {"textures": _texture, "fractal": fractal_noise_image, "clutter": _clutter, "photos": _photo_crop}
    image = makers[kind](size, rng) if kind in makers else _folder_image(Path(kind), size, rng)
    return image, nearest_color(mean_colour(image))


def replace_background(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, kind: str
) -> tuple[np.ndarray, str]:
    """Composite the hand (mask > 127) over a new background; returns image and colour word."""
    background, name = background_image(image.shape[0], rng, kind)
    if background.shape[:2] != image.shape[:2]:
        background = np.asarray(Image.fromarray(background).resize(image.shape[1::-1]))
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    out = image.astype(np.float32) * alpha + background.astype(np.float32) * (1 - alpha)
    return out.astype(np.uint8), name


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    a, b = (np.array(COLORS[str(n)], np.float32) for n in rng.choice(list(COLORS), size=2, replace=False))
    y, x = _grid(size)
    angle = rng.uniform(0, np.pi)
    along = x * np.float32(np.cos(angle)) + y * np.float32(np.sin(angle))
    pattern = rng.integers(4)
    if pattern == 0:  # gradient (past the colours and clipped at the far corners: floats)
        return (a * (1 - along[..., None]) + b * along[..., None]).clip(0, 255).astype(np.uint8)
    if pattern == 1:  # stripes
        two_tone = np.sin(along * np.float32(rng.uniform(8, 40))) > 0
    elif pattern == 2:  # checks
        cells = rng.integers(3, 12)
        two_tone = (np.floor(x * cells) + np.floor(y * cells)) % 2 == 1
    else:  # smooth blotches: upsampled random grid
        coarse = rng.random((rng.integers(3, 8),) * 2).astype(np.float32)
        blotches = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
        return np.array(_mix(Image.new("RGB", blotches.size, _rgb(a)), _rgb(b), np.asarray(blotches) / 255.0))
    return np.where(two_tone[..., None], b.astype(np.uint8), a.astype(np.uint8))


def _clutter(size: int, rng: np.random.Generator) -> np.ndarray:
    """Dead-leaves clutter: shapes at random depths over a texture, farther ones blurred.

    Photos of hands show rooms, frames, furniture and objects: many edges and occlusions at
    every scale, mostly muted colours. Overlapping opaque shapes with sizes drawn from a power
    law reproduce those statistics far better than flat colours do.
    """
    canvas = Image.fromarray(_texture(size, rng) if rng.random() < 0.5 else fractal_noise_image(size, rng))
    if rng.random() < 0.5:
        canvas = Image.blend(canvas, Image.new("RGB", canvas.size, _muted(rng)), 0.6)
    for layer in range(2):  # a blurred far layer, then a sharp near one
        draw = ImageDraw.Draw(canvas)
        # From a few large objects to hundreds of small ones (foliage, gravel, a desk's clutter).
        count = int(np.exp(rng.uniform(np.log(8), np.log(300))))
        small = 0.6 * min(1.0, 30 / count)
        # Every shape's numbers drawn at once (per-shape draws cost more than the drawing).
        colours = _muted_many(rng, count)
        skin = rng.random(count) < 0.05  # skin-coloured: other people's hands, arms and faces
        skin_tones = _SKIN[rng.integers(len(_SKIN), size=count)] * rng.uniform(0.6, 1.1, (count, 1))
        colours[skin] = skin_tones[skin].astype(int)
        radius = size * small * rng.random(count) ** 2.5 + 2
        centre = rng.uniform(-0.1, 1.1, (count, 2)) * size
        kinds, aspect, angle = rng.integers(4, size=count), rng.uniform(0.3, 1.5, count), rng.uniform(0, np.pi, count)
        corners = rng.uniform(-1, 1, (count, 6, 2)) * radius[:, None, None] + centre[:, None]
        num_corners = rng.integers(3, 7, count)
        length = size * small / 0.6 + 4 * radius  # frames cross the image; twigs and cables are short
        ends = np.stack([np.cos(angle), np.sin(angle)], 1) * length[:, None]
        width = (rng.random(count) * (radius / 3 + 1)).astype(int) + 2
        for k, kind in enumerate(kinds.tolist()):
            colour, (cx, cy), r, a = tuple(colours[k].tolist()), centre[k].tolist(), float(radius[k]), float(aspect[k])
            if kind == 0:  # a bar: frames, table edges, cables
                dx, dy = ends[k].tolist()
                draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=colour, width=int(width[k]))
            elif kind == 1:
                draw.rectangle([cx - r, cy - r * a, cx + r, cy + r], fill=colour)
            elif kind == 2:
                draw.ellipse([cx - r, cy - r * a, cx + r, cy + r], fill=colour)
            else:
                draw.polygon([tuple(q) for q in corners[k, : num_corners[k]].tolist()], fill=colour)
        for _ in range(int(rng.integers(0, 4))):  # objects with a surface texture of their own
            side = int(size * rng.uniform(0.16, 0.6))  # textures only the object's box: 10x cheaper
            x0, y0 = (rng.uniform(-0.5, 1.0, 2) * size).astype(int)
            shape = Image.new("L", (side, side), 0)
            ImageDraw.Draw(shape).ellipse([0, side * rng.uniform(0.0, 0.4), side - 1, side - 1], fill=255)
            surface = _photo_crop(side, rng) if rng.random() < 0.5 else fractal_noise_image(side, rng)
            canvas.paste(Image.fromarray(surface), (int(x0), int(y0)), shape)
        if layer == 0:  # a box blur looks the same here at a third of a Gaussian's cost
            canvas = canvas.filter(ImageFilter.BoxBlur(rng.uniform(0.5, 3.0)))
    shade = _grid(size)[int(rng.integers(2))] - 0.5  # a light falloff across the room
    gain = 1 + rng.uniform(-0.5, 0.5) * shade
    # Surfaces are not flat paint: shading and texture over every shape.
    gain *= 1 + rng.uniform(0.1, 0.5) * (fractal_noise(size, rng, rng.uniform(1.2, 2.2)) - 0.5)
    return (np.asarray(canvas) * gain[..., None]).clip(0, 255).astype(np.uint8)


# Skin tones (RGB 0-255) shared with the synthetic hands; five of them colour distractors in clutter.
SKIN_TONES_RGB = np.array([[244, 208, 177], [231, 188, 145], [224, 172, 134], [198, 145, 104],
                           [174, 121, 83], [141, 92, 60], [110, 70, 45]])  # fmt: skip
_SKIN = SKIN_TONES_RGB[[0, 2, 3, 5, 6]].astype(np.float64)
# Photos and textures inside the scikit-image package that its skimage.data docstrings mark as
# public domain or CC0.
_PHOTOS = ("astronaut.png", "brick.png", "grass.png", "gravel.png",
           "chelsea.png", "coffee.png", "rocket.jpg", "camera.png")  # fmt: skip


@lru_cache(maxsize=1)
def _photos() -> tuple[np.ndarray, ...]:
    from importlib import resources

    try:
        folder = resources.files("skimage") / "data"
    except ModuleNotFoundError as exc:
        raise ImportError("'photos' backgrounds need scikit-image (pip install scikit-image)") from exc
    images = []
    for name in _PHOTOS:
        with Image.open(folder / name) as image:
            images.append(np.asarray(image.convert("RGB")))
    return tuple(images)


def _photo_crop(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8: a random square of a random photo at a random scale, flipped or
    turned, with its colours shifted (so a few photos give many different backgrounds)."""
    photo = _photos()[rng.integers(len(_PHOTOS))]
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.15, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((size, size), Image.Resampling.BILINEAR)
    turns, flip = int(rng.integers(4)), rng.random() < 0.5
    gain = (rng.uniform(0.6, 1.3, 3) * rng.uniform(0.7, 1.2)).astype(np.float32)
    levels = (np.arange(256, dtype=np.float32)[:, None] * gain).clip(0, 255).astype(np.uint8)  # (256, 3)
    crop = np.rot90(np.asarray(crop.point(levels.T.ravel().tolist())), turns)  # the gain as a table per channel
    return np.ascontiguousarray(crop[:, ::-1] if flip else crop)


def fractal_noise(size: int, rng: np.random.Generator, beta: float) -> np.ndarray:
    """(size, size) float32 noise with a 1/f^beta amplitude spectrum, scaled to [0, 1]."""
    # Complex Gaussian coefficients, drawn as (real, imaginary) float32 pairs: complex64 throughout.
    spectrum = rng.standard_normal((size, size // 2 + 1, 2), dtype=np.float32).view(np.complex64)[..., 0]
    spectrum *= np.exp(-beta * _log_frequency(size))  # amplitude 1/f^beta; zero at f = 0
    field = np.fft.irfft2(spectrum, s=(size, size))  # complex64 in, float32 out
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


@lru_cache(maxsize=64)
def _log_frequency(size: int) -> np.ndarray:
    """(size, size // 2 + 1) float32 log radial frequency of an rfft2 grid; +inf at f = 0."""
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None]
    with np.errstate(divide="ignore"):
        log_radius = 0.5 * np.log(fx**2 + fy**2)
    log_radius[0, 0] = np.inf
    return log_radius.astype(np.float32)


def fractal_noise_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) uint8: two to three muted colours mixed by fractal noise fields (photos'
    1/f statistics: detail at every scale, mostly in the large structures)."""
    beta = rng.uniform(1.6, 2.6)  # ~2 for natural images; smaller is busier
    colours = [_muted(rng) for _ in range(3)]
    image = _mix(Image.new("RGB", (size, size), colours[0]), colours[1], fractal_noise(size, rng, beta))
    if rng.random() < 0.5:  # a third colour in the high values of a second field: patches
        image = _mix(image, colours[2], fractal_noise(size, rng, beta) ** 3)
    return np.array(image)


def _mix(image: Image.Image, colour: tuple[int, int, int], weight: np.ndarray) -> Image.Image:
    """image * (1 - weight) + colour * weight for an (H, W) weight in [0, 1]: PIL blends 8-bit
    weights several times faster than numpy does in float."""
    mask = Image.fromarray((np.clip(weight, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
    return Image.composite(Image.new("RGB", image.size, colour), image, mask)


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in colour)
    return r, g, b


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    """A colour as rooms have them: mostly greys and desaturated tones, sometimes vivid."""
    return tuple(_muted_many(rng, 1)[0].tolist())


def _muted_many(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) int colours, each as _muted draws them."""
    grey = rng.uniform(20, 235, (count, 1))
    tint = rng.uniform(-1, 1, (count, 3)) * np.where(rng.random((count, 1)) < 0.2, 120, 35)
    return np.clip(grey + tint, 0, 255).astype(int)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return y, x


_FOLDER_CACHE: dict[Path, list[Path]] = {}


def _folder_image(folder: Path, size: int, rng: np.random.Generator) -> np.ndarray:
    if folder not in _FOLDER_CACHE:
        files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
        if not files:
            raise FileNotFoundError(f"no background images (.jpg/.png) in {folder}")
        _FOLDER_CACHE[folder] = files
    path = _FOLDER_CACHE[folder][rng.integers(len(_FOLDER_CACHE[folder]))]
    with Image.open(path) as img:
        img = img.convert("RGB")
        side = min(img.size)
        left, top = rng.integers(img.size[0] - side + 1), rng.integers(img.size[1] - side + 1)
        patch = np.asarray(img.crop((left, top, left + side, top + side)).resize((size, size)))
    return patch
