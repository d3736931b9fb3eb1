"""Streamlit widgets shared by the demo's pages (`apps/views/*.py`): page header, error guard, model picker,
image input, image display.

The computations live beside this module (`exports`, `samples`, ...) and in `vras_keras.export.present`;
this module only draws widgets and caches. It is the one module of `vras_keras` that imports streamlit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import streamlit as st

from vras_keras.data.images import ImageDecodeError, decode_image, to_rgb
from vras_keras.demo import exports, samples, status
from vras_keras.demo.launcher import demo_runs_dir

# Element keys the tests and the browser test look for.
RESULT_KEY = "result"
STATUS_KEY = "model_status"
# Uploads above this are refused by the pages themselves, whatever Streamlit's server.maxUploadSize is
# (the launcher passes .streamlit/config.toml as flags; `streamlit run` elsewhere may not read that file).
UPLOAD_MAX_MB = 20
REFRESH_SECONDS = 3.0


def short_error(error: BaseException, limit: int = 300) -> str:
    """A one-paragraph version of an exception message for a page: ANSI colour codes removed, first
    non-empty line, at most `limit` characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    line = next((row.strip() for row in text.splitlines() if row.strip()), type(error).__name__)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def guarded(body):
    """Run a page body; an unexpected error becomes a short message on the page, never a traceback.

    Streamlit's own control flow (`st.stop`, `st.rerun`) derives from BaseException and passes through.
    """
    try:
        body()
    except ImportError as error:
        st.error(f"This page needs a part of vras_keras that this installation lacks: {error}. "
                 "Update the checkout (`git pull`) and run `make install`.")
    except Exception as error:  # noqa: BLE001 - the page must show a message, not a traceback
        st.error(f"Something went wrong: {type(error).__name__}: {short_error(error)}")


def page_header(title: str, caption: str | None = None):
    st.set_page_config(page_title=f"{title} · vras_keras demo", page_icon="🤖", layout="wide")
    st.set_option("client.showErrorDetails", "none")  # whatever directory Streamlit was started from
    st.title(title)
    if caption:
        st.caption(caption)


def upload_bytes(upload) -> bytes | None:
    """The bytes of a `st.file_uploader` file, or None after a warning when it exceeds `UPLOAD_MAX_MB`."""
    if upload.size > UPLOAD_MAX_MB * 2**20:
        st.warning(f"{upload.name} is {upload.size / 2**20:.1f} MB; the demo takes files up to {UPLOAD_MAX_MB} MB.")
        return None
    return upload.getvalue()


def family_status(task: str) -> dict:
    """The background trainer's entry for `task` (`vras_keras.demo.status`), `{}` when none."""
    return status.read_status(demo_runs_dir()).get("families", {}).get(task) or {}


def _export_names(task: str) -> tuple:
    return tuple(sorted((e.name, e.version) for e in exports.list_exports(task=task)))


def wait_for_model(task: str):
    """No export of `task` yet: show the background trainer's state for it, refreshed every few seconds,
    and rerun the page as soon as an export appears (no restart, no reload)."""
    st.info(exports.no_exports_message(task))
    entry = family_status(task)
    if not entry or entry.get("state") in ("failed", "ready"):
        _status_box(task, entry)
        return
    known = _export_names(task)

    @st.fragment(run_every=REFRESH_SECONDS)
    def poll():
        if _export_names(task) != known:
            st.rerun()
        _status_box(task, family_status(task))

    poll()


def _status_box(task: str, entry: dict):
    line = status.describe(entry)
    with st.container(key=STATUS_KEY):
        if entry.get("state") == "failed":
            st.error(f"{exports.TASK_TITLES.get(task, task)} demo model {line}")
        elif entry:
            st.markdown(f"**Demo model: {line}**")
            if entry.get("state") == "training":
                st.progress(min(max(float(entry.get("fraction") or 0.0), 0.0), 1.0))


def _mtime(path: Path) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def _cached_predictor(path: str, backend: str, quantize: str, mtime: float):
    # mtime is part of the cache key: a re-exported version folder is loaded again
    return exports.load_predictor(path, exports.Runtime("", backend, quantize))


def choose_export(task: str):
    """Sidebar: pick an export of `task` and its runtime (SavedModel or a TFLite file), a `vras train` run
    of `task` in `runs/` (its best checkpoint), or (classification) an ImageNet classifier whose weights are
    in the local cache (`exports.list_pretrained`; otherwise the sidebar says how to get one).

    Returns the cached `Predictor`, or None after showing how to create an export when there is none.
    """
    found = exports.list_exports(task=task) + exports.list_runs(task=task) + exports.list_pretrained(task)
    if task == "classification" and not any(e.is_pretrained for e in found):
        st.sidebar.caption(exports.pretrained_hint())
    if not found:
        wait_for_model(task)
        return None
    if not any(e.name == f"demo_{task}" for e in found) and family_status(task).get("state") not in (None, "ready"):
        st.sidebar.caption(f"Demo model: {status.describe(family_status(task))}")
    st.sidebar.subheader("Model")
    # Options are identities, not positions: when a model lands (the demo's export, a new run) the list grows,
    # and a position would then name another model than the one the user picked.
    by_id = {f"{e.name}|{e.version}|{e.path}": e for e in found}
    choice = st.sidebar.selectbox("Export", list(by_id), format_func=lambda i: by_id[i].label, key=f"{task}_export")
    export = by_id[choice]
    names = [r.label for r in export.runtimes]
    runtime = export.runtimes[st.sidebar.radio("Runtime", range(len(names)), format_func=lambda i: names[i],
                                               key=f"{task}_runtime")]
    st.sidebar.caption(f"`{export.path}` · input {export.meta.input_size[0]}×{export.meta.input_size[1]}"
                       + (f" · {len(export.meta.labels)} classes" if export.meta.labels else ""))
    changed = _mtime(export.path / "checkpoints" / "best.keras") if export.is_run else _mtime(export.path)
    predictor = _cached_predictor(str(export.path), runtime.backend, runtime.quantize, changed)
    # the loaded meta: a run's validation metrics are read from its summary.json when it is loaded
    st.caption(exports.model_card(predictor.meta, export.evaluation))
    return predictor


def photo_note(name: str, meta):
    """Under a photograph, say what a model trained on synthetic data can and cannot do with it."""
    if not name.startswith(samples.SYNTHETIC_PREFIXES):  # a photograph or an upload
        if exports.is_synthetic(meta):
            described, _ = exports.training_data(meta)
            h, w = meta.input_size
            st.warning(f"This model was trained on {described} at {h}×{w} px: on a photograph its output means "
                       "little. Pick a synthetic sample, or a model of your own (`vras train --config ...` on your "
                       "images; its run in `runs/` appears in the Export list, as does `vras export RUN_DIR`).")


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_sample(name: str, size: int):
    return samples.load_sample(name, size)


def choose_image(task: str, *, size: int = 64, key: str = "image", label: str = "Input image"):
    """Radio "Sample | Upload" and the matching widget; returns `(name, uint8 RGB array)` or None.

    Uploads go through `vras_keras.data.images.decode_image`: anything it cannot convert is shown
    as a message.
    """
    source = st.radio(label, ("Sample", "Upload"), horizontal=True, key=f"{key}_source")
    if source == "Sample":
        names = samples.sample_names(task)
        name = st.selectbox("Sample", names, key=f"{key}_sample")
        return name, _cached_sample(name, size)
    upload = st.file_uploader("Image file (JPEG, PNG, BMP, GIF, TIFF, WebP)", key=f"{key}_upload",
                              type=None)  # any type: wrong files get a message from decode_image
    if upload is None:
        st.info("Choose an image file to run the model on it.")
        return None
    data = upload_bytes(upload)
    if data is None:
        return None
    try:
        return upload.name, decode_image(data, name=upload.name, max_side=samples.UPLOAD_MAX_SIDE)
    except ImageDecodeError as error:
        st.warning(str(error))
        return None


def model_and_image(task: str):
    """`choose_export` then `choose_image` at the model's input size: `(predictor, name, image)` or None."""
    predictor = choose_export(task)
    if predictor is None:
        return None
    chosen = choose_image(task, size=predictor.input_size[0])
    if chosen is None:
        return None
    photo_note(chosen[0], predictor.meta)
    return (predictor, *chosen)


def show_image(image, caption: str | None = None, width: int = 480):
    """`st.image` at a readable size (`width` px on the page, never wider than the column), small images
    first upscaled (nearest) so that the browser does not blur their pixels."""
    from vras_keras.visualization.overlays import DISPLAY_SIDE, display_scale, upscale  # Keras: not for the home page

    image = to_rgb(image)
    if max(image.shape[:2]) < DISPLAY_SIDE // 2:
        image = upscale(image, display_scale(image.shape[:2]))
    st.image(image, caption=caption, width=width)


# (file in apps/views/, navigation title, icon): the order of the navigation
PAGES = (
    ("1_Classification.py", "Classification", "🏷️"),
    ("2_Segmentation.py", "Segmentation", "🎨"),
    ("3_Detection.py", "Detection", "📦"),
    ("4_Pose.py", "Pose", "🕺"),
    ("5_Spatial_transformer.py", "Spatial transformer", "🔀"),
    ("6_Feature_matching.py", "Feature matching", "🔗"),
    ("7_Architecture_explorer.py", "Architecture explorer", "🏗️"),
    ("8_Loss_landscape.py", "Loss landscape", "⛰️"),
)
PAGE_TASKS = ("classification", "segmentation", "detection", "pose", "stn", "matching")
PAGE_SHOWS = {
    "classification": "top-5 classes of an image, as a bar chart",
    "segmentation": "a class per pixel over the image, with a CRF refinement on any image",
    "detection": "boxes, classes and scores after the model's built-in NMS",
    "pose": "the predicted skeleton of a stick figure",
    "stn": "the image the spatial transformer makes of its input (works on any photo), and the digit",
    "matching": "keypoints and descriptor matches between two images or an image and a warp (any photo)",
}


def home_rows() -> list[dict]:
    """One row per page: title, what it shows, its model and that model's state."""
    board = status.read_status(demo_runs_dir()).get("families", {})
    rows = []
    for (path, title, _), task in zip(PAGES, PAGE_TASKS):
        found = exports.list_exports(task=task, latest_only=True)
        demo = [e for e in found if e.name == f"demo_{task}"]
        entry = board.get(task) or {}
        if found:
            export = (demo or found)[0]
            described, _ = exports.training_data(export.meta)
            quality = exports.quality_line(export.meta, export.evaluation)
            model = f"ready: {export.label}, trained on {described.split(':')[0]}; {quality}"
            if not demo and entry:
                model += f" (demo model: {status.describe(entry)})"
        else:
            model = status.describe(entry) if entry else "no model yet (see the page for the command)"
        rows.append({"page": title, "shows": PAGE_SHOWS[task], "model": model})
    rows.append({"page": "Architecture explorer", "model": "none needed: builds any registered model",
                 "shows": "parameters, receptive field and FLOPs of every layer, as plots"})
    rows.append({"page": "Loss landscape", "model": "none needed: reads saved landscape files",
                 "shows": "contour and surface of a loss landscape (the demo classifier's, or an upload)"})
    return rows


def _board_states() -> tuple:
    board = status.read_status(demo_runs_dir())
    return bool(board.get("alive")), tuple(sorted((t, (e or {}).get("state"), (e or {}).get("epoch"))
                                                  for t, e in board.get("families", {}).items()))


def refresh_while_training():
    """While the background trainer runs: rerun the page whenever a family changes state or epoch."""
    known = _board_states()
    if not known[0]:
        return

    @st.fragment(run_every=REFRESH_SECONDS)
    def poll():
        if _board_states() != known:
            st.rerun()

    poll()


def probability_chart(rows: list[dict]):
    """Horizontal bar chart of classification rows (`{"label", "probability"}`), best on top."""
    if rows and "probability" in rows[0]:
        chart = {"label": [r["label"] for r in rows], "probability": [r["probability"] for r in rows]}
        st.bar_chart(chart, x="label", y="probability", horizontal=True, sort="-probability", height=220)
