"""The served page in a real headless browser: upload a photo, see the overlay and the 3D view.

Needs selenium (the dev extra) and Debian's chromium + chromium-driver (.ci/run installs them);
skipped with the reason otherwise. The screenshot is kept in $CLIPHAND_ARTIFACTS (default
./artifacts) for a person to look at.
"""

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("mediapipe", reason="the detect extra is not installed (the page detects hands)")
pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)  # fmt: skip

import uvicorn  # noqa: E402
from batches import two_hand_scene  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

import cliphand  # noqa: E402
from cliphand.serve.app import ServeSettings, create_app  # noqa: E402

ARTIFACTS = Path(os.environ.get("CLIPHAND_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture(scope="module")
def server_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ServeSettings(checkpoint=str(cliphand.default_checkpoint()), backend="torch")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"):  # fmt: skip
        options.add_argument(flag)  # software WebGL: CI machines have no GPU
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


def _pixels(element) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"), dtype=np.int16)


def test_upload_shows_overlay_hands_and_mesh(server_url, browser, tmp_path):
    frame, _ = two_hand_scene()
    photo = tmp_path / "two_hands.png"
    Image.fromarray(frame).save(photo)
    browser.get(server_url)
    WebDriverWait(browser, 30).until(lambda d: "worker" in d.find_element(By.ID, "info").text)
    mesh_before = _pixels(browser.find_element(By.ID, "mesh"))

    browser.find_element(By.ID, "file").send_keys(str(photo))
    WebDriverWait(browser, 60).until(lambda d: "found" in d.find_element(By.ID, "status").text)
    time.sleep(0.5)  # the 3D view draws on the next animation frame
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "serve_page.png"))

    assert browser.find_element(By.ID, "status").text.startswith("2 hands found")
    hands = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#hands li")]
    assert len(hands) == 2 and any("left" in h for h in hands) and any("right" in h for h in hands), hands
    overlay = _pixels(browser.find_element(By.ID, "overlay"))
    # The overlay shows the photo: its near-white background and the hands' skin, not a blank canvas.
    assert overlay.std() > 20 and (np.abs(overlay - [235, 235, 235]).sum(-1) < 30).mean() > 0.3
    mesh_after = _pixels(browser.find_element(By.ID, "mesh"))
    changed = (np.abs(mesh_after - mesh_before).sum(-1) > 30).mean()
    assert 0.02 < changed < 0.9, f"{changed:.3f} of the 3D view changed after the prediction"
    assert browser.find_element(By.ID, "json").is_enabled() and browser.find_element(By.ID, "meshfile").is_enabled()
