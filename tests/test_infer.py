import numpy as np
import pytest
from batches import tiny_checkpoint
from PIL import Image

from cliphand.hand import load_hand_model
from cliphand.infer import HandPoseEstimator
from cliphand.infer.estimator import InferenceError, load_image


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", layer_scale=0.5)


@pytest.fixture(scope="module")
def estimator(checkpoint):
    return HandPoseEstimator.from_checkpoint(checkpoint)


def _photo(h, w, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    return (rng.random(shape) * 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(97, 131, 3), (240, 160, 1), (120, 120, 4)])
def test_any_size_grayscale_and_rgba(estimator, shape):
    h, w, c = shape
    pred = estimator.predict(_photo(h, w, c), bbox=(10, 12, 50, 60))
    assert pred.joints_3d.shape == (21, 3) and pred.joints_2d.shape == (21, 2)
    assert pred.vertices.shape[1] == 3 and pred.faces.shape[1] == 3
    assert np.isfinite(pred.joints_3d).all() and 0.0 <= pred.confidence <= 1.0
    # 2D joints are the projection of the 3D joints with the input image's intrinsics.
    uvw = pred.joints_3d @ pred.K.T
    np.testing.assert_allclose(pred.joints_2d, uvw[:, :2] / uvw[:, 2:], rtol=1e-6)
    # The mesh sits on the skeleton: the wrist the hand model regresses from it is the predicted wrist.
    wrist_regressor = load_hand_model("openhand").joint_regressor[0].numpy()
    np.testing.assert_allclose(wrist_regressor @ pred.vertices, pred.joints_3d[0], atol=1e-5)


def test_box_partly_outside_the_image_and_no_box(estimator):
    pred = estimator.predict(_photo(100, 100), bbox=(-30, 70, 60, 60))
    assert np.isfinite(pred.joints_2d).all()
    whole = estimator.predict(_photo(80, 90), detect=False)  # the whole image is the crop, no box
    assert whole.bbox is None and np.isfinite(whole.joints_3d).all()
    with pytest.raises(InferenceError, match="positive width"):
        estimator.predict(_photo(50, 50), bbox=(0, 0, 0, 10))


def test_left_hand_is_the_mirror_of_the_flipped_right_hand(estimator):
    image = _photo(120, 160, seed=3)
    box = (30, 20, 70, 80)
    left = estimator.predict(image, bbox=box, is_left=True)
    flipped_box = (160 - box[0] - box[2], box[1], box[2], box[3])
    right = estimator.predict(np.ascontiguousarray(image[:, ::-1]), bbox=flipped_box)
    np.testing.assert_allclose(left.joints_3d, right.joints_3d * [-1, 1, 1], atol=1e-5)
    np.testing.assert_allclose(left.joints_2d[:, 0], 159 - right.joints_2d[:, 0], atol=1e-3)
    assert left.is_left and not right.is_left


def test_batch_equals_single(estimator):
    images = [_photo(100, 120, seed=s) for s in range(3)]
    boxes = [(10, 10, 60, 60), (20, 5, 50, 70), (0, 0, 100, 100)]
    batch = estimator.predict_batch(images, boxes)
    for image, box, pred in zip(images, boxes, batch, strict=True):
        np.testing.assert_allclose(estimator.predict(image, bbox=box).joints_3d, pred.joints_3d, atol=1e-5)


def test_bad_images(tmp_path, estimator):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InferenceError, match="cannot read image .*broken.jpg"):
        estimator.predict(bad, bbox=(0, 0, 10, 10))
    with pytest.raises(InferenceError, match="image not found"):
        load_image(tmp_path / "nope.png")
    Image.fromarray(_photo(40, 50)).save(tmp_path / "ok.png")
    assert load_image(tmp_path / "ok.png").shape == (40, 50, 3)


def test_onnx_matches_pytorch(checkpoint, estimator, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from cliphand.infer.onnx import export_onnx

    path = export_onnx(checkpoint, tmp_path / "tiny.onnx")
    onnx_estimator = HandPoseEstimator.from_checkpoint(path, backend="onnx")
    images = [_photo(100, 120, seed=s) for s in range(2)]
    boxes = [(10, 10, 60, 60), (20, 5, 50, 70)]
    for a, b in zip(estimator.predict_batch(images, boxes), onnx_estimator.predict_batch(images, boxes), strict=True):
        np.testing.assert_allclose(a.joints_3d, b.joints_3d, atol=1e-4)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-4)
        np.testing.assert_allclose(a.camera, b.camera, atol=1e-4)


def test_predict_cli_processes_good_inputs_and_reports_bad_ones(checkpoint, tmp_path, capsys):
    from cliphand.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_photo(90, 110, seed=i)).save(folder / f"hand{i}.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    code = main(["predict", str(folder), "--checkpoint", str(checkpoint), "--out", str(out), "--bbox", "10,10,60,60"])
    assert code == 1  # one input failed
    assert "broken.jpg" in capsys.readouterr().err
    import json

    record = json.loads((out / "hand0.json").read_text())
    assert (record["image"], record["width"], record["height"]) == ("hand0.png", 110, 90)
    (hand,) = record["hands"]  # a box: exactly that hand
    for key in ("joints_3d", "joints_2d", "vertices", "camera", "confidence", "handedness", "score", "bbox"):
        assert key in hand
    assert hand["bbox"] == [10, 10, 60, 60] and hand["handedness"] == "right" and hand["score"] is None
    assert np.asarray(hand["joints_3d"]).shape == (21, 3) and np.asarray(hand["joints_2d"]).shape == (21, 2)
    assert (out / "hand1_hand0.obj").exists() and (out / "hand1_overlay.png").exists()
    page = (out / "index.html").read_text()
    assert "hand0_overlay.png" in page and "broken.jpg" in page
    assert main(["predict", str(folder / "hand0.png"), "--checkpoint", str(checkpoint), "--out", str(out),
                 "--bbox", "1,2,3"]) == 2  # fmt: skip


def test_bench_reports_both_backends_and_their_agreement(capsys):
    pytest.importorskip("onnxruntime")
    import json

    from cliphand.cli import main

    assert main(["bench", "--config", "tiny", "--runs", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params_m"] > 1 and result["gflops"] > 0.1 and result["matmul_gflops_per_s"] > 0
    for backend in ("pytorch", "onnxruntime"):
        for batch in ("1", "8"):
            timing = result["backends"][backend][batch]
            assert 0 < timing["median_ms"] <= timing["p90_ms"]
            assert timing["fps"] == pytest.approx(
                int(batch) * 1000 / timing["median_ms"], rel=0.01, abs=0.06
            )  # 1 decimal
    assert result["backends"]["onnxruntime"]["max_abs_diff_m"] < 1e-4
    from cliphand.infer.bench import format_bench

    text = format_bench("tiny", result)
    assert "| onnxruntime | 8 |" in text and "FLOP-bound latency" in text


def test_predict_flags_bad_images_and_keeps_going(checkpoint, tmp_path, capsys):
    import json

    from cliphand.cli import main

    folder = tmp_path / "in"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    Image.fromarray(_photo(90, 110, seed=1)).save(folder / "a" / "x.png")
    Image.fromarray(_photo(90, 110, seed=2)).save(folder / "b" / "x.jpg")
    Image.fromarray(_photo(1, 1)).save(folder / "tiny.png")
    Image.new("1", (15000, 15000)).save(folder / "bomb.png")  # 225 M pixels, a few kB on disk
    args = ["--checkpoint", str(checkpoint), "--bbox", "10,10,60,60"]
    inputs = [
        str(folder / "a" / "x.png"),
        str(folder / "b" / "x.jpg"),
        str(folder / "tiny.png"),
        str(folder / "bomb.png"),
    ]
    out = tmp_path / "out"
    assert main(["predict", *inputs, "--out", str(out), *args]) == 1
    err = capsys.readouterr().err
    assert "tiny.png is 1x1 pixels: too small" in err and "over 100,000,000 pixels" in err and "Traceback" not in err
    # Two inputs named x: two outputs, neither overwritten; every JSON file is strict JSON.
    assert {p.name for p in out.glob("*.json")} == {"x.json", "x_2.json"}
    for path in out.glob("*.json"):
        json.loads(path.read_text(), parse_constant=lambda c, p=path: pytest.fail(f"{p} holds {c}"))
    # A box entirely outside the image is that input's error, not a black crop.
    assert (
        main(["predict", inputs[0], "--out", str(out), "--checkpoint", str(checkpoint), "--bbox", "500,500,20,20"]) == 1
    )
    assert "lies outside the 110x90 image" in capsys.readouterr().err
    # --out the input folder: the overlays written there are not read back as inputs.
    assert main(["predict", str(folder / "a"), "--out", str(folder / "a"), *args]) == 0
    assert main(["predict", str(folder / "a"), "--out", str(folder / "a"), *args]) == 0
    assert sorted(p.name for p in (folder / "a").glob("*.json")) == ["x.json"]


def test_intrinsics_place_the_hand_and_keep_the_2d_joints(estimator):
    """A known K moves the hand in metres (the wrist's depth follows the focal length), not on the image."""
    image, box = _photo(120, 160, seed=4), (40, 30, 60, 70)
    K = np.array([[300.0, 0.0, 70.0], [0.0, 300.0, 55.0], [0.0, 0.0, 1.0]])
    base = estimator.predict(image, bbox=box, intrinsics=K)
    np.testing.assert_array_equal(base.K, K)
    longer = estimator.predict(image, bbox=box, intrinsics=K * [[2, 1, 1], [1, 2, 1], [1, 1, 1]])
    np.testing.assert_allclose(longer.joints_3d[0], base.joints_3d[0] * [1, 1, 2], rtol=1e-4)  # cx, cy unchanged
    np.testing.assert_allclose(longer.joints_2d[0], base.joints_2d[0], atol=1e-3)
    as_focal = estimator.predict(image, bbox=box, focal=300.0)  # same focal, principal point at the centre
    np.testing.assert_allclose(as_focal.joints_2d[0], base.joints_2d[0], atol=1e-3)
    np.testing.assert_allclose(as_focal.joints_3d[:, 2], base.joints_3d[:, 2], rtol=1e-4)
    assert not np.allclose(as_focal.joints_3d[0, :2], base.joints_3d[0, :2], atol=1e-3)  # the principal point counts
    for bad in ([[0, 0, 0], [0, 300, 55], [0, 0, 1]], [[300, 0, 70], [0, 300, 55]], [[np.nan] * 3] * 3):
        with pytest.raises(InferenceError, match="3x3 camera matrix"):
            estimator.predict(image, bbox=box, intrinsics=bad)
    with pytest.raises(InferenceError, match="not both"):
        estimator.predict(image, bbox=box, intrinsics=K, focal=300.0)


def test_predict_reads_intrinsics_files(checkpoint, tmp_path, capsys):
    import json

    from cliphand.cli import main

    for name, seed in (("a.png", 1), ("b.png", 2)):
        Image.fromarray(_photo(90, 110, seed=seed)).save(tmp_path / name)
    inputs = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    args = ["--checkpoint", str(checkpoint), "--bbox", "10,10,60,60", "--out"]
    K_a, K_b = [[200.0, 0, 50], [0, 200.0, 40], [0, 0, 1]], [[400.0, 0, 60], [0, 400.0, 45], [0, 0, 1]]
    forms = {"one": K_a, "list": [K_a, K_b], "names": {"b.png": K_b, "a.png": K_a}}
    for form, content in forms.items():
        (tmp_path / f"{form}.json").write_text(json.dumps(content))
        assert (
            main(["predict", *inputs, *args, str(tmp_path / form), "--intrinsics", str(tmp_path / f"{form}.json")]) == 0
        )
        a = json.loads((tmp_path / form / "a.json").read_text())
        b = json.loads((tmp_path / form / "b.json").read_text())
        assert a["K"] == K_a and b["K"] == (K_a if form == "one" else K_b)
    bad = {"short.json": [K_a], "missing.json": {"a.png": K_a}, "broken.json": "{", "nan.json": [[1, 0, 0]] * 3}
    for name, content in bad.items():
        (tmp_path / name).write_text(content if isinstance(content, str) else json.dumps(content))
        capsys.readouterr()
        assert main(["predict", *inputs, *args, str(tmp_path / "x"), "--intrinsics", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("cliphand: error:") and err.count("\n") == 1, (name, err)
    assert main(["predict", inputs[0], *args, str(tmp_path / "y"), "--intrinsics", str(tmp_path / "one.json"),
                 "--focal", "500"]) == 2  # fmt: skip
