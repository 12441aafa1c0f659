"""Inference: the HandPoseEstimator API, video with smoothing, ONNX export and runtime.

Inference never imports the CLIP module or any CLIP / sentence-encoder package.
"""

from cliphand.infer.estimator import HandPoseEstimator, HandPrediction

__all__ = ["HandPoseEstimator", "HandPrediction"]
