"""cliphand: CLIP-Hand 3D hand pose estimation and mesh recovery."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `from cliphand import HandPoseEstimator` without importing torch for every `import cliphand`.
    if name == "HandPoseEstimator":
        from cliphand.infer import HandPoseEstimator

        return HandPoseEstimator
    raise AttributeError(f"module 'cliphand' has no attribute {name!r}")
