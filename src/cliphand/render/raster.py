"""A numpy triangle rasteriser: pinhole camera, z-buffer, per-vertex colours, Lambert +
ambient shading, supersampled anti-aliasing, mask and depth, compositing.

Pixel convention (as everywhere in cliphand): pixel (u, v) has its centre at integer
coordinates, so a point projects to u = fx x / z + cx.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp


@dataclass
class Rendering:
    """Output of `render_mesh` at the requested size (H, W)."""

    color: np.ndarray  # (H, W, 3) float in [0, 1], not premultiplied (valid where alpha > 0)
    alpha: np.ndarray  # (H, W) float coverage in [0, 1] (anti-aliased mask)
    depth: np.ndarray  # (H, W) float metres of the nearest surface, inf where empty
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # y0, y1, x0, x1: alpha is 0 outside

    @property
    def mask(self) -> np.ndarray:
        """(H, W) uint8 hand mask, 255 where at least half of the pixel is covered."""
        return np.where(self.alpha >= 0.5, 255, 0).astype(np.uint8)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals: area-weighted sums of the normals of adjacent faces."""
    a = vertices[faces[:, 0]]
    e1, e2 = vertices[faces[:, 1]] - a, vertices[faces[:, 2]] - a
    face_normals = np.empty_like(e1)  # the cross product column by column: 1.5x faster than np.cross
    face_normals[:, 0] = e1[:, 1] * e2[:, 2] - e1[:, 2] * e2[:, 1]
    face_normals[:, 1] = e1[:, 2] * e2[:, 0] - e1[:, 0] * e2[:, 2]
    face_normals[:, 2] = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    normals = _incidence(faces.astype(np.int64, copy=False).tobytes(), len(vertices)) @ face_normals
    return normals / np.sqrt((normals**2).sum(1, keepdims=True)).clip(1e-12)


@lru_cache(maxsize=8)
def _incidence(faces_bytes: bytes, num_vertices: int) -> sp.csr_matrix:
    """(N, F) sparse matrix with a 1 where a vertex belongs to a face."""
    faces = np.frombuffer(faces_bytes, np.int64).reshape(-1, 3)
    rows = faces.ravel()
    cols = np.repeat(np.arange(len(faces)), 3)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_vertices, len(faces)))


def rasterize(
    vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int, width: int, cull_back: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffered rasterisation of camera-frame triangles.

    Args:
        vertices: (N, 3) camera frame, z forward. faces: (F, 3), counter-clockwise seen from
            outside. K: (3, 3). cull_back: skip faces turned away from the camera.

    Returns:
        face_id (H, W) int64 (-1 = empty), bary (H, W, 3) perspective-correct barycentric
        coordinates, depth (H, W) (inf = empty).
    """
    pixel, face, bary, depth = fragments(vertices, faces, K, height, width, cull_back)
    face_map = np.full(height * width, -1, np.int64)
    bary_map = np.zeros((height * width, 3))
    face_map[pixel], bary_map[pixel] = face, bary
    return face_map.reshape(height, width), bary_map.reshape(height, width, 3), depth.reshape(height, width)


def fragments(
    vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int, width: int, cull_back: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The visible fragments: pixel index (P,) into the flattened (H, W) image, face (P,),
    perspective-correct barycentric coordinates (P, 3), and the depth buffer (H * W,) (inf =
    empty). A pixel appears once, except for exact depth ties."""
    depth = np.full(height * width, np.inf)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)), depth)
    z = vertices[:, 2]
    uv = (vertices @ K.T)[:, :2] / np.where(z > 1e-6, z, 1e-6)[:, None]
    tri_uv, tri_z = uv[faces], z[faces]  # (F, 3, 2), (F, 3)
    x, y = tri_uv[..., 0], tri_uv[..., 1]  # (F, 3)
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (y[:, 1] - y[:, 0]) * (x[:, 2] - x[:, 0])
    # With y pointing down, a face that is counter-clockwise from outside has area < 0 when it
    # faces the camera.
    keep = (_min3(tri_z) > 1e-6) & (np.abs(area) > 1e-12)
    if cull_back:
        keep &= area < 0
    idx = np.flatnonzero(keep)
    x, y, area, inv_depth = x[idx], y[idx], area[idx], 1.0 / tri_z[idx]
    lo = np.maximum(np.ceil(np.stack([_min3(x), _min3(y)], 1)).astype(np.int64), 0)  # pixel centres inside the box
    hi = np.minimum(np.floor(np.stack([_max3(x), _max3(y)], 1)).astype(np.int64), [width - 1, height - 1])
    span = np.maximum(hi - lo + 1, 0)
    # Barycentric coordinate k of pixel (u, v) is A_k u + B_k v + C_k (the opposite edge's
    # line divided by the face's area). Per face and pixel row, the three constraints
    # A_k u + D_k >= 0 (D_k = B_k v + C_k) bound u to a span, so only covered pixels are visited.
    nxt, prv = [1, 2, 0], [2, 0, 1]
    coef_a = (y[:, nxt] - y[:, prv]) / area[:, None]
    coef_b = (x[:, prv] - x[:, nxt]) / area[:, None]
    coef_c = (x[:, nxt] * y[:, prv] - x[:, prv] * y[:, nxt]) / area[:, None]
    rows = span[:, 1]
    fr = np.repeat(np.arange(len(idx)), rows)  # one entry per (face, pixel row)
    v = (lo[fr, 1] + np.arange(len(fr)) - np.repeat(np.cumsum(rows) - rows, rows)).astype(np.float64)
    a_r = coef_a[fr]
    d_r = coef_b[fr] * v[:, None] + coef_c[fr]
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -d_r / a_r
    lower = np.where(a_r > 0, bound, -np.inf)
    upper = np.where(a_r < 0, bound, np.inf)
    left, right = _max3(lower), _min3(upper)
    stuck = (a_r == 0) & (d_r < 0)
    blocked = stuck[:, 0] | stuck[:, 1] | stuck[:, 2]
    eps = 1e-7  # pixel centres on a shared edge go to both faces; the z-test picks one
    u0 = np.maximum(np.ceil(left - eps), lo[fr, 0]).astype(np.int64)
    u1 = np.minimum(np.floor(right + eps), hi[fr, 0]).astype(np.int64)
    n = np.where(blocked, 0, np.maximum(u1 - u0 + 1, 0))
    if n.sum() == 0:
        return empty
    pr = np.repeat(np.arange(len(fr)), n)  # one entry per covered pixel
    u = u0[pr] + np.arange(len(pr)) - np.repeat(np.cumsum(n) - n, n)
    # 1/z is affine in screen space (per row: slope * u + offset), so the depth test needs no
    # barycentrics; they are computed for the winning fragments only.
    inv_depth_r = inv_depth[fr]
    slope = (a_r * inv_depth_r).sum(1)
    offset = (d_r * inv_depth_r).sum(1)
    z_pix = 1.0 / (slope[pr] * u + offset[pr])
    pixel = v[pr].astype(np.int64) * width + u
    np.minimum.at(depth, pixel, z_pix)
    win = np.flatnonzero(z_pix <= depth[pixel])
    pr, u = pr[win], u[win]
    weighted = np.clip(a_r[pr] * u[:, None] + d_r[pr], 0.0, None) * inv_depth[fr[pr]]  # perspective-correct
    bary = weighted / (weighted[:, 0] + weighted[:, 1] + weighted[:, 2])[:, None]
    return pixel[win], idx[fr[pr]], bary, depth


def _min3(a: np.ndarray) -> np.ndarray:
    """(M, 3) -> (M,) smallest of each row, column by column: several times faster than a.min(1)."""
    return np.minimum(np.minimum(a[:, 0], a[:, 1]), a[:, 2])


def _max3(a: np.ndarray) -> np.ndarray:
    """(M, 3) -> (M,) largest of each row, column by column."""
    return np.maximum(np.maximum(a[:, 0], a[:, 1]), a[:, 2])


def light_visibility(
    vertices: np.ndarray, faces: np.ndarray, towards_light: np.ndarray, resolution: int = 40
) -> np.ndarray:
    """(N,) share in [0, 1] of each vertex that a distant light sees, from a shadow map: the
    mesh's depth seen from the light, looked up at each vertex's texel and its 8 neighbours
    (percentage-closer filtering: soft edges).

    The map splats the vertices and face centres instead of rasterising the faces (10x cheaper),
    so its texels span about the mesh's vertex spacing: resolution x resolution over the
    mesh's extent. A vertex up to 1.5 texels behind the nearest surface counts as lit, since
    surfaces slope within a texel.

    Args:
        vertices: (N, 3). faces: (F, 3), either winding. towards_light: (3,) direction from the
            mesh to the light.
    """
    forward = -np.asarray(towards_light, np.float64) / np.linalg.norm(towards_light)  # the light travels along it
    helper = np.eye(3)[int(np.argmin(np.abs(forward)))]
    right = np.cross(helper, forward)
    right /= np.linalg.norm(right)
    # Across the light (x, y) and along it (z), each a contiguous (N + F,) array of the vertices
    # then the face centres: the same on (N, 3) arrays costs 1.3x as much.
    xs, ys, zs = (_with_face_centres(vertices @ axis, faces) for axis in (right, np.cross(forward, right), forward))
    x0, y0 = xs.min(), ys.min()
    texel_size = max(xs.max() - x0, ys.max() - y0, 1e-9) / (resolution - 1)
    column = np.rint((xs - x0) / texel_size).astype(np.int64)
    row = np.rint((ys - y0) / texel_size).astype(np.int64)
    depth = np.full(resolution * resolution, np.inf)
    np.minimum.at(depth, row * resolution + column, zs)
    depth = np.pad(depth.reshape(resolution, resolution), 1, constant_values=np.inf)
    n = len(vertices)
    u, v, behind = column[:n] + 1, row[:n] + 1, zs[:n] - 1.5 * texel_size
    lit = sum((behind <= depth[v + dv, u + du]).astype(np.float64) for dv in (-1, 0, 1) for du in (-1, 0, 1))
    return lit / 9


def _with_face_centres(values: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N,) per-vertex values -> (N + F,): the same values, then each face's mean."""
    return np.concatenate([values, (values[faces[:, 0]] + values[faces[:, 1]] + values[faces[:, 2]]) / 3])


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    height: int,
    width: int,
    colors: np.ndarray | None = None,
    light_dir: tuple[float, float, float] = (0.3, -0.4, -1.0),
    ambient: float = 0.35,
    diffuse: float = 0.75,
    supersample: int = 2,
) -> Rendering:
    """Render a mesh with Lambert + ambient shading (per vertex, interpolated), anti-aliased by
    supersampling.

    Args:
        vertices: (N, 3) camera frame. faces: (F, 3). K: (3, 3) of the (H, W) output image.
        colors: (N, 3) per-vertex albedo in [0, 1] (default light grey).
        light_dir: direction the light travels, camera frame (default: from the upper left,
            behind the camera).
    """
    alpha = np.zeros((height, width), np.float32)
    color = np.zeros((height, width, 3), np.float32)
    depth = np.full((height, width), np.inf)
    # Work only inside the mesh's bounding box (in output pixels), supersampled s times.
    z = vertices[:, 2]
    uv = (vertices @ K.T)[:, :2] / np.where(z > 1e-6, z, 1e-6)[:, None]
    front = z > 1e-6
    if not front.any():
        return Rendering(color, alpha, depth)
    x0, y0 = np.maximum(np.floor(uv[front].min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(uv[front].max(0)).astype(int) + 2, [width, height])
    if x1 <= x0 or y1 <= y0:
        return Rendering(color, alpha, depth)
    s = supersample
    K_ss = K.astype(np.float64).copy()
    K_ss[:2, 2] -= (x0, y0)
    K_ss[:2] *= s
    K_ss[:2, 2] += (s - 1) / 2  # keep pixel centres aligned: u_ss = s u + (s - 1) / 2
    h, w = (y1 - y0), (x1 - x0)
    pixel, face, bary, depth_ss = fragments(vertices, faces, K_ss, h * s, w * s)
    corners = faces[face]  # (P, 3)
    # Gouraud shading: light the vertices, interpolate colours (three gathers beat a (P, 3, 3) reduce).
    light = -np.asarray(light_dir, np.float64) / np.linalg.norm(light_dir)
    shade = np.full(len(vertices), ambient)
    if diffuse:  # callers that bake their own lighting into `colors` pass 0 and skip the normals
        shade += diffuse * np.abs(vertex_normals(vertices, faces) @ light)  # two-sided
    lit = ((np.full((len(vertices), 3), 0.8) if colors is None else colors) * shade[:, None]).astype(np.float32)
    b = bary.astype(np.float32)
    color_ss = np.zeros((h * s * w * s, 3), np.float32)
    color_ss[pixel] = b[:, :1] * lit[corners[:, 0]] + b[:, 1:2] * lit[corners[:, 1]] + b[:, 2:] * lit[corners[:, 2]]
    covered = np.zeros(h * s * w * s, bool)
    covered[pixel] = True
    covered, color_ss, depth_ss = (
        covered.reshape(h * s, w * s),
        color_ss.reshape(h * s, w * s, 3),
        depth_ss.reshape(h * s, w * s),
    )
    if s == 1:  # one sample per pixel: nothing to filter
        alpha[y0:y1, x0:x1] = covered
        color[y0:y1, x0:x1] = np.clip(color_ss, 0.0, 1.0)
        depth[y0:y1, x0:x1] = depth_ss
        return Rendering(color=color, alpha=alpha, depth=depth, window=(int(y0), int(y1), int(x0), int(x1)))
    # Box filter over the s x s samples of each pixel (strided sums beat a reshaped reduction).
    cover = sum(covered[i::s, j::s].astype(np.float64) for i in range(s) for j in range(s))
    summed = sum(color_ss[i::s, j::s] for i in range(s) for j in range(s))
    nearest = depth_ss[0::s, 0::s]
    for i in range(s):
        for j in range(s):
            nearest = np.minimum(nearest, depth_ss[i::s, j::s])
    alpha[y0:y1, x0:x1] = cover / (s * s)
    color[y0:y1, x0:x1] = np.clip(summed / np.maximum(cover, 1e-12)[..., None], 0.0, 1.0)
    depth[y0:y1, x0:x1] = nearest
    return Rendering(color=color, alpha=alpha, depth=depth, window=(int(y0), int(y1), int(x0), int(x1)))


def merge_in_depth(a: Rendering, b: Rendering) -> tuple[Rendering, np.ndarray]:
    """Two renderings of the same camera as one: at each pixel the nearer surface. Returns it and
    the (H, W) bool map of pixels where b covers a (or a is empty)."""
    b_wins = (b.alpha > 0) & (b.depth < a.depth)
    color = np.where(b_wins[..., None], b.color, a.color)
    alpha = np.where(b_wins, b.alpha, a.alpha)
    depth = np.minimum(a.depth, b.depth)
    (ay0, ay1, ax0, ax1), (by0, by1, bx0, bx1) = a.window, b.window
    if ay1 <= ay0:  # a is empty
        window = b.window
    elif by1 <= by0:
        window = a.window
    else:
        window = (min(ay0, by0), max(ay1, by1), min(ax0, bx0), max(ax1, bx1))
    return Rendering(color=color, alpha=alpha, depth=depth, window=window), b_wins


def composite(background: np.ndarray, rendering: Rendering) -> np.ndarray:
    """Blend a rendering over an (H, W, 3) uint8 image; returns uint8."""
    y0, y1, x0, x1 = rendering.window
    out = background.copy()
    alpha = rendering.alpha[y0:y1, x0:x1, None].astype(np.float32)
    color = rendering.color[y0:y1, x0:x1].astype(np.float32)
    blend = color * (255.0 * alpha) + out[y0:y1, x0:x1].astype(np.float32) * (1.0 - alpha)
    out[y0:y1, x0:x1] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
    return out
