"""Exports that collide or were killed: two exports to one name that both picked the same number end as
two versions (the second takes the next number instead of failing after all its work), and the temporary
folder of a killed export is removed by the next export."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "export"))
from conftest import tiny_classifier  # noqa: E402

from vras_keras.export import saved_model as sm  # noqa: E402
from vras_keras.export.meta import meta_for_model  # noqa: E402


@pytest.fixture
def model_and_meta():
    model = tiny_classifier()
    return model, meta_for_model(model, task="classification", labels=list("abcde"))


def test_a_concurrent_export_to_the_same_name_takes_the_next_version(tmp_path, model_and_meta, monkeypatch):
    model, meta = model_and_meta
    original = sm.write_warmup_requests
    state = {"inner": None}

    def warmup_then_a_rival_finishes_first(*args, **kwargs):
        original(*args, **kwargs)
        if state["inner"] is None:
            state["inner"] = "running"
            state["inner"] = sm.export_saved_model(model, meta, str(tmp_path), name="m", formats=("saved_model",))

    monkeypatch.setattr(sm, "write_warmup_requests", warmup_then_a_rival_finishes_first)
    outer = sm.export_saved_model(model, meta, str(tmp_path), name="m", formats=("saved_model",))
    assert state["inner"].version == 1 and outer.version == 2
    assert outer.path == str(tmp_path / "m" / "2")
    for version in (1, 2):
        recorded = json.loads((tmp_path / "m" / str(version) / "assets.extra" / "vras_meta.json").read_text())
        assert recorded["export"]["version"] == version
        assert (tmp_path / "m" / str(version) / "saved_model.pb").exists()
    assert not [d for d in os.listdir(tmp_path / "m") if d.startswith(".tmp-")]


def test_an_explicit_version_taken_meanwhile_is_still_an_error(tmp_path, model_and_meta, monkeypatch):
    model, meta = model_and_meta
    original = sm.write_warmup_requests

    def rival(*args, **kwargs):
        original(*args, **kwargs)
        (tmp_path / "m" / "3").mkdir()
        (tmp_path / "m" / "3" / "x").write_text("rival")

    monkeypatch.setattr(sm, "write_warmup_requests", rival)
    with pytest.raises(ValueError, match="appeared while exporting"):
        sm.export_saved_model(model, meta, str(tmp_path), name="m", version=3, formats=("saved_model",))
    assert (tmp_path / "m" / "3" / "x").read_text() == "rival"
    assert not [d for d in os.listdir(tmp_path / "m") if d.startswith(".tmp-")]


def test_the_temporary_folder_of_a_killed_export_is_removed_by_the_next(tmp_path, model_and_meta):
    model, meta = model_and_meta
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed = tmp_path / "m" / f".tmp-1-{dead.pid}-abcd"
    running = tmp_path / "m" / ".tmp-1-1-efgh"  # pid 1 is alive: an export in progress is left alone
    for folder in (killed, running):
        (folder / "variables").mkdir(parents=True)
    result = sm.export_saved_model(model, meta, str(tmp_path), name="m", formats=("saved_model",))
    assert result.version == 1
    assert not killed.exists() and running.exists()
