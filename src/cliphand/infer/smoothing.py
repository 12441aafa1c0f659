"""One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for per-frame joints and vertices.

A low-pass filter whose cut-off frequency rises with the signal's speed: slow motion is
smoothed strongly (less jitter), fast motion lightly (less lag).

    cutoff = min_cutoff + beta * |smoothed derivative|
    alpha(cutoff) = 1 / (1 + 1 / (2 pi cutoff dt))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class OneEuroSettings:
    """min_cutoff (Hz): smoothing at rest (lower = smoother, more lag). beta: how fast the
    cut-off grows with speed (higher = less lag in fast motion). d_cutoff (Hz): smoothing of
    the speed estimate."""

    min_cutoff: float = 1.0
    beta: float = 0.5
    d_cutoff: float = 1.0


class OneEuroFilter:
    """Filters arrays of any fixed shape, element-wise, frame by frame."""

    def __init__(self, settings: OneEuroSettings | None = None) -> None:
        self.s = settings or OneEuroSettings()
        self.previous: np.ndarray | None = None
        self.derivative: np.ndarray | None = None
        self.time: float | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        """The filtered value at time t (seconds); the first call passes the value through."""
        value = np.asarray(value, dtype=np.float64)
        if self.previous is None or self.time is None or t <= self.time:
            self.previous, self.derivative, self.time = value.copy(), np.zeros_like(value), t
            return value.copy()
        dt = t - self.time
        raw_derivative = (value - self.previous) / dt
        a_d = self._alpha(self.s.d_cutoff, dt)
        self.derivative = a_d * raw_derivative + (1 - a_d) * self.derivative
        cutoff = self.s.min_cutoff + self.s.beta * np.abs(self.derivative)
        a = self._alpha(cutoff, dt)
        self.previous = a * value + (1 - a) * self.previous
        self.time = t
        return self.previous.copy()
