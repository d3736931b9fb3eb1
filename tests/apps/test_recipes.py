"""`vras demo` (make run), step 1: planning, skipping when exports exist, failures reported."""

from pathlib import Path

import pytest

from vras_keras.cli import main
from vras_keras.demo import launcher, recipes

# The first test to use the `demo_run` fixture pays for the demo's whole training path (every family, tiny
# settings; measured 21 min with ~8 jobs sharing 2 cores, load ~17; not yet timed on an idle machine).
pytestmark = pytest.mark.timeout(1800)



def write_recipe(folder: Path, task: str, model_id: str):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{task}.yaml").write_text(f"model:\n  id: {model_id}\n  args: {{}}\n")


def test_plan_uses_recipes_whose_model_is_registered(tmp_path):
    write_recipe(tmp_path, "classification", "resnet18")
    write_recipe(tmp_path, "detection", "not_a_model_yet")
    chosen, skipped = recipes.plan(tmp_path)
    assert [r.task for r in chosen] == ["classification"]
    reasons = {o.task: o.detail for o in skipped}
    assert "'not_a_model_yet'" in reasons["detection"] and "is not registered" in reasons["detection"]
    assert "no recipe" in reasons["segmentation"]
    assert [r.task for r in recipes.plan(tmp_path, ["detection"])[0]] == []
    with pytest.raises(ValueError, match="unknown demo task"):
        recipes.plan(tmp_path, ["faces"])


def test_shipped_recipes_cover_every_demo_task():
    tasks = {r.task for r in recipes.DEMO_RECIPES}
    assert tasks == {"classification", "segmentation", "detection", "pose", "stn", "matching"}
    chosen, _ = recipes.plan()  # default: launcher.configs_dir()
    assert "classification" in [r.task for r in chosen]  # at least the classification family is always there
    assert all(r.config_path(launcher.configs_dir()).is_file() for r in recipes.DEMO_RECIPES)


def test_prepare_does_nothing_when_every_demo_export_exists(demo_run, tmp_path, capsys):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although the exports exist")

    assert recipes.prepare(demo_run["savedmodels"], runs_dir=tmp_path, trainer=must_not_train) == []
    assert "every demo model is in" in capsys.readouterr().out
    assert recipes.missing_tasks(demo_run["savedmodels"]) == []


def test_prepare_trains_only_the_missing_families(tiny_savedmodels, tmp_path):
    """Other exports (here `tiny_*`) do not stop the demo models; the order is soonest-ready first."""
    assert recipes.missing_tasks(tiny_savedmodels) == ["pose", "stn", "classification", "detection", "segmentation",
                                                       "matching"]
    minutes = [r.minutes for r in recipes.DEMO_RECIPES]
    assert minutes == sorted(minutes)


def test_the_demo_path_trains_and_exports_every_family(demo_run):
    """`make run`'s own path on tiny settings, for every family: trained, SavedModel, then TFLite added to
    the same version, the status board at `ready`, the measured quality in the export; a real prediction."""
    import numpy as np

    from vras_keras.demo import status
    from vras_keras.demo.exports import list_exports, load_predictor, quality_line
    from vras_keras.demo.samples import load_sample, sample_names
    from vras_keras.export.signatures import OUTPUTS

    tasks = {r.task for r in recipes.DEMO_RECIPES}
    outcomes = {o["task"]: o for o in demo_run["outcomes"]}
    assert {t: o["status"] for t, o in outcomes.items()} == {t: "exported" for t in tasks}, outcomes
    found = {e.name: e for e in list_exports(demo_run["savedmodels"])}
    assert set(found) == {f"demo_{t}" for t in tasks}
    board = status.read_status(demo_run["runs"])["families"]
    for task in tasks:
        export = found[f"demo_{task}"]
        assert board[task]["state"] == "ready" and board[task]["tflite"] == "done", board[task]
        assert [r.backend for r in export.runtimes] == ["saved_model", "tflite"]
        assert export.meta.export["formats"] == ["saved_model", "tflite"]
        assert quality_line(export.meta, export.evaluation).startswith("measured on "), export.meta.extra
        image = load_sample(sample_names(task)[0], export.meta.input_size[0])
        for runtime in export.runtimes:
            outputs = load_predictor(export.path, runtime).predict(image)
            assert set(OUTPUTS[task]) <= set(outputs), (task, runtime, sorted(outputs))
            assert all(np.all(np.isfinite(np.asarray(v, np.float64))) for k, v in outputs.items()
                       if np.asarray(v).dtype.kind == "f")
    matching = found["demo_matching"]
    assert matching.meta.model == "lift" and matching.meta.input_size == (64, 64)  # the whole-image model
    assert (Path(demo_run["runs"]) / "classification" / "landscape" / "landscape.npz").exists()


def test_prepare_trains_exports_and_continues_after_a_failure(tmp_path, capsys):
    configs = tmp_path / "configs"
    write_recipe(configs, "classification", "resnet18")
    write_recipe(configs, "segmentation", "resnet18")  # trainer and exporter are fakes: any registered id
    calls = []

    class Result:
        path = "fake/path"

    def trainer(recipe, config_dir, runs_dir, quick=False, callbacks=(), fresh=False):
        calls.append((recipe.task, quick))
        if recipe.task == "classification":
            raise RuntimeError("out of memory")
        return tmp_path / "runs" / recipe.task

    def exporter(run_dir, savedmodels, name):
        calls.append(("export", name))
        return Result()

    outcomes = recipes.prepare(tmp_path / "sm", config_dir=configs, runs_dir=tmp_path / "runs", trainer=trainer,
                               exporter=exporter, quick=True, landscape=False, tflite=False)
    by_task = {o.task: o for o in outcomes}
    assert by_task["classification"].status == "failed" and "out of memory" in by_task["classification"].detail
    assert ("classification", True) in calls
    assert by_task["segmentation"].status == "exported" and ("export", "demo_segmentation") in calls
    assert by_task["detection"].status == "skipped"
    out = capsys.readouterr().out
    assert "[1/" in out and "FAILED (RuntimeError: out of memory); continuing" in out


def test_cli_demo_rejects_unknown_tasks(capsys):
    assert main(["demo", "--tasks", "faces", "--no-app", "--retrain", "--savedmodels", "/nonexistent"]) == 2
    assert "unknown demo task" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_demo_quick_trains_and_exports_a_classifier(tmp_path):
    from vras_keras.demo.exports import list_exports, load_predictor
    from vras_keras.demo.samples import load_sample

    code = main(["demo", "--tasks", "classification", "--quick", "--no-app", "--savedmodels", str(tmp_path / "sm"),
                 "--runs", str(tmp_path / "runs")])
    assert code == 0
    (export,) = list_exports(tmp_path / "sm")
    assert export.name == "demo_classification" and export.meta.model == "resnet_cifar"
    assert [r.backend for r in export.runtimes] == ["saved_model", "tflite"]
    outputs = load_predictor(export.path, export.runtimes[0]).predict(load_sample("ShapesWorld #0", 48))
    assert outputs["probabilities"].shape == (1, 6)
    assert (tmp_path / "runs" / "classification" / "landscape" / "landscape.npz").exists()


def test_evaluate_export_records_the_detectors_coco_ap(tiny_savedmodels, tmp_path):
    import json
    import shutil

    from vras_keras.demo import exports

    version = tmp_path / "demo_detection" / "1"
    shutil.copytree(Path(tiny_savedmodels) / "tiny_detection" / "1", version)
    record = recipes.evaluate_export(version, 8)
    assert record["images"] == 8 and record["data"] == "ShapesWorld validation images"
    assert set(record["metrics"]) >= {"AP", "AP50", "AP75"} and 0.0 <= record["metrics"]["AP50"] <= 1.0
    assert json.loads((version / "assets.extra" / exports.EVALUATION_FILE).read_text()) == record
    (found,) = exports.list_exports(tmp_path, task="detection")
    line = exports.quality_line(found.meta, found.evaluation)
    assert line.startswith("measured on 8 ShapesWorld validation images: AP50")
