"""Bad input, crash and hostile-file cases against the CLI, the loaders, training, export and the REST client
(issue #19): each case is tried and its outcome counted.

Outcomes:
- clear: an error of the documented kind (exit code 2 from the CLI; `ValueError` / `FileNotFoundError` /
  `ServingError` / `ConnectionError` from the API) in one line naming the file, field or URL;
- held: the operation had to succeed and did, with the right result (resume, concurrent export, opt-in);
- unclear: the right kind of error, but several lines or without the name the case requires;
- traceback: any other exception (a Python / TensorFlow traceback for the user);
- silent wrong: no error where one was due, or a wrong result;
- data lost: an earlier run's or export's files changed, or a file written by a hostile export.

The goal is 0 in every bad column (unclear, traceback, silent wrong, data lost). Every case runs in a
temporary folder on tiny synthetic inputs; the whole run takes a few minutes on 2 CPU cores. The demo's
upload cases (npz zip bomb, Streamlit limits) are covered by the demo's own tests, not here.

Usage: python benchmarks/robustness.py [--no-write]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

BAD = ("unclear", "traceback", "silent wrong", "data lost")
COLUMNS = ("clear", "held") + BAD
CASES: list[tuple[str, str, callable]] = []  # (group, name, function(tmp) -> (outcome, detail))


def case(group, name):
    def register(fn):
        CASES.append((group, name, fn))
        return fn
    return register


# ------------------------------------------------------------------------------------------- helpers
def cli(argv, *words):
    """Run `vras ARGV` in-process: clear (exit 2, one line with every word), unclear, traceback or silent."""
    from vras_keras.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    except BaseException as error:  # noqa: BLE001 - that is what is counted
        return "traceback", f"{type(error).__name__}: {str(error)[:120]}"
    text = err.getvalue().strip()
    if code == 0:
        return "silent wrong", "exit 0"
    lines = [line for line in text.splitlines() if line.startswith("vras ")]
    if code == 2 and len(lines) == 1 and all(w in lines[0] for w in words):
        return "clear", lines[0][:160]
    return "unclear", f"exit {code}: {text[:160]}"


def api(fn, error_types, *words):
    """Call fn(): clear if it raises one of error_types in one line with every word."""
    try:
        fn()
    except error_types as error:
        message = str(error)
        if "\n" not in message and all(w in message for w in words):
            return "clear", message[:160]
        return "unclear", message[:160]
    except BaseException as error:  # noqa: BLE001
        return "traceback", f"{type(error).__name__}: {str(error)[:120]}"
    return "silent wrong", "no error"


def png_bomb(width=12000, height=12000):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def jpeg(size=64, seed=0):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


BAD_IMAGES = {
    "0-byte file": (b"", "empty"),
    "text renamed .png": (b"just text\n" * 20, "not an image"),
    "truncated JPEG": (jpeg()[:400], "could not be"),
    "144-Mpx PNG of 200 bytes": (png_bomb(), "pixels"),
}

_EXPORT = {}


def tiny_export(tmp):
    """A tiny classifier exported once (SavedModel + TFLite) and copied for each case."""
    if "path" not in _EXPORT:
        import keras

        from vras_keras.export.meta import meta_for_model
        from vras_keras.export.saved_model import export_saved_model

        inputs = keras.Input((32, 32, 3), name="image")
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
        outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
        model = keras.Model(inputs, outputs, name="tiny")
        root = tempfile.mkdtemp(prefix="vras_robustness_export_")
        atexit.register(shutil.rmtree, root, True)
        meta = meta_for_model(model, task="classification", labels=list("abcde"))
        _EXPORT["path"] = export_saved_model(model, meta, root, name="tiny").path
        _EXPORT["model"], _EXPORT["meta"] = model, meta
    target = Path(tmp) / "export" / "1"
    shutil.copytree(_EXPORT["path"], target)
    return target


def image_file(tmp, name="a.png"):
    path = Path(tmp) / name
    Image.new("RGB", (32, 32), (10, 200, 30)).save(path)
    return path


# --------------------------------------------------------------------------------------- image cases
for _name, (_data, _word) in BAD_IMAGES.items():
    def _predict(tmp, data=_data, word=_word):
        path = Path(tmp) / "input.png"
        path.write_bytes(data)
        return cli(["predict", str(tiny_export(tmp)), str(path)], str(path), word)

    def _loader(tmp, data=_data):
        from vras_keras.data.formats import folders

        for name in ("a", "b"):
            (Path(tmp) / name).mkdir()
            Image.new("RGB", (8, 8)).save(Path(tmp) / name / "ok.png")
        (Path(tmp) / "a" / "bad.png").write_bytes(data)
        return api(lambda: folders.read(tmp), (ValueError,), "bad.png", "'image'")

    case("images", f"vras predict: {_name}")(_predict)
    case("images", f"folder loader: {_name}")(_loader)


@case("images", "truncated JPEG found while training (decoded inside tf.data)")
def _train_truncated(tmp):
    from tests.fixtures.training import write_recipe

    tmp = Path(tmp)
    for name in ("a", "b"):
        (tmp / "ds" / name).mkdir(parents=True)
        for i in range(4):
            (tmp / "ds" / name / f"{i}.jpg").write_bytes(jpeg(16, i))
    (tmp / "ds" / "a" / "bad.jpg").write_bytes(jpeg(64, 9)[: len(jpeg(64, 9)) * 2 // 3])
    config = write_recipe(tmp / "r.yaml", epochs=1, workdir=str(tmp / "run"), callbacks={"tensorboard": False},
                          data={"source": "path", "path": str(tmp / "ds"), "format": "folder",
                                "task": "classification", "image_size": 16, "num_samples": 9, "val_samples": 2,
                                "val_split": None})
    return cli(["train", "--config", str(config)], "bad.jpg", "truncated")


# ---------------------------------------------------------------------------------------- COCO cases
def coco_dir(tmp, mutate, task="detection"):
    tmp = Path(tmp)
    (tmp / "images").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (16, 12)).save(tmp / "images" / name)
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 16, "height": 12},
                       {"id": 2, "file_name": "b.png", "width": 16, "height": 12}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0,
                             "segmentation": [[1, 1, 6, 1, 6, 6]]},
                            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [2, 2, 4, 4], "iscrowd": 0}],
            "categories": [{"id": 1, "name": "square"}]}
    if task == "pose":
        data["categories"][0]["keypoints"] = ["head", "foot"]
        data["annotations"][0]["keypoints"] = [3, 3, 2, 4, 8, 2]
        data["annotations"][1]["keypoints"] = [5, 5, 2, 6, 9, 1]
    mutate(data)
    (tmp / "annotations.json").write_text(json.dumps(data))
    return tmp


COCO = {
    "category without id": ("detection", lambda d: d["categories"][0].pop("id"), "categories[0].id"),
    "one-point polygon": ("detection", lambda d: d["annotations"][0].update(segmentation=[[3, 3]]), "segmentation[0]"),
    "non-numeric bbox value": ("detection", lambda d: d["annotations"][0].update(bbox=[1, "x", 5, 5]), "bbox"),
    "duplicate image ids": (
        "detection",
        lambda d: (d["images"][1].update(id=1), d["annotations"][1].update(image_id=1)),
        "duplicate image id",
    ),
    "absolute file_name": (
        "detection",
        lambda d: d["images"][0].update(file_name="/etc/hostname"),
        "outside the images folder",
    ),
    "../ file_name": (
        "detection",
        lambda d: d["images"][0].update(file_name="../../a.png"),
        "outside the images folder",
    ),
    "NaN keypoint": (
        "pose",
        lambda d: d["annotations"][0].update(keypoints=[3, float("nan"), 2, 4, 8, 2]),
        "non-finite",
    ),
    "visible keypoint far outside the image": (
        "pose",
        lambda d: d["annotations"][0].update(keypoints=[3, 3, 2, 400, 8, 2]),
        "outside the 16x12",
    ),
}
for _name, (_task, _mutate, _word) in COCO.items():
    def _coco(tmp, task=_task, mutate=_mutate, word=_word):
        folder = coco_dir(tmp, mutate, task)
        return cli(["data", "check", str(folder), "--task", task, "--format", "coco"], "annotations.json", word)

    case("COCO and folders", f"COCO: {_name}")(_coco)


@case("COCO and folders", "COCO: non-numeric bbox under --skip-bad (skipped, counted)")
def _coco_skip(tmp):
    import warnings

    from vras_keras.data.formats import coco

    folder = coco_dir(tmp, lambda d: d["annotations"][0].update(bbox=[1, "x", 5, 5]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = coco.read(folder, task="detection", skip_bad=True)
    except BaseException as error:  # noqa: BLE001
        return "traceback", f"{type(error).__name__}: {error}"
    ok = len(records.samples) == 1 and records.num_skipped == 1
    return ("held", "1 sample kept, 1 skipped") if ok else ("silent wrong", f"{len(records.samples)} samples")


@case("COCO and folders", "COCO: JSON nested 100,000 deep")
def _coco_deep(tmp):
    folder = coco_dir(tmp, lambda d: None)
    (folder / "annotations.json").write_text("[" * 100_000 + "]" * 100_000)
    return cli(["data", "check", str(folder), "--task", "detection", "--format", "coco"], "annotations.json",
               "nested too deeply")


@case("COCO and folders", "class folder with no images")
def _empty_class(tmp):
    tmp = Path(tmp)
    for name in ("cat", "dog"):
        (tmp / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp / name / "1.png")
    (tmp / "empty").mkdir()
    return cli(["data", "check", str(tmp), "--task", "classification", "--format", "folder"], "empty",
               "no readable image")


# ---------------------------------------------------------------------------------- export cases
def hostile_export(tmp, kind, target):
    from tests.fixtures.hostile import hostile_export as build

    return build(tiny_export(Path(tmp) / "good"), Path(tmp) / "hostile" / "1", target, kind)


for _kind in ("WriteFile", "ReadFile", "MatchingFiles", "EagerPyFunc"):
    def _hostile(tmp, kind=_kind):
        target = Path(tmp) / "written_by_the_export"
        if kind == "ReadFile":
            target.write_text("secret")
        folder = hostile_export(tmp, kind, str(target))
        outcome = cli(["predict", str(folder), str(image_file(tmp))], "refusing to load", kind)
        if kind == "WriteFile" and target.exists():
            return "data lost", "the export wrote a file"
        return outcome

    case("untrusted and corrupt exports", f"SavedModel with {_kind} (vras predict)")(_hostile)


@case("untrusted and corrupt exports", "SavedModel with WriteFile (vras evaluate)")
def _hostile_evaluate(tmp):
    target = Path(tmp) / "written_by_the_export"
    folder = hostile_export(tmp, "WriteFile", str(target))
    outcome = cli(["evaluate", str(folder), "--num-samples", "2"], "refusing to load")
    return ("data lost", "the export wrote a file") if target.exists() else outcome


@case("untrusted and corrupt exports", "SavedModel with WriteFile, --allow-unsafe-ops (opt-in runs it)")
def _hostile_opt_in(tmp):
    target = Path(tmp) / "written_by_the_export"
    folder = hostile_export(tmp, "WriteFile", str(target))
    outcome, detail = cli(["predict", str(folder), str(image_file(tmp)), "--allow-unsafe-ops"])
    return ("held", "ran as asked") if outcome == "silent wrong" and target.exists() else (outcome, detail)


@case("untrusted and corrupt exports", "our own export loads (scan finds nothing)")
def _own_export(tmp):
    outcome, detail = cli(["predict", str(tiny_export(tmp)), str(image_file(tmp))])
    return ("held", "exit 0") if outcome == "silent wrong" else (outcome, detail)


@case("untrusted and corrupt exports", "truncated saved_model.pb")
def _truncated_pb(tmp):
    folder = tiny_export(tmp)
    data = (folder / "saved_model.pb").read_bytes()
    (folder / "saved_model.pb").write_bytes(data[: len(data) // 3])
    return cli(["predict", str(folder), str(image_file(tmp))], "saved_model.pb", "not a readable SavedModel")


@case("untrusted and corrupt exports", "garbage variables")
def _garbage_variables(tmp):
    folder = tiny_export(tmp)
    for f in (folder / "variables").iterdir():
        f.write_bytes(b"garbage")
    return cli(["predict", str(folder), str(image_file(tmp))], str(folder), "cannot be loaded")


@case("untrusted and corrupt exports", "corrupt .tflite")
def _bad_tflite(tmp):
    folder = tiny_export(tmp)
    (folder / "model.tflite").write_bytes(b"not a flatbuffer")
    return cli(["predict", str(folder / "model.tflite"), str(image_file(tmp))], "model.tflite", "not a loadable")


@case("untrusted and corrupt exports", "vras_meta.json nested 100,000 deep")
def _deep_meta(tmp):
    folder = tiny_export(tmp)
    (folder / "assets.extra" / "vras_meta.json").write_text("[" * 100_000 + "]" * 100_000)
    return cli(["predict", str(folder), str(image_file(tmp))], "vras_meta.json", "nested too deeply")


@case("untrusted and corrupt exports", "vras evaluate: export labels differ from the data's classes")
def _evaluate_labels(tmp):
    return cli(["evaluate", str(tiny_export(tmp)), "--num-samples", "2"], "not the model's labels")


@case("untrusted and corrupt exports", "vras evaluate: a bare non-detection .keras file")
def _evaluate_keras(tmp):
    tiny_export(tmp)
    path = Path(tmp) / "classifier.keras"
    _EXPORT["model"].save(path)
    return cli(["evaluate", str(path), "--num-samples", "2"], "not a detection model")


@case("untrusted and corrupt exports", "two exports to one name at once (second takes the next version)")
def _export_race(tmp):
    from vras_keras.export import saved_model as sm

    tiny_export(tmp)
    model, meta = _EXPORT["model"], _EXPORT["meta"]
    original, state = sm.write_warmup_requests, {}

    def rival(*args, **kwargs):
        original(*args, **kwargs)
        if not state:
            state["inner"] = "running"
            state["inner"] = sm.export_saved_model(model, meta, str(tmp), name="m", formats=("saved_model",))

    sm.write_warmup_requests = rival
    try:
        outer = sm.export_saved_model(model, meta, str(tmp), name="m", formats=("saved_model",))
    except BaseException as error:  # noqa: BLE001
        return "traceback", f"{type(error).__name__}: {error}"
    finally:
        sm.write_warmup_requests = original
    ok = state["inner"].version == 1 and outer.version == 2 and (Path(tmp) / "m" / "1" / "saved_model.pb").exists()
    return (
        ("held", "versions 1 and 2") if ok else ("silent wrong", f"versions {state['inner'].version}, {outer.version}")
    )


@case("untrusted and corrupt exports", "a killed export's .tmp folder is removed by the next")
def _export_tmp(tmp):
    from vras_keras.export import saved_model as sm

    tiny_export(tmp)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tmp) / "m" / f".tmp-1-{dead.pid}-abcd"
    stale.mkdir(parents=True)
    sm.export_saved_model(_EXPORT["model"], _EXPORT["meta"], str(tmp), name="m", formats=("saved_model",))
    return ("silent wrong", "left behind") if stale.exists() else ("held", "removed")


# ------------------------------------------------------------------------------------ training cases
def tiny_recipe(tmp, **kw):
    from tests.fixtures.training import write_recipe

    kw.setdefault("epochs", 1)
    kw.setdefault("callbacks", {"tensorboard": False, "curves": False})
    return write_recipe(Path(tmp) / "r.yaml", workdir=str(Path(tmp) / "run"), **kw)


def snapshot(run):
    return {p: p.read_bytes() for p in sorted(Path(run).rglob("*")) if p.is_file()}


@case("runs", "vras train into a finished run's workdir")
def _finished(tmp):
    config = tiny_recipe(tmp)
    cli(["train", "--config", str(config)])
    before = snapshot(Path(tmp) / "run")
    outcome = cli(["train", "--config", str(config), "--seed", "3"], "already complete", "--overwrite", "--workdir")
    return ("data lost", "the finished run changed") if snapshot(Path(tmp) / "run") != before else outcome


@case("runs", "vras train --overwrite starts over")
def _overwrite(tmp):
    config = tiny_recipe(tmp)
    cli(["train", "--config", str(config)])
    outcome, detail = cli(["train", "--config", str(config), "--epochs", "2", "--overwrite"])
    rows = (Path(tmp) / "run" / "history.csv").read_text().splitlines()
    return ("held", "2 new epochs") if outcome == "silent wrong" and len(rows) == 3 else (outcome, detail)


@case("runs", "a crash while an epoch's files are written (backup written last)")
def _crash_in_epoch(tmp):
    import keras

    from tests.fixtures.training import recipe
    from vras_keras.training import callbacks as cb
    from vras_keras.training.config import TrainConfig
    from vras_keras.training.trainer import train

    original = cb.atomic_write_text

    class FullDisk(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                def fail(path, text):
                    if str(path).endswith("history.csv"):
                        raise OSError(errno.ENOSPC, "No space left on device", str(path))
                    return original(path, text)
                cb.atomic_write_text = fail

    config = TrainConfig.from_dict(recipe(epochs=3, workdir=str(Path(tmp) / "run"),
                                          callbacks={"tensorboard": False, "curves": False}))
    try:
        train(config, callbacks=[FullDisk()], verbose=0)
    except OSError:
        pass
    finally:
        cb.atomic_write_text = original
    train(config, verbose=0)
    rows = [r.split(",")[0] for r in (Path(tmp) / "run" / "history.csv").read_text().splitlines()[1:]]
    return ("held", "epochs 1, 2, 3") if rows == ["1", "2", "3"] else ("data lost", f"history rows {rows}")


@case("runs", "a killed checkpoint's temporary file is removed by the next run")
def _ckpt_tmp(tmp):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tmp) / "run" / "checkpoints" / f".last.tmp-{dead.pid}.keras"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    cli(["train", "--config", str(tiny_recipe(tmp))])
    return ("silent wrong", "left behind") if stale.exists() else ("held", "removed")


@case("runs", "loss becomes NaN (learning rate 1e30)")
def _nan(tmp):
    config = tiny_recipe(tmp, epochs=2, optimizer={"name": "sgd", "learning_rate": 1e30})
    outcome = cli(["train", "--config", str(config)], "training stopped", "nan")
    for ckpt in (Path(tmp) / "run" / "checkpoints").glob("*.keras"):
        from vras_keras.models import load_model

        model = load_model(ckpt, compile=False)
        if not all(np.isfinite(np.asarray(w)).all() for w in model.get_weights()):
            return "silent wrong", f"{ckpt.name} holds NaN weights"
    return outcome


@case("runs", "!!python tag in a run's config.yaml (vras export)")
def _yaml_tag(tmp):
    config = tiny_recipe(tmp)
    cli(["train", "--config", str(config)])
    marker = Path(tmp) / "ran"
    (Path(tmp) / "run" / "config.yaml").write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    outcome = cli(["export", str(Path(tmp) / "run"), "--name", "x", "--output-dir", str(Path(tmp) / "out"),
                   "--formats", "saved_model"], "config.yaml")
    return ("data lost", "code ran") if marker.exists() else outcome


@case("runs", "!!python tag in a recipe (vras train --config)")
def _yaml_recipe(tmp):
    path = Path(tmp) / "r.yaml"
    path.write_text("model: !!python/object/apply:os.system ['true']\n")
    return cli(["train", "--config", str(path)], "r.yaml", "not valid YAML")


@case("runs", "workdir is a file")
def _workdir_file(tmp):
    (Path(tmp) / "run").write_text("x")
    return cli(["train", "--config", str(tiny_recipe(tmp))], "run is a file")


@case("runs", "workdir below a file")
def _workdir_below_file(tmp):
    from tests.fixtures.training import write_recipe

    (Path(tmp) / "f").write_text("x")
    config = write_recipe(Path(tmp) / "r.yaml", epochs=1, workdir=str(Path(tmp) / "f" / "run"))
    return cli(["train", "--config", str(config)], "f/run")


for _err in (errno.EROFS, errno.ENOSPC):
    def _disk(tmp, err=_err):
        from vras_keras.training import callbacks as cb

        original = cb.atomic_write_text

        def fail(path, text):
            raise OSError(err, os.strerror(err), str(path))

        cb.atomic_write_text = fail
        try:
            return cli(["train", "--config", str(tiny_recipe(tmp))], "config.yaml", os.strerror(err))
        finally:
            cb.atomic_write_text = original

    case("runs", f"disk: {os.strerror(_err)} (simulated)")(_disk)


# -------------------------------------------------------------------------------- REST client cases
REST = {
    "empty body": dict(body=b""),
    "malformed JSON": dict(body=b'{"predictions": [1'),
    "non-UTF-8 body": dict(body=b'{"a": "\xff"}'),
    "JSON list, not an object": dict(body=b"[1, 2]"),
    "JSON nested 100,000 deep": dict(body=b"[" * 100_000 + b"]" * 100_000),
    "no predictions in the answer": dict(body=b'{"x": 1}'),
    "short read": dict(body=b'{"predictions": [[1]]}', declared_length=1000),
    "socket closed before the answer": dict(close_early=True),
    "redirect (not followed)": dict(status=302, headers=[("Location", "http://example.invalid/")]),
    "HTTP 500 with an HTML body": dict(status=500, body=b"<html>oops</html>"),
    "timeout": dict(body=b"{}", delay=None),
}
for _name, _behaviour in REST.items():
    def _rest(tmp, name=_name, behaviour=_behaviour):
        from tests.fixtures.hostile import misbehaving_server
        from vras_keras.export.serving import ServingClient, ServingError

        behaviour = dict(behaviour)
        if name == "timeout":
            behaviour["delay"] = threading.Event()
        server = misbehaving_server(**behaviour)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            client = ServingClient(base, timeout=0.5 if name == "timeout" else 5)
            return api(lambda: client.predict("m", np.zeros((1, 2), np.float32)), (ServingError, ConnectionError),
                       f"{base}/v1/models/m:predict")
        finally:
            if behaviour.get("delay"):
                behaviour["delay"].set()
            server.shutdown()
            server.server_close()

    case("REST client", _name)(_rest)


# ---------------------------------------------------------------------------------------------- run
def run_all():
    from tests.fixtures import training  # noqa: F401 - registers the tiny model of the training cases

    results = []
    for group, name, fn in CASES:
        with tempfile.TemporaryDirectory(prefix="vras_robustness_") as tmp:
            try:
                outcome, detail = fn(tmp)
            except BaseException as error:  # noqa: BLE001 - a case that crashes the harness counts as a traceback
                outcome, detail = "traceback", f"{type(error).__name__}: {str(error)[:120]}"
        results.append((group, name, outcome, detail))
        print(f"{outcome:>12}  {group}: {name}  | {detail[:110]}", flush=True)
    return results


def table(results) -> str:
    groups = list(dict.fromkeys(g for g, *_ in results))
    lines = ["| cases | tried | " + " | ".join(COLUMNS) + " |", "|---|---:|" + "---:|" * len(COLUMNS)]
    for group in groups + ["**all**"]:
        rows = [r for r in results if group == "**all**" or r[0] == group]
        counts = [sum(r[2] == c for r in rows) for c in COLUMNS]
        lines.append(f"| {group} | {len(rows)} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only; do not record benchmarks/results")
    args = parser.parse_args()
    results = run_all()
    text = table(results)
    print()
    print(text)
    bad = [r for r in results if r[2] in BAD]
    if not args.no_write:
        from _report import machine, write_section

        failures = "".join(f"\n- {g}: {n}: **{o}** ({d})" for g, n, o, d in bad) or " none."
        write_section("robustness", f"""## Robustness: bad input, crashes and hostile files (`benchmarks/robustness.py`)

{machine()}. Each case runs in a temporary folder on tiny synthetic inputs (a 32 px classifier export,
16 px training recipes, hand-made COCO files, a local `http.server` for the REST client); the outcomes are
defined in the script's docstring. Goal: 0 in every column after `held`.

{text}

Cases in a bad column:{failures}
""")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
