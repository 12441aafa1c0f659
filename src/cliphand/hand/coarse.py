"""The coarse hand mesh: 195 vertices kept from the full mesh, with up/downsampling and hop masks.

Token layout of the MTED transformer (defined here once, used everywhere): its 217 query tokens
are ordered [camera (1), joints (21), coarse vertices (195)], i.e. CAMERA_TOKEN, JOINT_TOKENS,
VERTEX_TOKENS below. Attention masks are (217, 217) bool with True meaning "may attend"; camera
and joint tokens are never masked, vertex tokens see the vertices within k hops on the coarse
mesh, with k following PROGRESSIVE_HOPS across the MTED layers.

The coarse mesh is built by quadric decimation (fast_simplification) of the rest mesh, keeping
original vertices (no moved points), or read from METRO/FastMETRO's `mano_downsampling.npz`.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import cdist

from cliphand.fileio import atomic_path

if TYPE_CHECKING:
    import torch

    from cliphand.hand.model import HandModel

NUM_COARSE_VERTICES = 195
CAMERA_TOKEN = slice(0, 1)
JOINT_TOKENS = slice(1, 22)
VERTEX_TOKENS = slice(22, 22 + NUM_COARSE_VERTICES)
NUM_TOKENS = VERTEX_TOKENS.stop  # 217
PROGRESSIVE_HOPS = (7, 5, 3, 1)  # hop radius of the vertex-vertex mask, first MTED layer to last
UNREACHABLE = np.iinfo(np.int16).max  # hop distance between disconnected vertices

CACHE_VERSION = 1  # bump when build_coarse_mesh changes, so stale cache files are not reused
_ARRAYS = ("vertex_ids", "faces", "downsample", "upsample", "adjacency", "hops")


@dataclass(eq=False)
class CoarseMesh:
    """A coarse mesh of n (normally 195) vertices kept from a full mesh of N vertices."""

    vertex_ids: np.ndarray  # (n,) int64, full-mesh index of each coarse vertex
    faces: np.ndarray  # (Fc, 3) int64, coarse faces indexing 0..n-1 (may be (0, 3) if unknown)
    downsample: np.ndarray  # (n, N) float32, row i is one-hot at vertex_ids[i]
    upsample: np.ndarray  # (N, n) float32, <= 3 barycentric weights per row, summing to 1
    adjacency: np.ndarray  # (n, n) bool, coarse mesh edges, symmetric, no self loops
    full_adjacency: sp.csr_matrix  # (N, N) bool, full mesh edges
    hops: np.ndarray  # (n, n) int16, hop distance on the coarse graph, UNREACHABLE if disconnected

    @property
    def num_vertices(self) -> int:
        return len(self.vertex_ids)

    def vertex_mask(self, k: int) -> np.ndarray:
        """(n, n) bool: vertices within k hops of each other (self included)."""
        return self.hops <= k

    def attention_mask(self, k: int) -> np.ndarray:
        """(T, T) bool, True = may attend, T = 22 + n (217 for the standard 195 vertices).

        Camera and joint rows and columns are all True; the vertex-vertex block is vertex_mask(k).
        """
        mask = np.ones((VERTEX_TOKENS.start + self.num_vertices,) * 2, dtype=bool)
        mask[VERTEX_TOKENS.start :, VERTEX_TOKENS.start :] = self.vertex_mask(k)
        return mask

    def mean_neighbours(self, k: int) -> float:
        """Mean number of vertices each vertex may attend to at k hops, itself counted."""
        return float(self.vertex_mask(k).sum(1).mean())

    def upsampling_error_mm(self, v_template: np.ndarray | torch.Tensor) -> dict[str, float]:
        """Distance between upsample @ (downsample @ V) and V for V (N, 3) in metres, in mm."""
        v = np.asarray(v_template.detach().cpu() if hasattr(v_template, "detach") else v_template, np.float64)
        err = np.linalg.norm(self.upsample @ (self.downsample @ v) - v, axis=1) * 1000.0
        return {"mean": float(err.mean()), "max": float(err.max())}

    def save(self, path: str | os.PathLike) -> None:
        """Write a compressed .npz atomically (temp file in the same directory, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        adj = self.full_adjacency.tocsr()
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update(full_indptr=adj.indptr, full_indices=adj.indices, full_n=np.int64(adj.shape[0]))
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CoarseMesh:
        """Read a file written by `save`. Raises ValueError if it is unreadable or inconsistent."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in _ARRAYS}
                n_full = int(data["full_n"])
                indices, indptr = data["full_indices"], data["full_indptr"]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise ValueError(f"cannot read coarse mesh {path}: {e}") from e
        full = sp.csr_matrix((np.ones(len(indices), bool), indices, indptr), shape=(n_full, n_full))
        mesh = cls(full_adjacency=full, **arrays)
        mesh.check()
        return mesh

    def check(self) -> None:
        """Raise ValueError unless all arrays have consistent shapes."""
        n, n_full = len(self.vertex_ids), self.full_adjacency.shape[0]
        shapes = {
            "downsample": (n, n_full),
            "upsample": (n_full, n),
            "adjacency": (n, n),
            "hops": (n, n),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"coarse mesh: {name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.faces.ndim != 2 or self.faces.shape[1] != 3 or (self.faces.size and self.faces.max() >= n):
            raise ValueError(f"coarse mesh: faces of shape {self.faces.shape} do not index {n} vertices")


def build_coarse_mesh(vertices: np.ndarray, faces: np.ndarray, n: int = NUM_COARSE_VERTICES) -> CoarseMesh:
    """Decimate a mesh, vertices (N, 3) and faces (F, 3), to exactly n of its original vertices.

    Quadric decimation records its edge collapses; replaying the first N - n of them leaves the
    n vertices that were never collapsed away. The coarse mesh uses their original positions.
    Of the decimator's aggressiveness settings that reach n, the one with the smallest mean
    upsampling error wins.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if not 4 <= n < len(v):
        raise ValueError(f"cannot decimate a {len(v)}-vertex mesh to {n} vertices")
    # The decimator's error thresholds are absolute (1e-9 * (pass + 3) ** agg), so fix the scale:
    # at metre scale a hand's quadric errors are tiny and early passes collapse in face order.
    pts = (v - v.mean(0)) / np.linalg.norm(v.max(0) - v.min(0))
    # Exactly regular meshes (a perfect cylinder) stall the decimator or collapse it wrongly on
    # ties; a deterministic jitter of 1e-6 of the mesh size breaks them.
    pts = pts + np.random.default_rng(0).normal(scale=1e-6, size=pts.shape)
    # The decimator moves merged vertices to quadric-optimal points (a median 5 mm on openhand)
    # but we keep the survivors' original positions, so judge each aggressiveness by the result.
    candidates, error = [], ""
    for agg in (3.0, 5.0, 7.0):
        try:
            vertex_ids, coarse_faces = _decimate(pts, f, n, agg)
            _check_faces(v[vertex_ids], coarse_faces)
        except ValueError as e:
            error = f"agg={agg}: {e}"
            continue
        candidates.append(_assemble(v, f, vertex_ids, coarse_faces))
    if not candidates:
        raise ValueError(
            f"quadric decimation cannot reduce this {len(v)}-vertex mesh to exactly {n} vertices ({error})"
        )
    return min(candidates, key=lambda mesh: mesh.upsampling_error_mm(v)["mean"])


def _decimate(pts: np.ndarray, f: np.ndarray, n: int, agg: float) -> tuple[np.ndarray, np.ndarray]:
    """Kept vertex ids (n,) and coarse faces (Fc, 3) indexing them, from a prefix of the collapses."""
    import fast_simplification

    # Any target below the final face count works: the collapse history is the same prefix.
    _, _, collapses = fast_simplification.simplify(pts, f, target_count=n // 2, agg=agg, return_collapses=True)
    collapses = np.asarray(collapses, dtype=np.int64)
    # Replaying k collapses keeps N - k vertices, or fewer when a never-collapsed vertex lost all
    # its faces (replay drops it): take the longest prefix that keeps at least n.
    for k in range(min(len(collapses), len(pts) - n), -1, -1):
        vertex_ids = _survivors(f, collapses[:k])
        if len(vertex_ids) >= n:
            break
    if len(vertex_ids) != n:
        raise ValueError(f"decimation cannot stop at {n} vertices: {len(vertex_ids)} after {k} collapses")
    dec_pts, dec_faces, mapping = fast_simplification.replay_simplification(pts.astype(np.float32), f, collapses[:k])
    # replay numbers the survivors in increasing order of their original index
    if len(dec_pts) != n or not np.array_equal(mapping[vertex_ids], np.arange(n)):
        raise ValueError(f"replayed decimation kept {len(dec_pts)} vertices, not the expected {n}")
    return vertex_ids, np.asarray(dec_faces, dtype=np.int64)


def _survivors(f: np.ndarray, collapses: np.ndarray) -> np.ndarray:
    """Sorted ids of the vertices still in a non-degenerate face after the collapses (K, 2)."""
    # collapse [i0, i1] merges i1 into i0 (i1 is never used again): follow merge chains to the end
    parent = np.arange(int(f.max()) + 1)
    parent[collapses[:, 1]] = collapses[:, 0]
    while not np.array_equal(parent[parent], parent):
        parent = parent[parent]
    g = parent[f]
    alive = (g[:, 0] != g[:, 1]) & (g[:, 1] != g[:, 2]) & (g[:, 2] != g[:, 0])
    return np.unique(g[alive])


def load_metro_downsampling(path: str | os.PathLike, n_full: int = 778) -> CoarseMesh:
    """Read METRO/FastMETRO's `mano_downsampling.npz` (MANO's 778 vertices -> 195).

    Uses A[1] (195, 195) for the coarse graph, A[0] (778, 778) for the full graph, D[0] (195, 778)
    for the kept vertices, U[0] (778, 195) as the upsampling and F[1] (if present) as faces.
    """
    try:
        with np.load(path, allow_pickle=True, encoding="latin1") as data:
            levels = {key: _levels(data[key]) for key in ("A", "D", "U") if key in data}
            faces = _levels(data["F"])[1] if "F" in data else np.zeros((0, 3), np.int64)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"cannot read METRO downsampling file {path}: {e}") from e
    missing = [key for key in ("A", "D", "U") if key not in levels]
    if missing:
        raise ValueError(f"{path} is not a METRO mano_downsampling.npz: missing keys {', '.join(missing)}")
    a_full, a_coarse = sp.csr_matrix(levels["A"][0]), sp.csr_matrix(levels["A"][1])
    down, up = sp.csr_matrix(levels["D"][0]), sp.csr_matrix(levels["U"][0])
    n = down.shape[0]
    shapes = {"A[0]": (a_full.shape, (n_full, n_full)), "A[1]": (a_coarse.shape, (n, n))}
    shapes.update({"D[0]": (down.shape, (n, n_full)), "U[0]": (up.shape, (n_full, n))})
    for name, (got, want) in shapes.items():
        if got != want:
            raise ValueError(f"{path}: {name} has shape {got}, expected {want} for a {n_full}-vertex mesh")
    vertex_ids = np.asarray(down.toarray().argmax(1), dtype=np.int64)
    adjacency = _symmetric(a_coarse.toarray() != 0)
    mesh = CoarseMesh(
        vertex_ids=vertex_ids,
        faces=np.asarray(faces, dtype=np.int64).reshape(-1, 3),
        downsample=_selection(vertex_ids, n_full),
        upsample=up.toarray().astype(np.float32),
        adjacency=adjacency,
        full_adjacency=sp.csr_matrix(_symmetric(a_full != 0)),
        hops=_hops(adjacency),
    )
    mesh.check()
    return mesh


def coarse_mesh_for(model: HandModel) -> CoarseMesh:
    """The coarse mesh of a hand model, cached as $CLIPHAND_CACHE/coarse_v<version>_<mesh_hash>.npz.

    The cache directory defaults to ~/.cache/cliphand; an unreadable cache file is rebuilt.
    """
    path = cache_dir() / f"coarse_v{CACHE_VERSION}_{model.mesh_hash}.npz"
    n_full = model.v_template.shape[0]
    if path.exists():
        try:
            mesh = CoarseMesh.load(path)
            if mesh.upsample.shape[0] == n_full:
                return mesh
        except ValueError:
            pass  # corrupt or stale: rebuild below
    vertices = model.v_template.detach().cpu().numpy()
    mesh = build_coarse_mesh(vertices, model.faces.detach().cpu().numpy())
    mesh.save(path)
    return mesh


def cache_dir() -> Path:
    """Directory of derived data: $CLIPHAND_CACHE, else ~/.cache/cliphand."""
    return Path(os.environ.get("CLIPHAND_CACHE") or Path.home() / ".cache" / "cliphand")


def _assemble(v: np.ndarray, f: np.ndarray, vertex_ids: np.ndarray, coarse_faces: np.ndarray) -> CoarseMesh:
    """Derive up/downsampling, adjacency and hops from the kept vertices (n,) and coarse faces."""
    n_full, n = len(v), len(vertex_ids)
    adjacency = _edges(coarse_faces, n).toarray()
    mesh = CoarseMesh(
        vertex_ids=vertex_ids.astype(np.int64),
        faces=coarse_faces,
        downsample=_selection(vertex_ids, n_full),
        upsample=_barycentric_upsample(v, vertex_ids, coarse_faces),
        adjacency=adjacency,
        full_adjacency=_edges(f, n_full),
        hops=_hops(adjacency),
    )
    mesh.check()
    return mesh


def _check_faces(v: np.ndarray, faces: np.ndarray) -> None:
    """Raise ValueError if coarse faces (Fc, 3) repeat a vertex, have no area or miss a vertex."""
    tri = v[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    scale = np.linalg.norm(v.max(0) - v.min(0))
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 2] == faces[:, 0])
    bad = repeated | (area <= 1e-10 * scale**2)
    if bad.any():
        raise ValueError(f"coarse mesh has {int(bad.sum())} degenerate faces")
    unused = len(v) - len(np.unique(faces))
    if unused:
        raise ValueError(f"coarse mesh has {unused} vertices in no face")


def _levels(value: np.ndarray) -> list:
    """A METRO per-level entry (an object array of matrices, or a 0-d array of a list) as a list."""
    return list(value.item()) if value.ndim == 0 else list(value)


def _selection(vertex_ids: np.ndarray, n_full: int) -> np.ndarray:
    """(n, N) float32 selection matrix with row i one-hot at vertex_ids[i]."""
    down = np.zeros((len(vertex_ids), n_full), dtype=np.float32)
    down[np.arange(len(vertex_ids)), vertex_ids] = 1.0
    return down


def _edges(faces: np.ndarray, n: int) -> sp.csr_matrix:
    """(n, n) symmetric bool csr adjacency of the edges of faces (F, 3), no self loops."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = e[e[:, 0] != e[:, 1]]
    adj = sp.coo_matrix((np.ones(len(e), bool), (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    return _symmetric(adj)


def _symmetric(adj: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """Symmetrise a bool adjacency (dense or sparse) and drop its diagonal."""
    adj = (adj + adj.T).astype(bool)
    if sp.issparse(adj):
        adj = adj.tolil()
        adj.setdiag(False)
        return adj.tocsr()
    np.fill_diagonal(adj, False)
    return adj


def _hops(adjacency: np.ndarray) -> np.ndarray:
    """(n, n) int16 BFS hop distances on a bool adjacency (n, n); UNREACHABLE if disconnected."""
    dist = shortest_path(sp.csr_matrix(adjacency), unweighted=True, directed=False)
    return np.where(np.isinf(dist), UNREACHABLE, dist).astype(np.int16)


def _barycentric_upsample(v: np.ndarray, vertex_ids: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(N, n) float32: each full vertex of v (N, 3) as barycentric weights on its nearest coarse face.

    Kept vertices get their own one-hot row, so upsampling reproduces them exactly.
    """
    tri = v[vertex_ids][faces]  # (Fc, 3, 3)
    centre = tri.mean(1)
    radius = np.linalg.norm(tri - centre[:, None], axis=2).max(1)
    # Only faces whose bounding sphere comes closer than the nearest coarse vertex can be nearest.
    bound = cdist(v, v[vertex_ids]).min(1)
    point, face = np.nonzero(cdist(v, centre) - radius <= bound[:, None] + 1e-9)
    bary = _closest_barycentric(v[point], tri[face])  # (K, 3) for K (point, face) pairs
    dist = np.linalg.norm(np.einsum("kj,kjc->kc", bary, tri[face]) - v[point], axis=1)
    order = np.lexsort((dist, point))  # by point, then distance: the first of each point wins
    best = order[np.r_[True, np.diff(point[order]) != 0]]
    up = np.zeros((len(v), len(vertex_ids)), dtype=np.float32)
    np.add.at(up, (point[best, None], faces[face[best]]), bary[best])
    up[vertex_ids] = 0.0
    up[vertex_ids, np.arange(len(vertex_ids))] = 1.0
    return up


def _closest_barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (K, 3) of the point on triangle tri[k] (K, 3, 3) closest to p[k] (K, 3).

    Ericson, Real-Time Collision Detection 5.1.5, vectorised over its Voronoi regions.
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a
    d1, d2 = _dot(ab, p - a), _dot(ac, p - a)
    d3, d4 = _dot(ab, p - b), _dot(ac, p - b)
    d5, d6 = _dot(ab, p - c), _dot(ac, p - c)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
        t_ab, t_ac = d1 / (d1 - d3), d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    zero, one = np.zeros_like(d1), np.ones_like(d1)
    # Regions in Ericson's test order; the first one that holds wins, else the interior.
    regions = [
        ((d1 <= 0) & (d2 <= 0), (one, zero, zero)),
        ((d3 >= 0) & (d4 <= d3), (zero, one, zero)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1 - t_ab, t_ab, zero)),
        ((d6 >= 0) & (d5 <= d6), (zero, zero, one)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1 - t_ac, zero, t_ac)),
        ((va <= 0) & (d4 >= d3) & (d5 >= d6), (zero, 1 - t_bc, t_bc)),
    ]
    out = np.stack([1 - v_in - w_in, v_in, w_in], axis=-1)
    for cond, weights in reversed(regions):
        out = np.where(cond[:, None], np.stack(weights, axis=-1), out)
    return out


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x * y).sum(-1)
