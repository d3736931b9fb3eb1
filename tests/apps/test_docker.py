"""Docker files (no Docker engine in CI): the compose file parses and the Dockerfile has the required steps."""

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_key_lines():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    # the same steps as `make install`
    makefile = (ROOT / "Makefile").read_text()
    for step in (
        "-m venv",
        "pip install -q --upgrade pip",
        "pip install -q -r requirements.txt",
        "pip install -q --no-deps -e .",
    ):
        assert step in makefile and step in runs, step
    (health,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/_stcore/health" in health
    (cmd,) = [arg for op, arg in instructions if op == "CMD"]
    # the launcher of `make run` (settings as flags, background training), not a bare `streamlit run`
    # savedmodels/ is mounted read-only for the app: it trains nothing (the exporter service does)
    assert json.loads(cmd)[:3] == ["vras", "demo", "--no-train"] and '"--port", "8502"' in cmd and '"0.0.0.0"' in cmd
    assert ("EXPOSE", "8502") in instructions
    copied = " ".join(arg for op, arg in instructions if op == "COPY")
    for path in ("requirements.txt", "setup.py", "vras_keras", "apps", ".streamlit", "configs"):
        assert path in copied and (ROOT / path).exists()


def test_compose_serves_tf_serving_and_the_app():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"tf-serving", "app", "exporter"}
    assert services["exporter"]["profiles"] == ["tools"]  # not started by `docker compose up`
    serving = services["tf-serving"]
    assert "tensorflow/serving" in serving["image"] and "./savedmodels:/models:ro" in serving["volumes"]
    app = services["app"]
    assert app["build"] == "." and "8502:8502" in app["ports"]
    assert "./savedmodels:/app/savedmodels:ro" in app["volumes"]  # an export is a program: the app cannot change it
    assert app["environment"]["VRAS_SAVEDMODELS"] == "/app/savedmodels"
    assert "/_stcore/health" in " ".join(app["healthcheck"]["test"])
    host_ports = [p.split(":")[0] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), host_ports


def test_streamlit_config_limits_uploads_and_is_headless():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 1 <= config["server"]["maxUploadSize"] <= 50
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] == "none"


def test_dockerignore_keeps_generated_files_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "runs"} <= set(ignored)
    assert re.search(r"^savedmodels/\*/$", (ROOT / ".dockerignore").read_text(), re.M)
