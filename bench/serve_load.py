"""Load on `cliphand serve` over loopback, beside the same work in-process, in one run.

    python bench/serve_load.py [--clients 8] [--seconds 60] [--workers 1] [--checkpoint CKPT]

Starts the server as a subprocess (ONNX Runtime backend, the shipped model unless told), then
prints:
1. `cliphand bench`'s ONNX Runtime batch-1 FPS for the same network (measured first, idle);
2. one photo, one client, sequential: the API round trip beside `HandPoseEstimator.predict` on
   the same image with the same options in this process (median of `--repeats`), for a photo with
   detection and for a hand crop with a given box;
3. `--clients` concurrent clients for `--seconds` posting the hand crop with its box: throughput,
   p50/p90/p99 latency, answers by status, and the server's resident memory before and after.

Clients use keep-alive connections from threads of this process, so they share the 2 cores
with the server, as a real co-located client would.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

import cliphand
from cliphand.infer.bench import timings

WILD = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "wild"


def multipart(fields: dict[str, bytes | str]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
        if isinstance(value, bytes):
            parts.append(f'{head}; filename="{name}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode() + value)
        else:
            parts.append(f"{head}\r\n\r\n{value}".encode())
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(conn: http.client.HTTPConnection, body: bytes, content_type: str) -> int:
    conn.request("POST", "/api/v1/predict", body, {"Content-Type": content_type})
    response = conn.getresponse()
    response.read()
    return response.status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(port: int, checkpoint: Path, workers: int, queue: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "cliphand", "serve", "--port", str(port), "--checkpoint", str(checkpoint),
               "--workers", str(workers), "--queue", str(queue), "--backend", "onnx"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300  # the first start exports the model to ONNX
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not answer /healthz within 300 s")


def median_ms(run, repeats: int) -> float:
    return timings(run, repeats)["median_ms"]


def test_images() -> tuple[bytes, bytes, str]:
    """(a photo for detection, a hand crop, the crop's box), as JPEG bytes."""
    from cliphand.hand import load_hand_model
    from cliphand.synth.generator import Generator, SynthConfig

    generator = Generator(load_hand_model("openhand"), SynthConfig(view_spread_deg=25, occluder_prob=0.0), seed=5)
    crop = jpeg(generator.sample(1).image)
    photos = sorted(WILD.glob("*.jpg")) if WILD.is_dir() else []
    if photos:
        return photos[0].read_bytes(), crop, "0,0,224,224"
    frame = np.full((480, 640, 3), 90, np.uint8)  # no real photo here: a synthetic hand in a larger frame
    frame[128:352, 208:432] = generator.sample(0).image
    return jpeg(frame), crop, "0,0,224,224"


def jpeg(image: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def load(port: int, body: bytes, content_type: str, clients: int, seconds: float) -> tuple[list[float], Counter]:
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                status = post(conn, body, content_type)
            except OSError as exc:
                status = type(exc).__name__
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)
                statuses[status] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers")
    parser.add_argument("--queue", type=int, default=8, help="the server's --queue")
    parser.add_argument("--repeats", type=int, default=30, help="sequential requests for the round-trip figure")
    args = parser.parse_args()
    checkpoint = args.checkpoint or cliphand.default_checkpoint()
    threads = os.cpu_count() or 1
    print(f"{checkpoint.name}, {threads} cores, server workers {args.workers}, queue {args.queue}")

    from cliphand.infer import HandPoseEstimator
    from cliphand.infer.bench import benchmark
    from cliphand.infer.onnx import OnnxHandModel, cached_onnx_export
    from cliphand.model.checkpoint import load_model_from_checkpoint

    model = load_model_from_checkpoint(checkpoint)
    onnx_fps = benchmark(model, model.config.image_size, runs=50, batches=(1,))["backends"]["onnxruntime"]["1"]["fps"]
    print(f"cliphand bench, ONNX Runtime batch 1: {onnx_fps:.1f} FPS")

    photo, crop, box = test_images()
    # The server's loader: the same cached ONNX file, the cores split between its workers.
    runtime = OnnxHandModel(cached_onnx_export(checkpoint), threads=max(1, threads // args.workers))
    estimator = HandPoseEstimator(runtime, runtime.faces, runtime.image_size, "onnx")
    photo_array = np.asarray(Image.open(BytesIO(photo)).convert("RGB"))
    crop_array = np.asarray(Image.open(BytesIO(crop)).convert("RGB"))
    from cliphand.serve.app import predict_record

    in_process = {
        "photo, detected": median_ms(
            lambda: predict_record(estimator, photo_array, None, None, 4, False), args.repeats
        ),
        "hand crop, --bbox": median_ms(
            lambda: predict_record(estimator, crop_array, [0, 0, 224, 224], None, 4, False), args.repeats
        ),
    }

    port = free_port()
    server = start_server(port, checkpoint, args.workers, args.queue)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        bodies = {
            "photo, detected": multipart({"image": photo}),
            "hand crop, --bbox": multipart({"image": crop, "bbox": box}),
        }
        print("\none request at a time (median of", args.repeats, "):")
        print("| input | in-process ms | API round trip ms | ratio (target <= 1.3) |\n|---|---|---|---|")
        for name, (body, content_type) in bodies.items():
            api = median_ms(lambda b=body, c=content_type: post(conn, b, c), args.repeats)
            print(f"| {name} | {in_process[name]:.1f} | {api:.1f} | {api / in_process[name]:.2f}x |")

        body, content_type = bodies["hand crop, --bbox"]
        memory_start = rss_mb(server.pid)
        latencies, statuses = load(port, body, content_type, args.clients, args.seconds)
        memory_end = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    ok = statuses.get(200, 0)
    fps = ok / args.seconds
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    print(f"\n{args.clients} clients for {args.seconds:g} s, hand crop with --bbox:")
    print(f"answers by status: {dict(sorted(statuses.items(), key=str))}")
    print(f"latency p50 {q(0.5):.0f} ms, p90 {q(0.9):.0f} ms, p99 {q(0.99):.0f} ms")
    print(f"throughput {fps:.1f} answered/s = {fps / onnx_fps:.2f}x cliphand bench's ONNX batch-1 FPS (target >= 0.8)")
    growth = (memory_end - memory_start) / memory_start * 100
    print(f"server memory {memory_start:.0f} MB -> {memory_end:.0f} MB ({growth:+.1f} %, target < 10 %)")
    server_errors = {s: n for s, n in statuses.items() if isinstance(s, int) and s >= 500 and s != 503}
    print("5xx other than 503:", server_errors or "none")


if __name__ == "__main__":
    main()
