"""`vras demo` (make run), step 2: where the app, recipes and settings are; the `streamlit run` command."""

import sys
from pathlib import Path

import pytest
import streamlit.config

from vras_keras.demo import launcher

ROOT = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_its_top_level_folders():
    assert launcher.app_path() == ROOT / "apps" / "streamlit_app.py"
    assert launcher.configs_dir() == ROOT / "configs"
    assert launcher.settings_file() == ROOT / ".streamlit" / "config.toml"
    with pytest.raises(ValueError, match="unknown demo folder 'docs'"):
        launcher.shipped_dir("docs")


def test_streamlit_settings_flatten_the_config_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nheadless = true\nmaxUploadSize = 20\n[client]\nshowErrorDetails = "none"\n')
    assert launcher.streamlit_settings(path) == {"server.headless": "true", "server.maxUploadSize": "20",
                                                 "client.showErrorDetails": "none"}
    path.write_text("[server\n")
    with pytest.raises(ValueError, match="not a valid TOML file"):
        launcher.streamlit_settings(path)
    path.write_text("headless = true\n")
    with pytest.raises(ValueError, match=r"\[headless\] must be a table"):
        launcher.streamlit_settings(path)


def test_the_shipped_settings_are_streamlit_options():
    settings = launcher.streamlit_settings()
    assert settings["server.maxUploadSize"] == "20" and settings["client.showErrorDetails"] == "none"
    assert settings["server.headless"] == "true" and settings["browser.gatherUsageStats"] == "false"
    for key in settings:
        streamlit.config.get_option(key)  # raises for an option Streamlit does not know


def test_streamlit_command_passes_every_setting_as_a_flag():
    command = launcher.streamlit_command(port=9999, address="0.0.0.0")
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert command[4] == str(launcher.app_path()) and Path(command[4]).exists()
    flags = dict(zip(command[5::2], command[6::2]))
    assert flags["--server.port"] == "9999" and flags["--server.address"] == "0.0.0.0"
    for key, value in launcher.streamlit_settings().items():
        assert flags[f"--{key}"] == value
    assert launcher.DEFAULT_PORT != 8501  # TF Serving's REST port in docker-compose.yml


def test_a_taken_port_is_refused_in_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError, match=f"port {port} on 127.0.0.1 is in use"):
            launcher.check_port_free(port)
    launcher.check_port_free(port)  # free again


CRITICAL_PATH = """
import json, os, sys
from vras_keras import cli
from vras_keras.demo import background, launcher

seen = {}

class Worker:
    pid = os.getpid()

    def poll(self):
        return 0

def start(savedmodels, runs, **options):
    seen["tasks"] = options["tasks"]
    return Worker()

def serve(savedmodels, **options):
    seen["tensorflow_before_serving"] = "tensorflow" in sys.modules or "keras" in sys.modules
    return 0

background.start, launcher.serve = start, serve
code = cli.main(["demo", "--savedmodels", sys.argv[1], "--runs", sys.argv[2], "--port", sys.argv[3]])
print(json.dumps({**seen, "code": code}))
"""


def test_vras_demo_serves_before_anything_imports_tensorflow(tmp_path):
    """The URL of `make run` must not wait for TensorFlow: planning the background training (which families
    lack an export) and starting the app import neither TensorFlow nor Keras."""
    import json
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "savedmodels").mkdir()
    done = subprocess.run([sys.executable, "-c", CRITICAL_PATH, str(tmp_path / "savedmodels"), str(tmp_path / "runs"),
                           str(port)], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"tasks": ["pose", "stn", "classification", "detection", "segmentation", "matching"],
                    "tensorflow_before_serving": False, "code": 0}


def test_the_home_page_answers_without_tensorflow(tmp_path):
    """The first page a `make run` user sees lists the pages and their models' state without importing
    TensorFlow (which takes 10-20 s on 2 busy cores)."""
    import os
    import subprocess

    probe = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
             f"at = AppTest.from_file({str(ROOT / 'apps' / 'home.py')!r}, default_timeout=60).run()\n"
             "assert not at.exception and not at.error, (at.exception, at.error)\n"
             "print(len(at.dataframe[0].value), 'tensorflow' in sys.modules or 'keras' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VRAS_SAVEDMODELS": str(tmp_path / "none"),
           "VRAS_DEMO_RUNS": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["8", "False"]  # one row per page; no TensorFlow
