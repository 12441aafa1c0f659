import asyncio
import io
import tempfile
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
from batches import tiny_checkpoint  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from cliphand.hand.meshio import load_mesh  # noqa: E402
from cliphand.model import load_config  # noqa: E402
from cliphand.serve.app import ServeSettings, create_app  # noqa: E402
from cliphand.serve.pool import Busy, ModelPool, TimedOut  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def client(checkpoint):
    settings = ServeSettings(checkpoint=str(checkpoint), workers=2, backend="torch", max_upload_mb=2.0)
    with TestClient(create_app(settings)) as c:
        yield c


def _jpeg(h=120, w=160, seed=0) -> bytes:
    pixels = (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def _predict(client, data: bytes, **fields):
    return client.post("/api/v1/predict", files={"image": ("x.jpg", data, "image/jpeg")}, data=fields)


def test_page_info_and_health(client):
    page = client.get("/")
    assert page.status_code == 200 and "static/viewer.js" in page.text and "static/page.js" in page.text
    for name in ("viewer.js", "page.js"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404
    info = client.get("/api/v1/info").json()
    assert info["version"] and info["backend"] == "torch" and info["workers"] == 2
    assert info["config"] == "tiny" and info["parameters"] > 100_000 and info["hand_model"] == "openhand"
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/api/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_predict_returns_the_cli_json_and_mirrors_left_hands(client):
    image = _jpeg(seed=1)
    right = _predict(client, image, bbox="40,30,60,70")
    assert right.status_code == 200, right.text
    record = right.json()
    assert (record["width"], record["height"]) == (160, 120) and len(record["hands"]) == 1
    hand = record["hands"][0]
    assert hand["handedness"] == "right" and hand["score"] is None and hand["bbox"] == [40, 30, 60, 70]
    assert np.asarray(hand["joints_3d"]).shape == (21, 3) and np.asarray(hand["joints_2d"]).shape == (21, 2)
    assert np.asarray(record["faces"]).shape == (3196, 3) and len(hand["vertices"]) == 1609
    left = _predict(client, image, bbox="40,30,60,70", left="true").json()["hands"][0]
    flipped = Image.open(io.BytesIO(image)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    flipped.save(buffer, "PNG")  # lossless: the same pixels, mirrored
    mirrored = _predict(client, buffer.getvalue(), bbox="60,30,60,70").json()["hands"][0]
    assert left["handedness"] == "left"
    np.testing.assert_allclose(np.asarray(left["joints_3d"]) * [-1, 1, 1], mirrored["joints_3d"], atol=2e-3)


def test_no_hand_gives_an_empty_list(client):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    response = _predict(client, _jpeg(200, 300, seed=2))
    assert response.status_code == 200 and response.json()["hands"] == []


def test_left_sets_the_side_of_every_detected_hand(client):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    from batches import two_hand_scene

    buffer = io.BytesIO()
    Image.fromarray(two_hand_scene()[0]).save(buffer, "PNG")
    sides = {}
    for left in (None, "false", "true"):
        fields = {} if left is None else {"left": left}
        sides[left] = sorted(h["handedness"] for h in _predict(client, buffer.getvalue(), **fields).json()["hands"])
    assert sides == {None: ["left", "right"], "false": ["right", "right"], "true": ["left", "left"]}


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (15000, 15000)).save(buffer, "PNG")  # 225 M pixels in a few kB
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make, fields, status, message",
    [
        (lambda: b"not an image at all", {}, 400, "not a readable image"),
        (lambda: _jpeg()[:300], {}, 400, "not a readable image"),
        (lambda: b"", {}, 400, "empty"),
        (lambda: _jpeg(1, 1), {}, 400, "too small"),
        (_bomb, {}, 400, "pixel limit"),
        (lambda: _jpeg(), {"bbox": "nan,0,10,10"}, 400, "bbox must be"),
        (lambda: _jpeg(), {"bbox": "1,2,3"}, 400, "bbox must be"),
        (lambda: _jpeg(), {"bbox": "500,500,10,10"}, 400, "outside"),
        (lambda: _jpeg(), {"bbox": "5,5,20,20", "focal": "-3"}, 400, "focal must be"),
        (lambda: _jpeg(), {"bbox": "5,5,20,20", "max_hands": "0"}, 400, "max_hands must be"),
        (lambda: _jpeg(), {"bbox": "5,5,20,20", "left": "maybe"}, 400, "left must be"),
        (lambda: bytes(3 * 2**20), {}, 413, "limit"),
    ],
)
def test_bad_inputs_get_their_status_and_one_line(client, make, fields, status, message):
    response = _predict(client, make(), **fields)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error and "\n" not in error
    assert client.get("/healthz").status_code == 200  # still answering


FORM = "multipart/form-data"


def test_requests_that_are_not_forms(client):
    for response in (
        client.post("/api/v1/predict", content=b"raw bytes", headers={"content-type": "image/jpeg"}),
        client.post(
            "/api/v1/predict", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}
        ),
        client.post("/api/v1/predict", files={"other": ("a.jpg", _jpeg(), "image/jpeg")}),
    ):
        assert response.status_code == 400 and response.json()["error"]


def test_uploads_stay_in_memory(client, monkeypatch):
    opened = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):  # every way a spooled upload reaches disk
        original = getattr(tempfile, name)
        monkeypatch.setattr(tempfile, name, lambda *a, _f=original, _n=name, **k: opened.append(_n) or _f(*a, **k))
    big = _jpeg(1200, 1600, seed=3)  # over 1 MB: a framework's default would spool it to disk
    assert len(big) > 2**20
    assert _predict(client, big, bbox="100,100,400,400").status_code == 200
    assert opened == []


@pytest.mark.parametrize("fmt", [".obj", ".ply", ".glb"])
def test_mesh_download_round_trips(client, tmp_path, fmt):
    record = _predict(client, _jpeg(seed=4), bbox="40,30,60,70").json()
    vertices, faces = record["hands"][0]["vertices"], record["faces"]
    response = client.post("/api/v1/mesh", json={"vertices": vertices, "faces": faces, "format": fmt})
    assert response.status_code == 200
    (tmp_path / f"m{fmt}").write_bytes(response.content)
    v, f = load_mesh(tmp_path / f"m{fmt}")
    np.testing.assert_allclose(v, vertices, atol=1e-5)
    np.testing.assert_array_equal(f, faces)
    bad = client.post("/api/v1/mesh", json={"vertices": [[0, 0, 0]], "faces": [[0, 1, 2]], "format": fmt})
    assert bad.status_code == 400 and "index" in bad.json()["error"]
    assert client.post("/api/v1/mesh", content=b"{").status_code == 400


def test_concurrent_requests_all_answer(client):
    from concurrent.futures import ThreadPoolExecutor

    images = [_jpeg(seed=10 + i) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda im: _predict(client, im, bbox="40,30,60,70"), images))
    assert all(r.status_code == 200 for r in responses)
    joints = [np.asarray(r.json()["hands"][0]["joints_3d"]) for r in responses]
    assert all(not np.allclose(joints[0], j) for j in joints[1:])  # each answer is its own image's


def test_pool_refuses_when_full_and_times_out(checkpoint):
    pool = ModelPool(checkpoint, workers=1, backend="torch", queue_size=1, timeout_s=0.5)

    async def scenario():
        slow = [asyncio.ensure_future(pool.run(lambda _e: time.sleep(0.15))) for _ in range(2)]  # one runs, one waits
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await pool.run(lambda _e: None)
        await asyncio.gather(*slow)
        with pytest.raises(TimedOut):
            await pool.run(lambda _e: time.sleep(1.0))
        assert pool.admitted == 1  # the slow work still holds its worker...
        await asyncio.sleep(0.8)
        assert pool.admitted == 0  # ...until it ends
        assert await pool.run(lambda e: e.size) == load_config("tiny").image_size

    asyncio.run(scenario())
    pool.close()


def test_serve_cli_refuses_bad_settings(capsys):
    from cliphand.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert main(["serve", "--checkpoint", "/no/such.pt"]) == 2
    err = capsys.readouterr().err
    assert "--workers: must be an integer >= 1" in err and "checkpoint not found" in err
