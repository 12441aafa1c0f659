"""Sample and render one synthetic hand image.

Every sample is a function of (seed, index) alone, so output does not depend on how work is
split across processes. Poses come from the 19 gesture templates (with small jitter),
interpolations between two templates, a grasp synergy skewed toward open hands (poses.py),
or random articulation within the joint limits; the
global rotation, distance and focal length vary around FreiHAND's; skin tone and lighting
vary; backgrounds are Table 1 colours, textures or the user's images; occluders, motion blur
and sensor noise add realism.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from cliphand.data.augment import SKIN_TONES_RGB, background_image, fractal_noise, fractal_noise_image
from cliphand.data.geometry import project
from cliphand.data.prompts import make_prompt
from cliphand.hand.gestures import FRONTAL_VIEW, GESTURES, classify_gesture, gesture_angles, gesture_templates
from cliphand.hand.model import HandModel
from cliphand.hand.pose import angles_to_axis_angle
from cliphand.hand.skeleton import matrix_to_axis_angle
from cliphand.render.raster import (
    Rendering,
    composite,
    light_visibility,
    merge_in_depth,
    render_mesh,
    vertex_normals,
)
from cliphand.synth.poses import natural_angles
from cliphand.synth.skin import palm_and_nails, skin_folds
from cliphand.synth.views import PhotoViews, random_rotation

SKIN_TONES = SKIN_TONES_RGB / 255.0


@dataclass
class SynthConfig:
    """What the generator varies, and how much."""

    size: int = 224
    backgrounds: str = "mixed"  # "colors", "textures", "mixed" or a folder of images
    # Pose sources. Most hands in photos are relaxed or grasping, not signing, and the gesture
    # templates' mean hand is 16 mm per joint from real hands' (bench/pose_prior.py), so
    # natural poses get 60 % (45 % in cliphand 0.5).
    template_prob: float = 0.2  # pose = a gesture template (+ jitter)
    interpolation_prob: float = 0.1  # pose = a blend of two templates
    natural_prob: float = 0.6  # pose = a grasp synergy (synth/poses.py); else random articulation
    jitter_deg: float = 6.0
    focal: tuple[float, float] = (420.0, 650.0)  # FreiHAND's crops have fx ~ 450-600 px at 224
    # Projected hand box side / image side: from whole-image crops of FreiHAND's evaluation
    # photos (their joints span 31-43 % of the image) to a detector's tight boxes.
    fill: tuple[float, float] = (0.3, 0.9)
    view_spread_deg: float = 180.0  # 180: any orientation; smaller: within this angle of palm-to-camera, fingers up
    # With any orientation allowed: the chance that a hand faces the camera as hands in photos do
    # (synth/views.py), else a uniformly random orientation. Off by default: a model trained with
    # half of its views so drawn was no better on real photos (docs/training.md).
    photo_view_prob: float = 0.0
    shape_std: float = 1.0
    forearm_prob: float = 0.9  # a forearm leaving the frame, as cameras see hands (else a capped wrist)
    sleeve_prob: float = 0.4  # of those: a sleeve, cuff or wristband in a cloth colour
    occluder_prob: float = 0.25
    # Another hand behind the labelled one (someone else's, or the other hand, mirrored): photos
    # have them, and a network that never saw two hands takes any skin blob for the hand.
    distractor_prob: float = 0.15
    # A ball, a bottle or a box between palm and curled fingers, depth-tested with the hand, when
    # the pose can hold one: photos show hands holding things more often than empty.
    object_prob: float = 0.3
    motion_blur_prob: float = 0.15
    defocus_prob: float = 0.2
    light_tint: float = 0.08  # light colour: per-channel gain on the hand of up to +-8%
    specular: tuple[float, float] = (0.0, 0.25)  # strength of skin's highlights (Blinn-Phong)
    skin_texture: float = 0.12  # amplitude of fine albedo variation over the hand (pores, blotches)
    skin_folds: float = 0.35  # how much darker the skin's creases and knuckle wrinkles get at most
    # The share of the key light that the hand's shadows on itself take away at most (fingers
    # over the palm, the thumb across the fingers); 0 draws nothing, so older images come back.
    # Off by default: a model trained on 0.7 was no closer to MediaPipe on real photos (docs/training.md).
    shadows: float = 0.0
    white_balance: float = 0.1  # camera white balance: per-channel gain on the frame of up to +-10%
    exposure: tuple[float, float] = (0.75, 1.25)  # overall gain
    tone: tuple[float, float] = (0.8, 1.25)  # gamma of the camera's tone curve
    noise_std: tuple[float, float] = (0.0, 4.0)
    jpeg_quality: tuple[int, int] = (75, 95)
    supersample: int = 1  # 2 = supersampled edges at about half the speed
    optical_blur: float = 0.5  # box-blur radius (px) over the whole frame: lens softness, smooths edges
    max_tries: int = 20


@dataclass
class SynthSample:
    image: np.ndarray  # (S, S, 3) uint8
    mask: np.ndarray  # (S, S) uint8, 255 on the visible hand
    K: np.ndarray  # (3, 3)
    joints_3d: np.ndarray  # (21, 3) camera frame, metres
    vertices: np.ndarray  # (N, 3)
    pose: np.ndarray  # (48,) axis-angle incl. global rotation, the hand model's convention
    shape: np.ndarray  # (S,)
    trans: np.ndarray  # (3,)
    gesture: int
    pose_source: str  # "template", "interpolation", "natural" or "random"
    held_object: str  # "sphere", "cylinder", "box" or "" (none)
    distractor: bool  # another hand is drawn behind this one
    background: str
    prompt: str
    jpeg_quality: int


class Generator:
    """Samples and renders synthetic hands with one hand model."""

    def __init__(self, model: HandModel, config: SynthConfig | None = None, seed: int = 0) -> None:
        self.model = model.eval()
        self.config = config or SynthConfig()
        self.seed = seed
        self.templates = gesture_templates(model).numpy()
        self.template_angles = torch.stack([gesture_angles(g) for g in GESTURES]).numpy()
        self.faces, self.cap_ring = capped_faces(model.faces.numpy(), model.num_vertices)
        self.arm = Forearm(model.faces.numpy(), model.num_vertices)
        self.limits = np.radians(model.limits_deg.numpy())  # (16, 3, 2)
        side = 2 * self.config.size
        self.grain = np.random.default_rng([seed]).standard_normal((side, side, 3), dtype=np.float32)
        self.skin_field = fractal_noise(side, np.random.default_rng([seed, 2**32 - 1]), 1.0) - 0.5
        self.palm, self.nails = palm_and_nails(model)
        self.folds = skin_folds(model)
        self.primitives = _primitives()

    @cached_property
    def photo_views(self) -> PhotoViews:
        """Views as in photos (SynthConfig.photo_view_prob), built on first use: the mean hand's rest joints."""
        return PhotoViews(self._posed_hand(np.zeros((16, 3)), np.eye(3), mean_shape=True)[3])

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def sample(self, index: int) -> SynthSample:
        """Sample `index`, resampling pose and camera until the whole hand is in view."""
        rng = self.rng(index)
        for _ in range(self.config.max_tries):
            sample = self._try(rng)
            if sample is not None:
                return sample
        raise RuntimeError(f"sample {index}: no pose/camera put the hand in view after {self.config.max_tries} tries")

    def prior_joints(self, draws: int, seed: int = 0) -> np.ndarray:
        """(draws, 21, 3) joints of the mean-shaped hand in poses drawn as samples draw them (no
        camera, no image): what the generator teaches a network about hand poses."""
        rng = np.random.default_rng(seed)
        angles = torch.as_tensor(np.stack([self.articulation(rng)[0] for _ in range(draws)]), dtype=torch.float32)
        pose = angles_to_axis_angle(angles, self.model.frames).reshape(draws, 48)
        pose[:, 3:] -= self.model.pose_mean
        with torch.no_grad():
            return self.model(pose)[1].numpy().astype(np.float64)

    def articulation(self, rng: np.random.Generator) -> tuple[np.ndarray, int, str]:
        """(16, 3) anatomical angles, the gesture label and where the pose came from."""
        cfg = self.config
        r = rng.random()
        if r < cfg.template_prob:
            g = int(rng.integers(len(GESTURES)))
            angles = self.template_angles[g] + np.radians(rng.normal(0, cfg.jitter_deg, (16, 3)))
            source = "template"
        elif r < cfg.template_prob + cfg.interpolation_prob:
            a, b = rng.choice(len(GESTURES), 2, replace=False)
            t = rng.uniform(0.15, 0.85)
            angles = (1 - t) * self.template_angles[a] + t * self.template_angles[b]
            g, source = int(a if t < 0.5 else b), "interpolation"
        elif r < cfg.template_prob + cfg.interpolation_prob + cfg.natural_prob:
            angles, g, source = natural_angles(rng), -1, "natural"
        else:
            lo, hi = self.limits[..., 0], self.limits[..., 1]
            # Natural hands sit mostly in the flexion half of the range, with modest spread.
            angles = rng.uniform(lo * np.array([0.3, 0.5, 0.3]), hi * np.array([0.8, 0.5, 0.3]))
            g, source = -1, "random"
        angles[0] = 0.0
        return np.clip(angles, self.limits[..., 0], self.limits[..., 1]), g, source

    def _try(self, rng: np.random.Generator) -> SynthSample | None:
        cfg, size = self.config, self.config.size
        angles, gesture, source = self.articulation(rng)
        frames = self.model.frames
        # Global orientation: uniformly random (view_spread_deg >= 180), or a random turn of at
        # most view_spread_deg away from a frontal view (palm to the camera, fingers up).
        # With photo_view_prob, that share of the any-orientation hands face the camera as in photos.
        if cfg.view_spread_deg >= 180 and cfg.photo_view_prob > 0 and rng.random() < cfg.photo_view_prob:
            hand_to_cam = self.photo_views.draw(rng)
        elif cfg.view_spread_deg >= 180:
            hand_to_cam = random_rotation(rng) @ frames[0].numpy().T  # model frame -> hand frame -> camera
        else:
            axis = rng.standard_normal(3)
            angle = np.radians(cfg.view_spread_deg) * rng.random() ** 0.5
            global_rot = _axis_angle_matrix(axis / np.linalg.norm(axis) * angle) @ FRONTAL_VIEW
            hand_to_cam = global_rot @ frames[0].numpy().T
        if (hand_to_cam @ frames[0].numpy()[:, 1])[2] > 0.6:  # fingers pointing straight away
            return None
        pose, shape, verts, joints = self._posed_hand(angles, hand_to_cam, rng)

        focal = rng.uniform(*cfg.focal)
        centre = (size - 1) / 2 + rng.normal(0, 2.0, 2)
        K = np.array([[focal, 0, centre[0]], [0, focal * rng.uniform(0.98, 1.02), centre[1]], [0, 0, 1.0]])
        # Distance so the projected hand fills a chosen fraction of the image; then shift it so
        # its projected box is centred, up to a jitter that the remaining margin allows.
        extent = np.ptp(verts[:, :2], axis=0).max()
        fill = rng.uniform(*cfg.fill)
        depth = focal * extent / (fill * size)
        offset = np.array([0.0, 0.0, depth]) - verts.mean(0)
        uv = project(verts + offset, K)
        target = K[:2, 2] + rng.uniform(-1, 1, 2) * (1 - fill) * size / 3
        offset[:2] += (target - (uv.min(0) + uv.max(0)) / 2) * depth / focal
        verts, joints = verts + offset, joints + offset
        uv = project(verts, K)
        if not (np.isfinite(uv).all() and (uv > 1).all() and (uv < size - 2).all()):
            return None  # part of the hand out of view: resample
        trans = offset.copy()

        if rng.random() < cfg.forearm_prob:
            scene, faces = self.arm.attach(verts, joints, rng)
        else:
            scene, faces = np.concatenate([verts, verts[self.cap_ring].mean(0, keepdims=True)]), self.faces
        lit = self._coloured(scene, faces, len(verts), rng)
        rendering = render_mesh(scene, faces, K, size, size, lit, ambient=1.0, diffuse=0.0, supersample=cfg.supersample)
        if cfg.skin_texture > 0:  # fine albedo variation: a random window of a fixed fractal field
            y, x = rng.integers(0, self.skin_field.shape[0] - size, 2)
            amplitude = cfg.skin_texture * rng.uniform(0.3, 1.0)
            y0, y1, x0, x1 = rendering.window  # the hand's box: nothing outside it is drawn
            rendering.color[y0:y1, x0:x1] *= 1 + amplitude * self.skin_field[y + y0 : y + y1, x + x0 : x + x1, None]
        background, bg_name = background_image(size, rng, cfg.backgrounds)
        # Streams of their own (spawning draws nothing from rng): switching either on or off
        # changes no other draw of the sample.
        distractor_rng, object_rng = rng.spawn(2)
        distractor = bool(distractor_rng.random() < cfg.distractor_prob)
        if distractor:
            background = self._distractor(background, K, distractor_rng)
        mask, held_kind = rendering.mask, ""
        if object_rng.random() < cfg.object_prob:
            held_kind, held = self._held_object(joints, K, object_rng)
            if held is not None:
                rendering, in_front = merge_in_depth(rendering, held)
                mask[in_front] = 0  # the hand behind the object is not seen
        image = composite(background, rendering)
        if cfg.optical_blur > 0:
            image = _box_blur(image, cfg.optical_blur)
        if rng.random() < cfg.occluder_prob:
            image, mask = self._occlude(image, mask, project(joints, K), rng)
        if rng.random() < cfg.motion_blur_prob:
            image = _motion_blur(image, rng)
        if rng.random() < cfg.defocus_prob:
            image = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.8))))
        image = _camera_response(image, rng, cfg.white_balance, cfg.exposure, cfg.tone)
        noise = rng.uniform(*cfg.noise_std)
        if noise > 0:  # a random window of a fixed noise field: much cheaper than fresh normals
            y, x = rng.integers(0, self.grain.shape[0] - size, 2)
            image = np.clip(image + noise * self.grain[y : y + size, x : x + size], 0, 255).astype(np.uint8)
        if gesture < 0:
            gesture = int(classify_gesture(joints[None], self.templates)[0][0])
        return SynthSample(
            image=image,
            mask=mask,
            K=K,
            joints_3d=joints,
            vertices=verts,
            pose=pose[0].numpy().astype(np.float64),
            shape=shape.numpy().astype(np.float64),
            trans=trans,
            gesture=gesture,
            pose_source=source,
            held_object=held_kind,
            distractor=distractor,
            background=bg_name,
            prompt=make_prompt(gesture, bg_name),
            jpeg_quality=int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)),
        )

    def _posed_hand(
        self,
        angles: np.ndarray,
        hand_to_cam: np.ndarray,
        rng: np.random.Generator | None = None,
        mean_shape: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        """The hand model's pose (1, 48) and a random shape (S,) (the mean one with mean_shape) for
        anatomical angles (16, 3) and a hand-to-camera rotation (3, 3); vertices (N, 3) and
        joints (21, 3) at the origin."""
        frames = self.model.frames
        pose = angles_to_axis_angle(torch.as_tensor(angles, dtype=frames.dtype), frames).reshape(1, 48)
        pose[:, 3:] -= self.model.pose_mean
        pose[0, :3] = matrix_to_axis_angle(torch.as_tensor(hand_to_cam, dtype=pose.dtype))
        if mean_shape:
            shape = torch.zeros(self.model.num_shape, dtype=pose.dtype)
        else:
            shape = torch.as_tensor(
                np.clip(rng.normal(0, self.config.shape_std, self.model.num_shape), -2.5, 2.5), dtype=pose.dtype
            )
        with torch.inference_mode():  # cheaper than no_grad for one small hand (2.0 against 2.9 ms)
            verts, joints = self.model(pose, shape[None])
        return pose, shape, verts[0].numpy().astype(np.float64), joints[0].numpy().astype(np.float64)

    def _distractor(self, background: np.ndarray, K: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Render another hand with its forearm over the background: any pose, orientation, size
        and place (partly out of frame is fine), half of them mirrored into a left hand, a little
        out of focus since it is farther away."""
        size = background.shape[0]
        angles = self.articulation(rng)[0]
        _, _, verts, joints = self._posed_hand(angles, random_rotation(rng) @ self.model.frames[0].numpy().T, rng)
        scene, faces = self.arm.attach(verts, joints, rng)
        extent = np.ptp(verts[:, :2], axis=0).max()
        depth = K[0, 0] * extent / (rng.uniform(0.3, 1.0) * size)
        target = (rng.uniform(-0.1, 1.1, 2) * size - K[:2, 2]) * depth / K[0, 0]  # where its centre lands
        scene = scene + np.array([target[0], target[1], depth]) - verts.mean(0)
        scene[:, 2] = np.maximum(scene[:, 2], 0.05)
        if rng.random() < 0.5:  # the other hand: mirror it across its own vertical plane
            scene[:, 0] = 2 * scene[: len(verts), 0].mean() - scene[:, 0]
            faces = faces[:, ::-1]  # mirroring flips the winding; keep the outside facing out
        lit = self._coloured(scene, faces, len(verts), rng)
        # Rendered at half size and upsampled: it is soft anyway, and it costs a quarter of the pixels.
        half = K.copy()
        half[:2] *= 0.5
        half[:2, 2] -= 0.25  # pixel centres: u_half = (u + 0.5) / 2 - 0.5
        rendering = render_mesh(scene, faces, half, size // 2, size // 2, lit, ambient=1.0, diffuse=0.0, supersample=1)
        planes = [rendering.color[..., c] * rendering.alpha for c in range(3)] + [rendering.alpha]
        up = [_upsample(x, size) for x in planes]
        alpha = up[3][..., None]
        image = background * (1 - alpha) + 255 * np.stack(up[:3], -1)  # premultiplied: no dark fringe
        image = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8))
        return np.asarray(image.filter(ImageFilter.BoxBlur(rng.uniform(0.0, 2.0))))

    def _held_object(self, joints: np.ndarray, K: np.ndarray, rng: np.random.Generator) -> tuple[str, Rendering | None]:
        """A sphere, cylinder or box in the grip, between the palm and the curled fingertips and
        touching both: its kind and rendering; ("", None) when the fingers do not curl (a flat
        hand holds nothing) or it would reach behind the camera."""
        palm = joints[[0, 5, 9, 13, 17]].mean(0)
        normal = np.cross(joints[5] - joints[0], joints[17] - joints[0])
        normal /= np.linalg.norm(normal)
        reach = joints[[8, 12, 16, 20]].mean(0) - palm
        lift = reach @ normal  # how far the fingertips curl off the palm's plane
        if abs(lift) < 0.02:
            return "", None
        normal *= np.sign(lift)
        radius = np.clip(abs(lift) / 2 * rng.uniform(0.8, 1.1), 0.012, 0.045)
        centre = palm + normal * (radius + 0.01) + 0.5 * (reach - (reach @ normal) * normal)
        across = joints[17] - joints[5]  # knuckle line: what a closed hand grips along
        across -= (across @ normal) * normal
        across /= np.linalg.norm(across)
        kind = ("sphere", "cylinder", "box")[int(rng.integers(3))]
        verts, faces = self.primitives[kind]
        length = rng.uniform(0.06, 0.22)
        scale = np.full(3, radius) if kind == "sphere" else np.array([radius, radius * rng.uniform(0.5, 1.2), length])
        basis = np.column_stack([normal, np.cross(across, normal), across])  # local z along the grip
        tilt = _axis_angle_matrix(rng.normal(0, 0.25, 3))
        scene = centre + (verts * scale) @ (tilt @ basis).T
        if (scene[:, 2] < 0.05).any():
            return "", None
        albedo = np.broadcast_to(rng.uniform(0.05, 0.95, 3) * rng.uniform(0.4, 1.0), scene.shape)
        lit = self._shade(scene, faces, albedo, rng)
        size = self.config.size
        return kind, render_mesh(
            scene, faces, K, size, size, lit, ambient=1.0, diffuse=0.0, supersample=self.config.supersample
        )

    def _coloured(self, scene: np.ndarray, faces: np.ndarray, num_hand: int, rng: np.random.Generator) -> np.ndarray:
        """(N, 3) lit vertex colours of a hand (its first num_hand vertices) and its forearm or
        wrist cap: skin, a sleeve on some forearms, and the lighting baked in."""
        albedo = self._skin(scene, num_hand, rng)
        if len(scene) > num_hand + 1 and rng.random() < self.config.sleeve_prob:  # a forearm, not a cap
            albedo = self.arm.dress(albedo, num_hand, rng)
        return self._shade(scene, faces, albedo, rng, hand_first=True)

    def _skin(self, verts: np.ndarray, num_hand: int, rng: np.random.Generator) -> np.ndarray:
        """(N, 3) albedo: a skin tone with smooth low-frequency variation over the hand, lighter
        palms (most visible on darker skin), pinker, lighter nails and darker skin folds."""
        base = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.08)
        directions = rng.normal(size=(3, 3))
        variation = np.sin(verts @ directions.T * rng.uniform(30, 90) + rng.uniform(0, 6.3, 3)).sum(1)
        albedo = np.clip(base[None] * (1 + 0.04 * variation[:, None]), 0, 1)
        palm_tone = base + (np.array([0.93, 0.78, 0.70]) - base) * rng.uniform(0.15, 0.5)
        nail_tone = base + (np.array([0.95, 0.80, 0.80]) - base) * rng.uniform(0.3, 0.7)
        hand = albedo[:num_hand]
        hand += self.palm[:, None] * (palm_tone - hand)
        hand += self.nails[:, None] * (nail_tone - hand)
        if self.config.skin_folds > 0:  # drawn only when on: with folds off, older images come back
            depth = rng.uniform(0.3, 1.0) * self.config.skin_folds
            hand *= 1 - depth * self.folds[:, None] * FOLD_TINT
        return albedo

    def _shade(
        self,
        verts: np.ndarray,
        faces: np.ndarray,
        albedo: np.ndarray,
        rng: np.random.Generator,
        hand_first: bool = False,
    ) -> np.ndarray:
        """(N, 3) lit colours: a key light and a fill light with wrapped diffuse (skin scatters
        light past the terminator, so silhouettes are not dark outlines), a sky/ground ambient term,
        and a white Blinn-Phong highlight. Lights come from the camera's side of the hand. With
        SynthConfig.shadows and hand_first (verts begin with the hand model's vertices), the hand
        shadows itself from the key light."""
        cfg = self.config
        normals = vertex_normals(verts, faces)
        view = -verts / np.linalg.norm(verts, axis=1, keepdims=True)
        key, fill = _towards_camera(rng, 1.1), _towards_camera(rng, 1.5)
        key_colour = rng.uniform(1 - cfg.light_tint, 1 + cfg.light_tint, 3)
        fill_colour = rng.uniform(1 - 2 * cfg.light_tint, 1 + 2 * cfg.light_tint, 3)
        wrap = rng.uniform(0.2, 0.6)
        key_diffuse, fill_diffuse = (np.clip((normals @ d + wrap) / (1 + wrap), 0, None)[:, None] for d in (key, fill))
        up = np.array([0.0, -1.0, 0.0])  # camera y points down
        sky = 0.75 + 0.25 * (normals @ up)[:, None]
        ambient, k_key, k_fill = rng.uniform(0.15, 0.4), rng.uniform(0.5, 0.9), rng.uniform(0.0, 0.4)
        half = key + view
        half /= np.linalg.norm(half, axis=1, keepdims=True)
        shine = np.clip((normals * half).sum(1), 0, None) ** rng.uniform(8, 40)
        highlight = rng.uniform(*cfg.specular) * shine[:, None] * key_colour
        if cfg.shadows > 0 and hand_first:
            shadow = self._key_shadow(verts, normals, key, rng)
            key_diffuse, highlight = key_diffuse * shadow, highlight * shadow
        light = ambient * sky + k_key * key_diffuse * key_colour + k_fill * fill_diffuse * fill_colour
        return albedo * light + highlight

    def _key_shadow(
        self, verts: np.ndarray, normals: np.ndarray, key: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """(N, 1) share of the key light left where the hand (the first vertices) shadows itself."""
        hand = self.model.num_vertices
        visible = np.ones(len(verts))
        # Surfaces turned from the light are dark by the diffuse term already: shadowing them
        # too would draw the terminator as a dark line.
        facing = np.flatnonzero(normals[:hand] @ key > 0)
        visible[facing] = light_visibility(verts[:hand], self.model.faces.numpy(), key)[facing]
        return (1 - rng.uniform(0.5, 1.0) * self.config.shadows * (1 - visible))[:, None]

    def _occlude(self, image, mask, joints_2d, rng) -> tuple[np.ndarray, np.ndarray]:
        """Draw an ellipse or box over part of the hand; the mask keeps only visible hand."""
        size = image.shape[0]
        centre = joints_2d[rng.integers(21)] + rng.normal(0, 8, 2)
        radius = rng.uniform(0.06, 0.18, 2) * size
        box = [*(centre - radius), *(centre + radius)]
        occ = Image.new("L", (size, size), 0)
        (ImageDraw.Draw(occ).ellipse if rng.random() < 0.5 else ImageDraw.Draw(occ).rectangle)(box, fill=255)
        covered = np.asarray(occ) > 0
        if occ.getbbox() is None:  # entirely outside the frame
            return image, mask
        x0, y0, x1, y1 = occ.getbbox()
        # An object, not a flat sticker: a fractal-textured surface, shaded across its extent
        # (made only over the object's box).
        surface = fractal_noise_image(max(x1 - x0, y1 - y0), rng)[: y1 - y0, : x1 - x0].astype(np.float32)
        y, x = np.mgrid[y0:y1, x0:x1]
        direction = rng.normal(size=2)
        ramp = ((x - centre[0]) * direction[0] + (y - centre[1]) * direction[1]) / (np.linalg.norm(direction) * size)
        surface *= (1 + rng.uniform(0.5, 1.5) * ramp)[..., None]
        out = image.copy()
        inside = covered[y0:y1, x0:x1]
        out[y0:y1, x0:x1][inside] = surface[inside].clip(0, 255).astype(np.uint8)
        return out, np.where(covered, 0, mask).astype(np.uint8)


def _towards_camera(rng: np.random.Generator, spread: float) -> np.ndarray:
    """A unit vector from the scene towards the camera's side, up to `spread` radians off axis."""
    theta, phi = rng.uniform(0, 2 * math.pi), rng.uniform(0, spread)
    return np.array([math.sin(phi) * math.cos(theta), math.sin(phi) * math.sin(theta), -math.cos(phi)])


def _upsample(plane: np.ndarray, size: int) -> np.ndarray:
    """(h, w) float -> (size, size) float32, bilinear."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize((size, size), Image.Resampling.BILINEAR))


def _primitives() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unit meshes (vertices (V, 3), faces (F, 3), outward counter-clockwise) of held objects:
    a sphere of radius 1, and a cylinder and a box of half-width 1 and length 1 along z."""
    import trimesh

    box = trimesh.creation.box(extents=(2.0, 2.0, 1.0)).subdivide().subdivide()
    meshes = {"sphere": trimesh.creation.icosphere(subdivisions=2),
              "cylinder": trimesh.creation.cylinder(radius=1.0, height=1.0, sections=24), "box": box}  # fmt: skip
    return {name: (np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)) for name, m in meshes.items()}


def _axis_angle_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula for one (3,) rotation vector."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = rotvec / angle
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def boundary_edges(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """(E, 2) half-edges a -> b that belong to one face only: the rims of the mesh's openings."""
    half_edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    lo, hi = np.minimum(half_edges[:, 0], half_edges[:, 1]), np.maximum(half_edges[:, 0], half_edges[:, 1])
    key = lo * num_vertices + hi
    unique, counts = np.unique(key, return_counts=True)
    return half_edges[np.isin(key, unique[counts == 1])]


def capped_faces(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces plus a fan that closes the mesh's openings (the wrist) at an extra vertex with
    index num_vertices, and the ids of the vertices on the opening. Without the cap a camera
    looking into the wrist would see through the hand."""
    boundary = boundary_edges(faces, num_vertices)
    # A boundary half-edge a -> b gets the cap face (b, a, centre): same orientation as the mesh.
    cap = np.column_stack([boundary[:, 1], boundary[:, 0], np.full(len(boundary), num_vertices)])
    return np.concatenate([faces, cap]), np.unique(boundary)


class Forearm:
    """A tube extruded from the mesh's wrist opening along the forearm, widening towards the
    elbow and long enough to leave the frame. Ring k of the tube is the wrist ring moved
    ARM_LEVELS[k] metres along the arm and scaled by the arm's taper."""

    ARM_LEVELS = np.array([0.0, 0.012, 0.025, 0.04, 0.06, 0.09, 0.13, 0.18, 0.25, 0.34])

    def __init__(self, faces: np.ndarray, num_vertices: int) -> None:
        edges = boundary_edges(faces, num_vertices)  # (R, 2) a -> b around the wrist opening
        self.ring = np.unique(edges)
        r, levels = len(self.ring), len(self.ARM_LEVELS) - 1
        position = np.zeros(num_vertices, np.int64)
        position[self.ring] = np.arange(r)
        a, b = position[edges[:, 0]], position[edges[:, 1]]
        # ids[k, i]: vertex id of ring position i at level k (level 0 is the mesh's own ring).
        ids = np.concatenate([self.ring[None], num_vertices + np.arange(levels * r).reshape(levels, r)])
        tube = []
        for k in range(levels):  # same orientation as the wrist cap (b, a, centre): outward normals
            tube += [np.column_stack([ids[k, b], ids[k, a], ids[k + 1, a]])]
            tube += [np.column_stack([ids[k, b], ids[k + 1, a], ids[k + 1, b]])]
        end = np.full(len(a), num_vertices + levels * r)  # the far end's centre closes the tube
        tube.append(np.column_stack([ids[-1, b], ids[-1, a], end]))
        self.faces = np.concatenate([faces, *tube])
        self.level_of = np.repeat(np.arange(1, levels + 1), r)  # level of each new ring vertex

    def attach(self, verts: np.ndarray, joints: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """verts (N, 3), joints (21, 3) in the camera frame -> scene vertices (N + L*R + 1, 3) and faces."""
        centre = verts[self.ring].mean(0)
        axis = joints[0] - joints[9]  # middle-finger knuckle to wrist: the forearm continues the palm
        axis /= np.linalg.norm(axis)
        bend = rng.standard_normal(3)  # the wrist bends: up to ~35 degrees off the palm's axis
        bend -= bend.dot(axis) * axis
        axis = _axis_angle_matrix(bend / max(np.linalg.norm(bend), 1e-9) * np.radians(rng.uniform(0, 35))) @ axis
        offsets = verts[self.ring] - centre
        offsets -= np.outer(offsets @ axis, axis)  # rings perpendicular to the arm
        thickness, taper = rng.uniform(0.95, 1.2), rng.uniform(0.25, 0.6)
        rings = []
        for d in self.ARM_LEVELS[1:]:
            rings.append(centre + d * axis + offsets * thickness * (1 + taper * min(d, 0.2) / 0.2))
        arm = np.concatenate(rings)
        arm = np.concatenate([arm, arm[-len(self.ring) :].mean(0, keepdims=True)])
        # Keep the arm in front of the camera: pull rings that would pass behind it back along the axis.
        arm[:, 2] = np.maximum(arm[:, 2], 0.05)
        return np.concatenate([verts, arm]), self.faces

    def dress(self, colors: np.ndarray, num_hand: int, rng: np.random.Generator) -> np.ndarray:
        """Colour the arm from some level on in one cloth colour (a sleeve), or one band (a wristband)."""
        cloth = rng.uniform(0.05, 0.95, 3) * rng.uniform(0.4, 1.0)
        levels = np.append(self.level_of, self.level_of[-1])
        if rng.random() < 0.6:
            covered = levels >= rng.integers(2, 7)
        else:
            start = int(rng.integers(1, 4))
            covered = (levels >= start) & (levels <= start + 1)
        colors = colors.copy()
        colors[num_hand:][covered] = cloth
        return colors


def _camera_response(
    image: np.ndarray,
    rng: np.random.Generator,
    white_balance: float,
    exposure: tuple[float, float],
    tone: tuple[float, float],
) -> np.ndarray:
    """White balance, exposure and a tone curve: what differs between two cameras' photos."""
    gain = rng.uniform(1 - white_balance, 1 + white_balance, 3) * rng.uniform(*exposure)
    gamma = rng.uniform(*tone)
    # A per-channel lookup table: the curve at 256 levels instead of 150,000 pixels.
    levels = (np.clip(np.arange(256)[:, None] / 255.0 * gain, 0, 1) ** gamma * 255 + 0.5).astype(np.uint8)
    return levels.T.ravel()[image + np.array([0, 256, 512], np.uint16)]  # channel c reads row c of the table


def _box_blur(image: np.ndarray, radius: float) -> np.ndarray:
    """(H, W, 3) uint8 box blur as PIL's ImageFilter.BoxBlur (edges extended). Radius 0.5 (the
    default lens softness) is the binomial filter [1, 2, 1] / 4 on each axis, which integer
    arithmetic does 4x faster than PIL (the two differ by at most 1 level in rounding)."""
    if radius != 0.5:
        return np.asarray(Image.fromarray(image).filter(ImageFilter.BoxBlur(radius)))
    x = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge").astype(np.uint16)
    x = x[:-2] + 2 * x[1:-1] + x[2:]
    x = x[:, :-2] + 2 * x[:, 1:-1] + x[:, 2:]
    return ((x + 8) >> 4).astype(np.uint8)


def _motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Average of copies shifted along a random direction (a linear motion kernel)."""
    length = int(rng.integers(3, 9))
    angle = rng.uniform(0, math.pi)
    dx, dy = math.cos(angle), math.sin(angle)
    acc = np.zeros(image.shape, np.float32)
    for k in range(length):
        t = k - (length - 1) / 2
        acc += np.roll(image, (round(t * dy), round(t * dx)), axis=(0, 1))
    return (acc / length).astype(np.uint8)


FOLD_TINT = np.array([0.8, 1.0, 1.0])
"""A fold darkens green and blue more than red: creases look red-brown, not grey."""


def heldout_config() -> SynthConfig:
    """The held-out benchmark images' settings (seed 987): cliphand 0.3.0's pose mix, before the
    grasp synergy, and none of the later additions (held objects, distractor hands, skin folds,
    shadows), so released figures stay comparable across generator changes."""
    return SynthConfig(
        template_prob=0.5,
        interpolation_prob=0.25,
        natural_prob=0.0,
        distractor_prob=0.0,
        object_prob=0.0,
        skin_folds=0.0,
        shadows=0.0,
    )
