"""Every `vras` command shown in README.md and docs/*.md parses as written, and docs/training.md's recipe
table names the model and image size the recipes in configs/ use."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from vras_keras.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands():
    """`(file, line)` of every `vras ...` command in a fenced shell block (not the error lines shown)."""
    found = []
    for path in FILES:
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", path.read_text(), re.S):
            if lang not in ("bash", "sh", "shell", "console", ""):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                line = re.split(r"\s+#", line)[0].strip()
                if line.startswith("vras ") and not re.match(r"vras [\w-]+: ", line):
                    found.append((path.name, line))
    return found


def test_docs_show_commands():
    commands = shown_commands()
    assert len(commands) >= 10
    assert ("data.md", "vras data check my_photos") in commands


@pytest.mark.parametrize("where, command", shown_commands(), ids=[f"{w}:{c[:50]}" for w, c in shown_commands()])
def test_command_parses(where, command):
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(command)[1:])
    except SystemExit as exit_:
        pytest.fail(f"{where}: `{command}` does not parse (exit {exit_.code})")


def test_training_doc_names_the_recipes_models_and_sizes():
    text = (ROOT / "docs" / "training.md").read_text()
    rows = re.findall(r"^\| `(\w+\.yaml)` \| `(\w+)`[^|]*\|([^|]*)\|", text, re.M)
    assert len(rows) >= 5
    for recipe, model, data in rows:
        config = yaml.safe_load((ROOT / "configs" / recipe).read_text())
        assert config["model"]["id"] == model, recipe
        size = re.search(r"(\d+) px", data)
        if size:
            assert int(size.group(1)) == config["data"]["image_size"], recipe
