"""A fixed pool of loaded models that requests borrow, with a bounded queue and a timeout.

Each worker thread owns one HandPoseEstimator (ONNX Runtime and PyTorch both release the GIL
while they compute, so N threads run N predictions at once). Admission is counted from the
moment a request asks until its work has really finished, even if the client gave up after a
timeout, so overload is answered with 503 instead of piling work up in memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from cliphand.infer.estimator import HandPoseEstimator
from cliphand.infer.onnx import cached_onnx_export

log = logging.getLogger("cliphand.serve")
T = TypeVar("T")


class Busy(RuntimeError):
    """Every worker is busy and the queue is full."""


class TimedOut(RuntimeError):
    """The prediction took longer than the per-request timeout."""


class ModelPool:
    def __init__(self, checkpoint: str | Path, workers: int = 1, backend: str = "auto", queue_size: int = 8,
                 timeout_s: float = 30.0) -> None:  # fmt: skip
        if workers < 1 or queue_size < 0 or timeout_s <= 0:
            raise ValueError("workers >= 1, queue >= 0 and timeout > 0 are required")
        self.workers, self.queue_size, self.timeout_s = workers, queue_size, timeout_s
        self.backend = _pick_backend(backend)
        threads = max(1, (os.cpu_count() or 1) // workers)
        model_path = cached_onnx_export(checkpoint) if self.backend == "onnx" else Path(checkpoint)
        self._free: queue.Queue[HandPoseEstimator] = queue.Queue()
        for _ in range(workers):
            self._free.put(_load(model_path, self.backend, threads))
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="cliphand-model")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests running or waiting for a worker."""
        return self._admitted

    async def run(self, work: Callable[[HandPoseEstimator], T]) -> T:
        """work(estimator) on a free worker. Raises Busy or TimedOut."""
        with self._lock:
            if self._admitted >= self.workers + self.queue_size:
                raise Busy(f"all {self.workers} workers are busy and {self.queue_size} requests are waiting")
            self._admitted += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._borrow, work)
        future.add_done_callback(self._release)  # when the work ends, not when the client stops waiting
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            raise TimedOut(f"the prediction took longer than {self.timeout_s:g} s") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _borrow(self, work: Callable[[HandPoseEstimator], T]) -> T:
        estimator = self._free.get()
        try:
            return work(estimator)
        finally:
            self._free.put(estimator)

    def _release(self, _future) -> None:
        with self._lock:
            self._admitted -= 1


def _pick_backend(backend: str) -> str:
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(f"backend must be auto, onnx or torch, got {backend!r}")
    if backend != "auto":
        return backend
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnx"


def _load(path: Path, backend: str, threads: int) -> HandPoseEstimator:
    if backend == "onnx":
        from cliphand.infer.onnx import OnnxHandModel

        runtime = OnnxHandModel(path, threads=threads)
        return HandPoseEstimator(runtime, runtime.faces, runtime.image_size, "onnx")
    import torch

    torch.set_num_threads(threads)
    return HandPoseEstimator.from_checkpoint(path)
