"""`vras list` reads vras_keras/models/index.json: instant, no TensorFlow, and the index matches the registry
(names, tasks, descriptions here; every parameter count in tests/models/test_all_models.py::test_defaults_build)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vras_keras import models
from vras_keras.cli import main
from vras_keras.cli.list_models import INDEX, read_index

ROOT = Path(__file__).resolve().parents[2]


def test_index_lists_every_registered_model_with_its_task_and_description():
    rows = {row["name"]: row for row in read_index()}
    registered = {name: models.get_entry(name) for name in models.list_models()
                  if models.get_entry(name).builder.__module__.startswith("vras_keras.")}  # not tests' own
    assert sorted(rows) == sorted(registered), "run `python -m vras_keras.cli.list_models --write-index`"
    for name, entry in registered.items():
        assert (rows[name]["task"], rows[name]["description"]) == (entry.task, entry.description), name
        assert isinstance(rows[name]["params"], int) and rows[name]["params"] > 0, name


def test_vras_list_imports_neither_tensorflow_nor_keras():
    code = ("import sys; from vras_keras.cli import main; assert main(['list', '--task', 'pose']) == 0; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "[]"
    assert lines[0].split() == ["model", "task", "trainable", "params", "description"]
    assert {line.split()[1] for line in lines[1:-1]} == {"pose"}


def test_list_prints_the_recorded_counts(capsys):
    assert main(["list", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    recorded = {row["name"]: row["params"] for row in json.loads(INDEX.read_text())["models"]}
    line = next(line for line in out.splitlines() if line.startswith("resnet18 "))
    # torchvision's resnet18: 11,689,512 parameters, all trainable except none (BN statistics are not weights)
    assert f"{recorded['resnet18']:,}" in line and "11,689,512" in line


def test_missing_index_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="index.json: the model index is missing"):
        read_index(path=tmp_path / "index.json")
