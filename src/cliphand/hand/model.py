"""The skinned hand model shared by `openhand` and `mano`: shape blend shapes, optional pose
correctives, a joint regressor, forward kinematics and linear blend skinning."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cliphand.hand.pose import anatomical_frames, clamp_pose, joint_limits_deg
from cliphand.hand.skeleton import (
    NUM_ROT_JOINTS,
    ROT_PARENTS,
    axis_angle_to_matrix,
    forward_kinematics,
    linear_blend_skinning,
    to_freihand_order,
)

if TYPE_CHECKING:
    from cliphand.hand.coarse import CoarseMesh


class HandModelError(ValueError):
    """Bad hand-model input: a wrong file, a pose of the wrong shape, an unknown name."""


@dataclass
class HandModelData:
    """Arrays that define a skinned hand model (numpy, float32 unless noted).

    N vertices, F faces, S shape parameters, 16 rotation joints in MANO order.
    """

    name: str
    v_template: np.ndarray  # (N, 3) rest vertices, metres
    faces: np.ndarray  # (F, 3) int64, counter-clockwise seen from outside
    weights: np.ndarray  # (N, 16) skinning weights
    joint_regressor: np.ndarray  # (16, N) output joints = joint_regressor @ posed vertices
    shapedirs: np.ndarray  # (N, 3, S) shape blend shapes
    tip_vertex_ids: np.ndarray  # (5,) int64, thumb..pinky fingertip vertices
    license: str
    posedirs: np.ndarray | None = None  # (N, 3, 135) pose correctives (MANO)
    pca_components: np.ndarray | None = None  # (45, 45) finger-pose PCA basis, rows (MANO)
    pose_mean: np.ndarray | None = None  # (45,) mean finger pose (MANO hands_mean)
    shape_names: tuple[str, ...] = field(default_factory=tuple)
    side: str = "right"
    # (16, N) rotation centres = kinematic_regressor @ shaped vertices, where the mesh bends.
    # None: joint_regressor (MANO's own joints are both). openhand's differ: its output joints
    # follow MANO's convention while its mesh bends where MakeHuman's rig does.
    kinematic_regressor: np.ndarray | None = None


class HandModel(nn.Module):
    """A skinned hand: `model(pose, shape, trans)` -> (vertices (B,N,3), joints (B,21,3)).

    pose is (B, 48) axis-angle (16 joints in MANO order, world-aligned rest frames), or, with
    `pca_components=K`, (B, 3 + K) global rotation + finger PCA coefficients. With
    `flat_hand_mean=False` the model's mean finger pose is added to the finger rotations (the
    MANO convention that FreiHAND's annotations use). Joints come out in FreiHAND order;
    everything is in metres. `coarse_path` names a METRO/FastMETRO mano_downsampling.npz to use
    as the coarse mesh instead of building one.
    """

    def __init__(
        self,
        data: HandModelData,
        pca_components: int | None = None,
        flat_hand_mean: bool = True,
        clamp_to_limits: bool = False,
        coarse_path: str | None = None,
    ) -> None:
        super().__init__()
        self.name = data.name
        self.coarse_path = coarse_path
        self.license = data.license
        self.side = data.side
        self.shape_names = data.shape_names
        self.clamp_to_limits = clamp_to_limits
        self.num_pca = pca_components
        if pca_components is not None:
            if data.pca_components is None:
                raise HandModelError(f"hand model '{data.name}' has no pose PCA; use axis-angle pose")
            if not 1 <= pca_components <= data.pca_components.shape[0]:
                raise HandModelError(
                    f"pca_components must be in 1..{data.pca_components.shape[0]}, got {pca_components}"
                )
            self.register_buffer("pca_basis", _f32(data.pca_components[:pca_components]))
        mean = data.pose_mean if (data.pose_mean is not None and not flat_hand_mean) else np.zeros(45)
        self.register_buffer("pose_mean", _f32(mean))
        self.register_buffer("v_template", _f32(data.v_template))
        self.register_buffer("shapedirs", _f32(data.shapedirs))
        self.register_buffer("weights", _f32(data.weights))
        self.register_buffer("joint_regressor", _f32(data.joint_regressor))
        kinematic = data.joint_regressor if data.kinematic_regressor is None else data.kinematic_regressor
        self.register_buffer("kinematic_regressor", _f32(kinematic))
        self.register_buffer("faces", torch.as_tensor(np.asarray(data.faces, dtype=np.int64)))
        self.register_buffer("tip_vertex_ids", torch.as_tensor(np.asarray(data.tip_vertex_ids, dtype=np.int64)))
        posedirs = None if data.posedirs is None else _f32(data.posedirs).reshape(-1, 135).T.contiguous()
        self.register_buffer("posedirs", posedirs)  # (135, N*3)
        self.parents = ROT_PARENTS
        rest = self.rest_joints(kinematic=True)
        self.register_buffer("frames", anatomical_frames(rest[:16], rest[16:], self.side))
        self.register_buffer("limits_deg", joint_limits_deg())

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_shape(self) -> int:
        return self.shapedirs.shape[-1]

    @property
    def pose_dim(self) -> int:
        return 48 if self.num_pca is None else 3 + self.num_pca

    @property
    def kinematic_tree(self) -> tuple[int, ...]:
        """Parent of each of the 16 rotation joints (MANO order), -1 for the wrist."""
        return self.parents

    @cached_property
    def mesh_hash(self) -> str:
        """Hash of the template mesh and faces: the key of cached derived data."""
        h = hashlib.sha1()
        h.update(np.round(self.v_template.cpu().numpy().astype(np.float64), 6).tobytes())
        h.update(self.faces.cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    @cached_property
    def coarse(self) -> CoarseMesh:
        """The 195-vertex coarse mesh with its up/downsampling and hop masks: read from
        `coarse_path` (METRO's mano_downsampling.npz) when given, else built and cached on disk."""
        from cliphand.hand.coarse import coarse_mesh_for, load_metro_downsampling

        if self.coarse_path is not None:
            return load_metro_downsampling(self.coarse_path, n_full=self.num_vertices)
        return coarse_mesh_for(self)

    def rest_joints(self, shape: torch.Tensor | None = None, kinematic: bool = False) -> torch.Tensor:
        """(21, 3) rest joints, or (B, 21, 3) for a (B, S) shape, in MANO-then-tips order:
        16 joints followed by the 5 fingertips; the output joints, or with `kinematic` the
        rotation centres."""
        verts = self.v_template[None] if shape is None else self.shaped_vertices(shape)
        regressor = self.kinematic_regressor if kinematic else self.joint_regressor
        joints = torch.einsum("jn,bnc->bjc", regressor, verts)
        out = torch.cat([joints, verts[:, self.tip_vertex_ids]], dim=1)
        return out[0] if shape is None else out

    def shaped_vertices(self, shape: torch.Tensor) -> torch.Tensor:
        """(B, S) shape -> (B, N, 3) rest-pose vertices."""
        return self.v_template + torch.einsum("ncs,bs->bnc", self.shapedirs, shape)

    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, pose_dim) -> (B, 48) axis-angle, with PCA expanded and the mean pose added."""
        if self.num_pca is not None:
            fingers = pose[:, 3:] @ self.pca_basis
            pose = torch.cat([pose[:, :3], fingers], dim=1)
        return torch.cat([pose[:, :3], pose[:, 3:] + self.pose_mean], dim=1)

    def forward(
        self,
        pose: torch.Tensor | None = None,
        shape: torch.Tensor | None = None,
        trans: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """pose (B, pose_dim), shape (B, S), trans (B, 3) -> vertices (B, N, 3), joints (B, 21, 3).

        Missing arguments default to zeros (batch size from whichever is given, else 1).
        """
        given = [torch.as_tensor(t) for t in (pose, shape, trans) if t is not None]
        batch = next((t.shape[0] for t in given if t.ndim > 1), 1)
        dtype, device = self.v_template.dtype, self.v_template.device
        pose = self._check("pose", pose, batch, self.pose_dim)
        shape = self._check("shape", shape, batch, self.num_shape)
        trans = self._check("trans", trans, batch, 3)
        pose, shape, trans = (t.to(dtype=dtype, device=device) for t in (pose, shape, trans))

        full = self.full_pose(pose)
        if self.clamp_to_limits:
            full = clamp_pose(full, self.frames, self.limits_deg)
        rotations = axis_angle_to_matrix(full.reshape(batch, NUM_ROT_JOINTS, 3))
        verts = self.shaped_vertices(shape)
        rest_joints = torch.einsum("jn,bnc->bjc", self.kinematic_regressor, verts)
        if self.posedirs is not None:
            eye = torch.eye(3, dtype=dtype, device=device)
            pose_feature = (rotations[:, 1:] - eye).reshape(batch, -1)  # (B, 135)
            verts = verts + (pose_feature @ self.posedirs).reshape(batch, -1, 3)
        _, skinning = forward_kinematics(rotations, rest_joints, self.parents)
        verts = linear_blend_skinning(verts, self.weights, skinning)
        # FreiHAND's convention (official utils/model.py): joints are regressed from the posed
        # mesh, not taken from the kinematic chain (they differ by up to ~9 mm on MANO).
        joints = self.joints_from_vertices(verts)
        offset = trans[:, None, :]
        return verts + offset, joints + offset

    def joints_from_vertices(self, vertices: torch.Tensor, kinematic: bool = False) -> torch.Tensor:
        """(B, N, 3) posed mesh -> (B, 21, 3) joints in FreiHAND order: the output joints, or with
        `kinematic` the rotation centres' regressor (openhand's rig joints) plus the same tips."""
        regressor = self.kinematic_regressor if kinematic else self.joint_regressor
        joints16 = torch.einsum("jn,bnc->bjc", regressor, vertices)
        return to_freihand_order(joints16, vertices[:, self.tip_vertex_ids])

    def _check(self, name: str, value: torch.Tensor | None, batch: int, width: int) -> torch.Tensor:
        if value is None:
            return torch.zeros(batch, width)
        value = torch.as_tensor(value)
        if value.ndim == 1:
            value = value[None]
        if value.ndim != 2 or value.shape != (batch, width):
            raise HandModelError(
                f"{self.name}: {name} must have shape (B, {width}) with B={batch}, got {tuple(value.shape)}"
            )
        if not torch.isfinite(value).all():
            raise HandModelError(f"{self.name}: {name} contains NaN or infinite values")
        return value


def _f32(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32))
