"""`cliphand bench`: size, cost and speed of a network in the paper's Table 3 columns, for
PyTorch eager and ONNX Runtime, next to this machine's measured matmul rate."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Measured float32 matrix-multiply rate (GFLOP/s) of this machine, with torch's threads."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def timings(run, runs: int) -> dict[str, float]:
    """Median and p90 milliseconds of `runs` calls of run(), after one warm-up call."""
    run()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[min(len(times) - 1, int(0.9 * len(times)))]}


def benchmark(model: torch.nn.Module, image_size: int, runs: int = 10, batches: tuple[int, ...] = (1, 8),
              onnx: bool = True) -> dict[str, Any]:  # fmt: skip
    """Params, GFLOPs per image, latency (median, p90) and FPS per backend and batch size."""
    model = model.to(memory_format=torch.channels_last).eval()  # the layout checkpoints load in
    x1 = torch.rand(1, 3, image_size, image_size)
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            model(x1)
    gflops = counter.get_total_flops() / 1e9
    rate = matmul_gflops()
    result: dict[str, Any] = {
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "gflops": round(gflops, 2),
        "threads": torch.get_num_threads(),
        "matmul_gflops_per_s": round(rate, 1),
        "flop_bound_ms": round(gflops / rate * 1000, 1),
        "backends": {},
    }
    with torch.no_grad():
        for batch in batches:
            x = torch.rand(batch, 3, image_size, image_size)
            t = timings(lambda x=x: model(x), runs)
            result["backends"].setdefault("pytorch", {})[str(batch)] = _with_fps(t, batch)
    if onnx:
        result["backends"].update(_onnx_timings(model, image_size, runs, batches))
    return result


def _with_fps(t: dict[str, float], batch: int) -> dict[str, float]:
    return {
        "median_ms": round(t["median_ms"], 1),
        "p90_ms": round(t["p90_ms"], 1),
        "fps": round(batch * 1000 / t["median_ms"], 1),
    }


def _onnx_timings(model: torch.nn.Module, image_size: int, runs: int, batches: tuple[int, ...]) -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except ImportError:
        return {"onnxruntime": "not installed (pip install 'cliphand[onnx]')"}
    from cliphand.infer.onnx import export_model

    with tempfile.TemporaryDirectory() as tmp:
        path = export_model(model, Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        x = torch.rand(2, 3, image_size, image_size)
        with torch.no_grad():
            expected = model(x)
        joints, vertices = session.run(["joints", "vertices"], {"image": x.numpy()})
        out: dict[str, Any] = {
            "max_abs_diff_m": float(
                max(abs(joints - expected["joints"].numpy()).max(), abs(vertices - expected["vertices"].numpy()).max())
            )
        }
        for batch in batches:
            x = torch.rand(batch, 3, image_size, image_size).numpy()
            t = timings(lambda x=x: session.run(None, {"image": x}), runs)
            out[str(batch)] = _with_fps(t, batch)
    return {"onnxruntime": out}


def format_bench(name: str, r: dict[str, Any]) -> str:
    lines = [f"{name}: {r['params_m']} M params, {r['gflops']} GFLOPs per image, {r['threads']} threads",
             f"matmul rate {r['matmul_gflops_per_s']} GFLOP/s -> FLOP-bound latency {r['flop_bound_ms']} ms per image",
             "| backend | batch | median ms | p90 ms | FPS |", "|---|---|---|---|---|"]  # fmt: skip
    for backend, per_batch in r["backends"].items():
        if isinstance(per_batch, str):
            lines.append(f"| {backend} | {per_batch} | | | |")
            continue
        for batch, t in per_batch.items():
            if isinstance(t, dict):
                lines.append(f"| {backend} | {batch} | {t['median_ms']} | {t['p90_ms']} | {t['fps']} |")
    onnx = r["backends"].get("onnxruntime")
    if isinstance(onnx, dict):
        pytorch = r["backends"]["pytorch"]
        speedups = ", ".join(f"batch {b} {pytorch[b]['median_ms'] / onnx[b]['median_ms']:.2f}x" for b in pytorch)
        lines.append(f"ONNX Runtime vs PyTorch: {speedups}; joints/vertices agree to {onnx['max_abs_diff_m']:.1e} m")
        bound = onnx["1"]["median_ms"] / r["flop_bound_ms"]
        lines.append(f"ONNX Runtime batch 1 is {bound:.2f}x the FLOP-bound latency")
    return "\n".join(lines)
