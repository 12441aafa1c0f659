"""Write triangle meshes as Wavefront OBJ or binary PLY (no extra dependencies)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MESH_FORMATS = (".obj", ".ply")


def save_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write (N, 3) vertices and (F, 3) faces to `path`; the suffix picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise ValueError(f"unsupported mesh format '{path.suffix}' for {path}; use .obj or .ply")
    vertices = np.asarray(vertices, dtype=np.float32).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".obj":
        lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
        tmp.write_text("\n".join(lines) + "\n")
    else:
        header = (
            "ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
            f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
        )
        face_rows = np.zeros(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        face_rows["n"] = 3
        face_rows["idx"] = faces
        with tmp.open("wb") as f:
            f.write(header.encode("ascii"))
            f.write(vertices.astype("<f4").tobytes())
            f.write(face_rows.tobytes())
    tmp.replace(path)
    return path


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read back a mesh written by `save_mesh`: (N, 3) float32 vertices, (F, 3) int64 faces."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        verts, faces = [], []
        for line in path.read_text().splitlines():
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                faces.append([int(x.split("/")[0]) - 1 for x in line.split()[1:4]])
        return np.array(verts, dtype=np.float32), np.array(faces, dtype=np.int64)
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    n_verts = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    n_faces = int(next(h for h in header if h.startswith("element face")).split()[-1])
    verts = np.frombuffer(data, dtype="<f4", count=3 * n_verts, offset=end).reshape(-1, 3)
    rows = np.frombuffer(data, dtype=[("n", "u1"), ("idx", "<i4", (3,))], count=n_faces, offset=end + 12 * n_verts)
    return verts.copy(), rows["idx"].astype(np.int64)
