"""The CLIP-Hand network's inference path: backbone -> HFA -> MHF -> MTED -> heads -> PJ.

CM is training-only and lives in model/cm.py; nothing here imports it, so inference needs none
of the CLIP dependencies.
"""

from __future__ import annotations

import torch
from torch import nn

from cliphand.hand import HandModel, load_hand_model
from cliphand.hand.coarse import CAMERA_TOKEN, JOINT_TOKENS, PROGRESSIVE_HOPS, VERTEX_TOKENS
from cliphand.hand.gestures import frontal_hand, gesture_templates
from cliphand.model.config import ModelConfig
from cliphand.model.hfa import HFA
from cliphand.model.mhf import MHF
from cliphand.model.mted import MTED
from cliphand.model.pat import build_pat
from cliphand.model.pj import PJ

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_config_hand(config: ModelConfig) -> HandModel:
    """The hand model a config names ("openhand" or "mano:PATH")."""
    if config.hand_model.startswith("mano:"):
        return load_hand_model("mano", path=config.hand_model[len("mano:") :])
    return load_hand_model("openhand")


class CLIPHand(nn.Module):
    """image (B, 3, S, S) RGB in [0, 1] -> dict of
    joints (B, 21, 3) root-relative metres (after PJ when enabled), joints_before_pj (B, 21, 3),
    coarse_vertices (B, 195, 3), vertices (B, N, 3) with the wrist the hand model regresses from
    them at the origin, camera (B, 3) weak perspective
    (scale, tx, ty) mapping x, y to crop coordinates in [-1, 1], heatmaps (B, 216, S/4, S/4) or
    None, global_feature (B, C), template_weights (B, 19) or None.
    """

    def __init__(self, config: ModelConfig, hand: HandModel | None = None, pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        hand = hand or load_config_hand(config)
        self.hand_name = hand.name
        coarse = hand.coarse
        self.register_buffer("upsample", torch.as_tensor(coarse.upsample, dtype=torch.float32))  # (N, 195)
        # For the losses: joints regressed from a mesh, and the coarse vertices of a full mesh.
        self.register_buffer("joint_regressor", hand.joint_regressor.clone(), persistent=False)  # (16, N)
        self.register_buffer("tip_vertex_ids", hand.tip_vertex_ids.clone(), persistent=False)  # (5,)
        self.register_buffer("coarse_ids", torch.as_tensor(coarse.vertex_ids), persistent=False)  # (195,)
        self.register_buffer("faces", hand.faces.clone(), persistent=False)  # (F, 3), for meshes and overlays
        self.backbone = build_backbone(config, pretrained)
        mean, std = getattr(self.backbone, "mean", IMAGENET_MEAN), getattr(self.backbone, "std", IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).reshape(1, 3, 1, 1), persistent=False)
        dims = self.backbone.dims
        token_dim = config.mted_dims[0]
        self.hfa = HFA(
            dims, config.hfa_dim, enabled=config.hfa, mlp_ratio=config.hfa_mlp_ratio, stage_dim=config.hfa_stage_dim
        )
        self.mhf = MHF(config.hfa_dim, dims[-1], token_dim, enabled=config.mhf)
        masks = None
        if config.masks and config.mted:
            masks = torch.stack([torch.as_tensor(coarse.attention_mask(k)) for k in PROGRESSIVE_HOPS])
        num_memory = (config.image_size // 32) ** 2
        self.mted = MTED(
            dims[-1], num_memory, config.mted_dims, config.mted_ff_dims, config.mted_heads,
            config.mted_encoder_layers, config.mted_decoder_layers, config.dropout, masks, enabled=config.mted,
        )  # fmt: skip
        out = self.mted.out_dim
        self.camera_head = nn.Linear(out, 3)
        self.joint_head = nn.Linear(out, 3)
        self.vertex_head = nn.Linear(out, 3)
        # Start at the mean hand and the data's camera: the heads predict offsets from a frontal
        # no_gesture hand, and the scale is s0 * exp(d), so it stays positive and in range.
        mean_joints, mean_vertices = frontal_hand(hand)
        self.register_buffer("mean_joints", mean_joints.float())  # (21, 3)
        self.register_buffer("mean_coarse", mean_vertices[coarse.vertex_ids].float())  # (195, 3)
        for head in (self.camera_head, self.joint_head, self.vertex_head):
            nn.init.normal_(head.weight, std=1e-4)  # outputs within ~1 mm of the mean hand
            nn.init.zeros_(head.bias)
        self.pj = PJ(gesture_templates(hand), config.pj_dim) if config.pj else None

    def features(self, image: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone((image - self.mean) / self.std)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor | None]:
        features = self.features(image)
        f4 = features[-1]
        global_feature = f4.mean((2, 3))
        hr = self.hfa(features)
        queries, heatmaps = self.mhf(hr, global_feature)
        tokens = self.mted(f4.flatten(2).transpose(1, 2), queries)  # (B, 217, out)
        # The losses see root-relative coordinates only, so each head's absolute offset is free:
        # put the wrist at the origin in both, or the mesh and the skeleton drift apart.
        joints = self.mean_joints + self.joint_head(tokens[:, JOINT_TOKENS])
        joints = joints - joints[:, :1]
        coarse = self.mean_coarse + self.vertex_head(tokens[:, VERTEX_TOKENS])
        vertices = torch.einsum("nc,bcd->bnd", self.upsample, coarse)
        wrist = torch.einsum("n,bnd->bd", self.joint_regressor[0], vertices)[:, None]  # regressor row 0: wrist
        coarse, vertices = coarse - wrist, vertices - wrist  # upsampling rows sum to 1: the same shift
        raw = self.camera_head(tokens[:, CAMERA_TOKEN])[:, 0]
        camera = torch.cat([self.config.camera_scale * raw[:, :1].clamp(-10, 10).exp(), raw[:, 1:]], -1)
        refined, weights = (joints, None) if self.pj is None else self.pj(joints)
        if self.pj is not None:
            refined = refined - refined[:, :1]
        return {
            "joints": refined,
            "joints_before_pj": joints,
            "coarse_vertices": coarse,
            "vertices": vertices,
            "camera": camera,
            "heatmaps": heatmaps,
            "global_feature": global_feature,
            "template_weights": weights,
        }

    def regress_joints(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) mesh -> (B, 21, 3) joints in FreiHAND order, as the hand model defines them."""
        from cliphand.hand.skeleton import to_freihand_order

        rot_joints = torch.einsum("jn,bnc->bjc", self.joint_regressor, vertices)
        return to_freihand_order(rot_joints, vertices[:, self.tip_vertex_ids])


def root_translation(camera: torch.Tensor, K: torch.Tensor, image_size: int) -> torch.Tensor:
    """Metric position of the wrist from the weak-perspective camera and the crop's K.

    The camera maps root-relative x, y to crop coordinates in [-1, 1] with scale s, i.e. s (S-1)/2
    pixels per metre, which a pinhole camera gives at depth z = 2 f / (s (S - 1)); the wrist
    sits at pixel (t + 1) (S - 1) / 2. camera (B, 3), K (B, 3, 3) -> (B, 3).
    """
    s, t = camera[:, :1].clamp_min(1e-6), camera[:, 1:]
    focal = torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)
    depth = 2 * focal.mean(-1, keepdim=True) / (s * (image_size - 1))
    pixel = (t + 1) * (image_size - 1) / 2
    xy = (pixel - K[:, :2, 2]) * depth / focal
    return torch.cat([xy, depth], -1)


def build_backbone(config: ModelConfig, pretrained: bool = True) -> nn.Module:
    """The config's backbone. pretrained=False skips reading EfficientNet-Lite0's or the landmark
    CNN's pretrained weights (the latter need MediaPipe), for weights a checkpoint brings anyway."""
    dims = config.backbone_dims or (64, 128, 320, 512)
    if config.backbone.startswith("pat_"):
        return build_pat(config.backbone, config.backbone_weights)
    if config.backbone == "hand_landmark":
        from cliphand.model.hand_landmark import HandLandmarkBackbone

        return HandLandmarkBackbone(pretrained, dims)
    from cliphand.model.efficientnet import EfficientNetLite0Backbone

    return EfficientNetLite0Backbone(pretrained, dims)


def build_model(config: ModelConfig, hand: HandModel | None = None, pretrained: bool = True) -> CLIPHand:
    """The inference network for a config (CM, when enabled, is added by training)."""
    return CLIPHand(config, hand, pretrained)
