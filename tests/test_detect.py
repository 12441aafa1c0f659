"""Hand detection (MediaPipe, the `detect` extra) and the detect-by-default prediction path."""

import json

import numpy as np
import pytest
from batches import two_hand_scene
from PIL import Image

from cliphand.cli import main


@pytest.fixture(scope="module")
def scene():
    return two_hand_scene()


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_detector_finds_both_hands_with_their_handedness(scene):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    from cliphand.detect import detect_hands

    frame, boxes = scene
    hands = detect_hands(frame)
    assert sorted(h.handedness for h in hands) == ["left", "right"]
    for hand in hands:
        assert _iou(hand.bbox, boxes[hand.handedness]) > 0.3, (hand, boxes)
        assert 0.5 <= hand.score <= 1.0
    assert detect_hands(np.full((240, 320, 3), 128, np.uint8)) == []


def test_predict_cli_detects_every_hand_and_reports_an_empty_photo(scene, tmp_path, capsys):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    frame, _ = scene
    Image.fromarray(frame).save(tmp_path / "two.png")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(tmp_path / "empty.png")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "two.png"), str(tmp_path / "empty.png"), "--out", str(out)]) == 0
    assert "no hand found in" in capsys.readouterr().err
    two = json.loads((out / "two.json").read_text())
    assert sorted(h["handedness"] for h in two["hands"]) == ["left", "right"]
    scores = [h["score"] for h in two["hands"]]
    assert scores == sorted(scores, reverse=True) and (out / "two_hand1.obj").exists()
    assert json.loads((out / "empty.json").read_text())["hands"] == []
    assert main(["predict", str(tmp_path / "two.png"), "--out", str(out), "--max-hands", "1"]) == 0
    assert len(json.loads((out / "two.json").read_text())["hands"]) == 1


def test_a_detected_left_hand_is_the_mirrored_right_hand(scene):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    from cliphand.infer import HandPoseEstimator

    frame, _ = scene
    estimator = HandPoseEstimator.default()
    left = next(h for h in estimator.predict_hands(frame) if h.handedness == "left")
    x, y, w, h = left.bbox
    mirrored = estimator.predict(np.ascontiguousarray(frame[:, ::-1]), bbox=(480 - x - w, y, w, h), is_left=False)
    np.testing.assert_allclose(left.joints_3d * [-1, 1, 1], mirrored.joints_3d, atol=1e-5)


def test_left_and_right_override_the_detectors_handedness_for_images_and_videos(scene, tmp_path):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    frame, _ = scene
    Image.fromarray(frame).save(tmp_path / "two.png")
    clip = _moving_clip(scene, tmp_path / "two.mp4", frames=3)
    for flag, side in (("--right", "right"), ("--left", "left")):
        out = tmp_path / side
        assert main(["predict", str(tmp_path / "two.png"), str(clip), "--out", str(out), flag]) == 0
        hands = json.loads((out / "two.json").read_text())["hands"]
        assert [h["handedness"] for h in hands] == [side, side]
        for line in (out / "two.jsonl").read_text().splitlines():
            assert [h["handedness"] for h in json.loads(line)["hands"]] == [side, side]
    assert main(["predict", str(tmp_path / "two.png"), "--out", str(tmp_path / "x"), "--left", "--right"]) == 2


def test_without_the_extra_the_message_names_it(monkeypatch, tmp_path, capsys):
    import builtins

    import cliphand.detect as detect

    real_import = builtins.__import__

    def no_mediapipe(name, *args, **kwargs):
        if name.startswith("mediapipe"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    monkeypatch.setattr(detect, "_DEFAULT", {})
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'cliphand[detect]'" in err and err.count("\n") == 1


def _moving_clip(scene, path, frames=12):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("imageio_ffmpeg")
    frame, _ = scene
    clip = [np.roll(frame, 2 * k, axis=1) for k in range(frames)]  # both hands drift right
    iio.imwrite(path, np.stack(clip), fps=10, codec="libx264", macro_block_size=1)
    return path


def test_video_tracks_both_hands_with_stable_ids(scene, tmp_path):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    clip = _moving_clip(scene, tmp_path / "two.mp4")
    assert main(["predict", str(clip), "--out", str(tmp_path / "out")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "out" / "two.jsonl").read_text().splitlines()]
    assert len(lines) == 12
    first = {h["track_id"]: h["handedness"] for h in lines[0]["hands"]}
    assert sorted(first) == [0, 1] and sorted(first.values()) == ["left", "right"]
    for line in lines:  # same ids on the same sides in every frame
        assert {h["track_id"]: h["handedness"] for h in line["hands"]} == first, line["frame"]
    wrist_x = [next(h for h in line["hands"] if h["track_id"] == 0)["joints_2d"][0][0] for line in lines]
    assert wrist_x[-1] - wrist_x[0] > 10  # the track follows the hand as it moves


def test_live_on_a_video_file_writes_an_annotated_video(scene, tmp_path, capsys):
    pytest.importorskip("mediapipe", reason="the detect extra is not installed")
    iio = pytest.importorskip("imageio.v3")
    clip = _moving_clip(scene, tmp_path / "cam.mp4")
    out = tmp_path / "annotated.mp4"
    assert main(["live", "--video", str(clip), "--out", str(out), "--no-window", "--redetect-every", "5"]) == 0
    printed = capsys.readouterr().out
    assert "12 frames" in printed and "tracks [0, 1]" in printed and "detector on 3" in printed
    assert iio.imread(out).shape[0] == 12


class _RedSquareDetector:
    """Finds pure-red squares, but like a palm detector at a fixed input size, only in images
    whose longer side is under 500 px."""

    def detect(self, image, max_hands=4):
        from cliphand.detect import HandBox

        if max(image.shape[:2]) >= 500:
            return []
        ys, xs = np.nonzero((image == [255, 0, 0]).all(-1))
        if len(xs) == 0:
            return []
        box = (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))
        return [HandBox(box, 0.9, "right", landmarks_2d=np.array([[xs.min(), ys.min()]], float))]


@pytest.mark.parametrize("corner", [(30, 40), (380, 290), (700, 520)])
def test_small_hands_in_large_photos_are_found_in_tiles_once(corner):
    from cliphand.detect import detect_hands

    frame = np.zeros((600, 800, 3), np.uint8)
    x, y = corner
    frame[y : y + 40, x : x + 30] = [255, 0, 0]  # (380, 290) lies in all four tiles
    hands = detect_hands(frame, detector=_RedSquareDetector())
    assert len(hands) == 1
    assert hands[0].bbox == (x, y, 30, 40) and hands[0].landmarks_2d.tolist() == [[x, y]]
    assert detect_hands(frame, detector=_RedSquareDetector(), tiles=False) == []
    small = np.zeros((240, 320, 3), np.uint8)
    small[y % 200 : y % 200 + 40, x % 290 : x % 290 + 30] = [255, 0, 0]
    found = detect_hands(small, detector=_RedSquareDetector())  # the whole image is searched, no tiles needed
    assert [h.bbox for h in found] == [(x % 290, y % 200, 30, 40)]


class _SmallRedSquareDetector(_RedSquareDetector):
    """Like a palm detector, misses a hand that fills much of the frame: finds a red square only
    when its side is under a third of the image's longer side."""

    def detect(self, image, max_hands=4):
        hands = super().detect(image, max_hands)
        return [h for h in hands if max(h.bbox[2:]) < max(image.shape[:2]) / 3]


def test_a_hand_that_fills_the_frame_is_found_with_a_border_around_the_image():
    from cliphand.detect import detect_hands

    frame = np.zeros((200, 180, 3), np.uint8)
    frame[60:160, 50:140] = [255, 0, 0]  # 90 x 100 px: more than a third of 200
    hands = detect_hands(frame, detector=_SmallRedSquareDetector())
    assert [h.bbox for h in hands] == [(50, 60, 90, 100)]  # in the frame's own pixels
    assert hands[0].landmarks_2d.tolist() == [[50, 60]]
    assert detect_hands(frame, detector=_SmallRedSquareDetector(), zoom_out=False) == []
    assert detect_hands(np.zeros_like(frame), detector=_SmallRedSquareDetector()) == []


class _BigRedSquareMisser:
    """Finds a pure-red square in an image of any size, unless it spans a third of the image's
    longer side or more (the palm detector's weak spot: a hand that fills the frame)."""

    def detect(self, image, max_hands=4):
        from cliphand.detect import HandBox

        ys, xs = np.nonzero((image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] < 60))
        if len(xs) == 0 or max(np.ptp(xs), np.ptp(ys)) + 1 >= max(image.shape[:2]) / 3:
            return []
        box = (float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1))
        return [HandBox(box, 0.9, "right")]


def test_a_large_image_is_scaled_down_inside_its_border_and_boxes_come_back_in_its_pixels():
    from cliphand.detect import ZOOM_OUT_MAX_SIDE, detect_hands

    frame = np.zeros((600, 1100, 3), np.uint8)
    frame[150:530, 400:800] = [255, 0, 0]  # 400 x 380 px: missed whole and in every tile
    seen = []

    class Recording(_BigRedSquareMisser):
        def detect(self, image, max_hands=4):
            seen.append(image.shape[:2])
            return super().detect(image, max_hands)

    hands = detect_hands(frame, detector=Recording())
    assert len(hands) == 1 and np.allclose(hands[0].bbox, (400, 150, 400, 380), atol=2)
    assert seen[:5] == [(600, 1100)] + [(360, 660)] * 4  # the image, then its four tiles
    assert seen[5] == (round(1700 * 1100 / 2200), 1100)  # inside a 550 px border, scaled to the longer side
    assert ZOOM_OUT_MAX_SIDE < 1100
