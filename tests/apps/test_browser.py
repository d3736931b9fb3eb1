"""The demo in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright's Python package).

`make test` installs `chromium` with apt-get when it is missing (as root); nothing is downloaded by the test.
Screenshots are saved in the test's tmp folder (printed at the end; `pytest -s` shows the path).
"""

import io
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vras_keras.demo.launcher import streamlit_command, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT_S = 90
RESULT_TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def streamlit_server(tiny_savedmodels, tmp_path):
    """The app as `vras demo` starts it (launcher.streamlit_command), from a folder outside the checkout: the
    settings come from the command line, not from a `.streamlit/` in the working directory."""
    port = free_port()
    env = {**os.environ, "VRAS_SAVEDMODELS": tiny_savedmodels, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
           "VRAS_LANDSCAPES": str(tmp_path)}
    log = open(tmp_path / "streamlit.log", "w+")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    process = subprocess.Popen(streamlit_command(port, "127.0.0.1") + ["--server.fileWatcherType", "none"],
                               cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        try:
            wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", process, STARTUP_TIMEOUT_S)
        except (RuntimeError, TimeoutError):
            log.seek(0)
            raise AssertionError(f"streamlit did not start:\n{log.read()[-3000:]}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def pick(page, label: str, option: str):
    """Choose `option` in the Streamlit selectbox labelled `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def settled(page):
    """Wait until the script run is over: no "Running..." status and no stale (greyed) element left."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.locator("[data-stale='true']")).to_have_count(0)
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def truncated_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()[:600]


@pytest.mark.browser
def test_classification_and_detection_pages_in_chromium(streamlit_server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (installs Debian's chromium as root) or "
                    "`sudo apt-get install -y chromium`")
    from playwright.sync_api import expect, sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(RESULT_TIMEOUT_MS)
            expect.set_options(timeout=RESULT_TIMEOUT_MS)

            page.goto(f"{streamlit_server}/Classification")
            settled(page)
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            pick(page, "Sample", "photo: coffee")
            caption = page.get_by_test_id("stImage").filter(has_text="photo: coffee")
            expect(caption).to_be_visible()
            expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            settled(page)
            page.wait_for_timeout(500)  # let the chart finish drawing
            page.screenshot(path=str(shots / "classification.png"), full_page=True)

            # a damaged upload gives a message, not a traceback
            page.get_by_test_id("stRadio").filter(has_text="Input image").get_by_text("Upload").click()
            page.locator("input[type=file]").set_input_files(
                files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": truncated_jpeg()}])
            expect(page.get_by_text("broken.jpg looks truncated")).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.screenshot(path=str(shots / "classification_bad_upload.png"), full_page=True)

            page.goto(f"{streamlit_server}/Detection")
            settled(page)
            expect(page.get_by_test_id("stImage")).to_be_visible()
            pick(page, "Sample", "ShapesWorld #2")
            expect(page.get_by_test_id("stImage").filter(has_text="ShapesWorld #2:")).to_be_visible()
            settled(page)
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)
            page.screenshot(path=str(shots / "detection.png"), full_page=True)
        finally:
            browser.close()
    saved = sorted(p.name for p in shots.iterdir())
    assert saved == ["classification.png", "classification_bad_upload.png", "detection.png"]
    assert all((shots / name).stat().st_size > 10_000 for name in saved)
    print(f"screenshots: {shots}")
