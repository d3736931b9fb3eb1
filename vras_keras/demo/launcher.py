"""Start the Streamlit demo: find the app, the recipes and the Streamlit settings, run `streamlit run` with
those settings, print the URL once it answers.

Where the files are: a wheel of vras_keras ships the top-level `apps/` (the pages), `configs/` (the
recipes) and `.streamlit/config.toml` (the settings) inside the package, as `vras_keras/demo/app/`,
`vras_keras/demo/configs/` and `vras_keras/demo/settings/` (`setup.py` maps those packages onto the same
source folders: no second copy). In a checkout (`PYTHONPATH`, or an editable install) the package has no
such folders and the checkout's top-level ones are used. `app_dir()`, `configs_dir()` and
`settings_file()` look in that order.

The settings are passed to `streamlit run` as command-line flags (`streamlit_command`), so they apply
whatever directory the app is started from (Streamlit itself only reads `./.streamlit/config.toml`).
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Sequence

DEFAULT_PORT = 8502  # not 8501: TF Serving's REST port in docker-compose.yml
APP_FILE = "streamlit_app.py"
# installed name (inside vras_keras/demo/) -> the checkout's top-level folder it is built from (setup.py)
SHIPPED = {"app": "apps", "configs": "configs", "settings": ".streamlit"}


def say(message: str) -> None:
    print(f"[vras demo] {message}", flush=True)


def _checkout_root() -> Path:
    return Path(__file__).resolve().parents[2]  # vras_keras/demo/launcher.py -> the repository root


def shipped_dir(name: str) -> Path:
    """The folder `name` of `SHIPPED`: the installed package's copy, else the checkout's top-level folder.

    Raises:
        FileNotFoundError: neither exists (an installation without its package data).
    """
    if name not in SHIPPED:
        raise ValueError(f"unknown demo folder {name!r}; known: {', '.join(SHIPPED)}")
    installed = Path(str(importlib.resources.files("vras_keras.demo"))) / name
    if installed.is_dir():
        return installed
    checkout = _checkout_root() / SHIPPED[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the demo's {SHIPPED[name]}/ is neither in the installed package ({installed}) nor in a "
                            f"checkout ({checkout}); reinstall vras_keras (pip install 'vras_keras[demo]')")


def app_dir() -> Path:
    """The folder of `streamlit_app.py` and its `views/` (the pages)."""
    return shipped_dir("app")


def app_path() -> Path:
    return app_dir() / APP_FILE


def configs_dir() -> Path:
    """The recipes (`TASK.yaml`) the demo trains."""
    return shipped_dir("configs")


def settings_file() -> Path:
    """`.streamlit/config.toml` of the checkout, as shipped."""
    return shipped_dir("settings") / "config.toml"


def streamlit_settings(path=None) -> dict[str, str]:
    """`{"section.option": value}` of a Streamlit config file (default `settings_file()`), values as the
    command line spells them (`true`/`false` for booleans).

    Raises:
        ValueError: the file is not TOML, or a section is not a table.
    """
    path = Path(path) if path is not None else settings_file()
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not a valid TOML file ({error})") from None
    flat = {}
    for section, options in config.items():
        if not isinstance(options, dict):
            raise ValueError(f"{path}: [{section}] must be a table of options, received {options!r}")
        for option, value in options.items():
            flat[f"{section}.{option}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


def streamlit_command(port: int = DEFAULT_PORT, address: str = "127.0.0.1", *, app=None,
                      settings: dict[str, str] | None = None) -> list[str]:
    """`python -m streamlit run APP` with every setting (default `streamlit_settings()`) as a flag, then
    the port and address."""
    settings = streamlit_settings() if settings is None else settings
    flags = [arg for key, value in settings.items() for arg in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", str(app or app_path()), *flags,
            "--server.port", str(port), "--server.address", address]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll Streamlit's health endpoint until it answers "ok" (RuntimeError if the server exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before answering on {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")


def check_port_free(port: int, address: str = "127.0.0.1") -> None:
    """Raise ValueError when `port` is taken (another demo would answer the health check in our place)."""

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, int(port)))
        except OSError:
            raise ValueError(f"port {port} on {address} is in use (another demo or TF Serving?): pass --port "
                             "(e.g. RUN_ARGS=\"--port 8503\" make run)") from None


RUNS_ENV = "VRAS_DEMO_RUNS"  # where the app reads the background trainer's status.json
DEFAULT_RUNS = "runs/demo"


def demo_runs_dir() -> Path:
    """The demo trainer's folder (`$VRAS_DEMO_RUNS`, default `runs/demo`)."""
    return Path(os.environ.get(RUNS_ENV) or DEFAULT_RUNS)


def serve(savedmodels="savedmodels", *, port: int = DEFAULT_PORT, address: str = "127.0.0.1",
          landscapes: Sequence[str] = (), runs=DEFAULT_RUNS) -> int:
    """Start the Streamlit app on the exports in `savedmodels`, print its URL, run until Ctrl-C.

    Streamlit runs in the current directory (relative paths such as `runs/` mean the same to the app as
    to the caller); `runs` is the background trainer's folder, whose status the pages show."""
    env = {**os.environ, "VRAS_SAVEDMODELS": str(Path(savedmodels).resolve()), RUNS_ENV: str(Path(runs).resolve())}
    if landscapes:
        env["VRAS_LANDSCAPES"] = os.pathsep.join(str(Path(p).resolve()) for p in landscapes)
    check_port_free(port, address)
    process = subprocess.Popen(streamlit_command(port, address), env=env)
    try:
        local = address in ("0.0.0.0", "127.0.0.1", "localhost")
        wait_healthy(f"http://{'127.0.0.1' if local else address}:{port}/_stcore/health", process)
        shown = "localhost" if address in ("0.0.0.0", "127.0.0.1") else address
        say(f"the demo is running: http://{shown}:{port}   (Ctrl-C stops it)")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
