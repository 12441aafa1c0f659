"""cliphand: CLIP-Hand 3D hand pose estimation and mesh recovery."""

from pathlib import Path

__version__ = "0.10.0"

DEFAULT_WEIGHTS = "cliphand_mobile_v15.pt"


def default_checkpoint() -> Path:
    """Path of the pretrained model shipped inside the package (docs/model_card.md)."""
    path = Path(__file__).parent / "weights" / DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"the shipped weights are missing from this install: {path} (reinstall cliphand)")
    return path


def __getattr__(name: str):
    # `from cliphand import HandPoseEstimator` without importing torch for every `import cliphand`.
    if name == "HandPoseEstimator":
        from cliphand.infer import HandPoseEstimator

        return HandPoseEstimator
    raise AttributeError(f"module 'cliphand' has no attribute {name!r}")
