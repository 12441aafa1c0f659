"""Triangle meshes to and from .obj, .ply and .glb, through trimesh."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh

from cliphand.fileio import write_bytes

MESH_FORMATS = (".obj", ".ply", ".glb")


def mesh_bytes(vertices: np.ndarray, faces: np.ndarray, fmt: str) -> bytes:
    """(N, 3) vertices and (F, 3) faces encoded as `fmt` (".obj", ".ply" or ".glb")."""
    fmt = fmt.lower()
    if fmt not in MESH_FORMATS:
        raise ValueError(f"unsupported mesh format '{fmt}'; use one of {', '.join(MESH_FORMATS)}")
    mesh = trimesh.Trimesh(
        vertices=np.asarray(vertices, dtype=np.float64).reshape(-1, 3),
        faces=np.asarray(faces, dtype=np.int64).reshape(-1, 3),
        process=False,  # keep the hand model's vertex order: vertex k is vertex k of the model
    )
    data = mesh.export(file_type=fmt[1:])
    return data.encode() if isinstance(data, str) else data


def save_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a mesh to `path`; the suffix picks the format. Written whole or not at all."""
    path = Path(path)
    data = mesh_bytes(vertices, faces, path.suffix)
    return write_bytes(path, data)


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float32 vertices and (F, 3) int64 faces of a mesh file, in its vertex order."""
    path = Path(path)
    mesh = trimesh.load(io.BytesIO(path.read_bytes()), file_type=path.suffix[1:].lower(), process=False, force="mesh")
    return np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int64)
