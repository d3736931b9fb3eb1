"""The demo in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright's Python package), started
as `make run` starts it (`vras demo`), every page while its background trainer works and after.

`make test` installs `chromium` with apt-get when it is missing (as root); nothing is downloaded by the test.
Screenshots are saved in the test's tmp folder (printed at the end; `pytest -s` shows the path).
"""

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

# The first test to use the `demo_run` fixture pays for the demo's whole training path (every family, tiny
# settings; measured 21 min with ~8 jobs sharing 2 cores, load ~17; not yet timed on an idle machine).
pytestmark = pytest.mark.timeout(1800)



ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
STARTUP_TIMEOUT_S = 90
RESULT_TIMEOUT_MS = 60_000
TRAINING_TIMEOUT_MS = 600_000  # the quick Pose recipe: train, export, then the page polls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_server(demo_run, tmp_path):
    """`vras demo --quick` as `make run` starts it, from a folder outside the checkout (the settings come from
    the command line), on the demo's exports of every family but Pose: its background trainer trains Pose
    while the test looks at the pages."""
    import shutil

    savedmodels, runs = tmp_path / "savedmodels", tmp_path / "runs"
    shutil.copytree(
        demo_run["savedmodels"], savedmodels, ignore=lambda d, names: [n for n in names if n == "demo_pose"]
    )
    shutil.copytree(demo_run["runs"], runs, ignore=lambda d, names: [n for n in names if n == "pose"])
    (runs / "status.json").unlink()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "VRAS_LANDSCAPES": str(runs)}
    log = open(tmp_path / "vras_demo.log", "w+")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "vras_keras.cli", "demo", "--quick", "--port", str(port),
                                "--savedmodels", str(savedmodels), "--runs", str(runs)],
                               cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while "the demo is running" not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"vras demo did not start:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": f"http://127.0.0.1:{port}", "runs": runs, "log": Path(log.name)}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the launcher stops Streamlit and the trainer
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
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


def no_error(page):
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


# Every text the sidebar navigation ever shows from the first paint on (Streamlit's own file list would flash
# "streamlit app", ... before st.navigation's sections "vras_keras demo" / "Models" / "Tools" replace it).
NAV_RECORDER = """
window.__navTexts = [];
new MutationObserver(() => {
  const nav = document.querySelector('[data-testid="stSidebarNav"]');
  if (nav && nav.innerText && window.__navTexts[window.__navTexts.length - 1] !== nav.innerText) {
    window.__navTexts.push(nav.innerText);
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""

# url path -> what shows that the page works (once its model is there)
PAGE_CHECKS = {
    "Classification": "stVegaLiteChart",
    "Segmentation": "stImage",
    "Detection": "stImage",
    "Pose": "stImage",
    "Spatial_transformer": "stImage",
    "Feature_matching": "stImage",
    "Architecture_explorer": "stImage",
    "Loss_landscape": "stImage",
}


@pytest.mark.browser
def test_every_page_while_the_demo_trains_and_after(demo_server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (installs Debian's chromium as root) or "
                    "`sudo apt-get install -y chromium`")
    from playwright.sync_api import expect, sync_playwright

    from vras_keras.demo import status

    url = demo_server["url"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.add_init_script(NAV_RECORDER)
            page.set_default_timeout(RESULT_TIMEOUT_MS)
            expect.set_options(timeout=RESULT_TIMEOUT_MS)

            # home: titled navigation, one row per page
            page.goto(url)
            settled(page)
            expect(page.get_by_test_id("stSidebarNav").get_by_text("Home", exact=True)).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).not_to_contain_text("streamlit app")
            seen = page.evaluate("window.__navTexts || []")
            assert seen and not [t for t in seen if "streamlit app" in t.lower()], \
                f"the sidebar listed something else than the titled navigation on the first load: {seen}"
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
            assert page.title().startswith("vras_keras demo")
            page.screenshot(path=str(shots / "home_training.png"), full_page=True)

            # while Pose trains in the background: its page shows the state; the others work
            page.goto(f"{url}/Pose")
            expect(page.get_by_text("Demo model:")).to_be_visible()
            expect(page.get_by_text("vras train --config configs/pose.yaml")).to_be_visible()
            page.screenshot(path=str(shots / "pose_training.png"), full_page=True)
            assert status.read_status(demo_server["runs"])["families"]["pose"]["state"] != "ready", \
                "pose was ready before the test saw it training: nothing was tested while training"
            for path, check in PAGE_CHECKS.items():
                if path == "Pose":
                    continue
                page.goto(f"{url}/{path}")
                settled(page)
                expect(page.get_by_test_id(check).first).to_be_visible()
                no_error(page)
                page.screenshot(path=str(shots / f"{path.lower()}.png"), full_page=True)

            # a damaged upload gives a message, not a traceback
            page.goto(f"{url}/Classification")
            settled(page)
            page.get_by_test_id("stRadio").filter(has_text="Input image").get_by_text("Upload").click()
            page.locator("input[type=file]").set_input_files(
                files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": truncated_jpeg()}])
            expect(page.get_by_text("broken.jpg looks truncated")).to_be_visible()
            expect(page.get_by_test_id("stException")).to_have_count(0)

            # Pose goes live by itself (no reload) once the background trainer exports it
            page.goto(f"{url}/Pose")
            expect(page.get_by_test_id("stImage").first).to_be_visible(timeout=TRAINING_TIMEOUT_MS)
            settled(page)
            no_error(page)
            page.screenshot(path=str(shots / "pose.png"), full_page=True)
            page.goto(url)
            settled(page)
            expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
            page.screenshot(path=str(shots / "home_ready.png"), full_page=True)
        finally:
            browser.close()
    assert status.read_status(demo_server["runs"])["families"]["pose"]["state"] == "ready"
    saved = sorted(p.name for p in shots.iterdir())
    assert len(saved) == 11 and all((shots / name).stat().st_size > 10_000 for name in saved), saved
    print(f"screenshots: {shots}")
