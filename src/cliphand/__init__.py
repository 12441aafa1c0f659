"""cliphand: CLIP-Hand 3D hand pose estimation and mesh recovery."""

__version__ = "0.1.0"
