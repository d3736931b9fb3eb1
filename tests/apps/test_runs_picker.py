"""The pages offer the user's `vras train` runs (runs/) besides the exports, loaded as `vras evaluate` loads a run."""

import json
from pathlib import Path

import numpy as np

from vras_keras.demo import exports

ROOT = Path(__file__).resolve().parents[2]


def make_run(root: Path, name: str = "my_classifier") -> Path:
    from tests.fixtures.demo_exports import tiny_meta, tiny_model

    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    model = tiny_model("classification")
    model.save(run / "checkpoints" / "best.keras")
    meta = tiny_meta("classification", model)
    meta.training_config = {"data": {"source": "shapes", "val_samples": 64}}
    meta.save(str(run / "vras_meta.json"))
    (run / "summary.json").write_text(json.dumps({"final": {"val_accuracy": 0.5, "val_loss": 1.2}, "epochs": 3}))
    return run


def test_list_runs_finds_finished_runs_and_loads_them_like_vras_evaluate(tmp_path):
    run = make_run(tmp_path / "runs")
    (tmp_path / "runs" / "half_done").mkdir()  # no vras_meta.json, no checkpoint: not offered
    (found,) = exports.list_runs(tmp_path / "runs", task="classification")
    assert found.is_run and found.path == run and found.label == "run my_classifier"
    assert found.runtimes == [exports.RUN_RUNTIME]
    assert exports.list_runs(tmp_path / "runs", task="detection") == []
    assert exports.list_runs(tmp_path / "nothing") == []
    predictor = exports.load_predictor(found.path, found.runtimes[0])
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    probabilities = predictor.predict(image)["probabilities"]
    assert probabilities.shape == (1, len(found.meta.labels)) and np.isclose(probabilities.sum(), 1.0, atol=1e-4)
    # the loaded meta carries the run's validation metrics (summary.json): the page prints them
    assert "accuracy 0.5" in exports.quality_line(predictor.meta)


def test_the_classification_page_serves_a_users_run_without_any_export(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    make_run(tmp_path / "runs")
    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "none"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "demo_runs"))
    monkeypatch.setenv(exports.RUNS_ENV, str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "apps" / "views" / "1_Classification.py"), default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert _first_label(at) == "run my_classifier"
    (table,) = [d.value for d in at.dataframe]
    assert len(table) == 5 and 0.0 < table["probability"].sum() <= 1.0 + 1e-4  # top 5 of 6 classes
    assert any("accuracy 0.5" in c.value for c in at.caption)


def _first_label(at) -> str:
    """The label of the export the page chose by default (the first one offered)."""
    box = at.selectbox(key="classification_export")
    return box.format_func(box.value)


def test_a_model_landing_later_does_not_change_the_users_choice(monkeypatch, tmp_path):
    """The page picks by identity: when the demo's export lands while the user looks at their second run,
    the list grows at the top, and the page must still serve that run (a position would name another)."""
    from streamlit.testing.v1 import AppTest

    from tests.fixtures.demo_exports import make_tiny_exports

    make_run(tmp_path / "runs", "a_run")
    make_run(tmp_path / "runs", "b_run")
    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "savedmodels"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "demo_runs"))
    monkeypatch.setenv(exports.RUNS_ENV, str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "apps" / "views" / "1_Classification.py"), default_timeout=120).run()
    box = at.selectbox(key="classification_export")
    assert box.options == ["run a_run", "run b_run"], box.options  # the labels shown
    box.select_index(1).run()
    assert _first_label(at) == "run b_run"
    make_tiny_exports(tmp_path / "savedmodels", tasks=("classification",), tflite_tasks=())
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    box = at.selectbox(key="classification_export")
    assert len(box.options) == 3 and _first_label(at) == "run b_run"
    assert any("b_run" in c.value for c in at.sidebar.caption)
