"""Streamlit widgets shared by the demo's pages (`apps/pages/*.py`): page header, error guard, model picker,
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
from vras_keras.demo import exports, samples
from vras_keras.visualization.overlays import DISPLAY_SIDE, display_scale, upscale

# Element keys the tests and the browser test look for.
RESULT_KEY = "result"


def short_error(error: BaseException, limit: int = 300) -> str:
    """A one-paragraph version of an exception message for a page: ANSI colour codes removed, first
    non-empty line, at most `limit` characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    line = next((l.strip() for l in text.splitlines() if l.strip()), type(error).__name__)
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
    st.title(title)
    if caption:
        st.caption(caption)


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
    """Sidebar: pick an export of `task` and its runtime (SavedModel or a TFLite file).

    Returns the cached `Predictor`, or None after showing how to create an export when there is none.
    """
    found = exports.list_exports(task=task)
    if not found:
        st.info(exports.no_exports_message(task))
        return None
    st.sidebar.subheader("Model")
    labels = [e.label for e in found]
    index = st.sidebar.selectbox("Export", range(len(found)), format_func=lambda i: labels[i], key=f"{task}_export")
    export = found[index]
    names = [r.label for r in export.runtimes]
    runtime = export.runtimes[st.sidebar.radio("Runtime", range(len(names)), format_func=lambda i: names[i],
                                               key=f"{task}_runtime")]
    st.sidebar.caption(f"`{export.path}` · input {export.meta.input_size[0]}×{export.meta.input_size[1]}"
                       + (f" · {len(export.meta.labels)} classes" if export.meta.labels else ""))
    return _cached_predictor(str(export.path), runtime.backend, runtime.quantize, _mtime(export.path))


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
    try:
        return upload.name, decode_image(upload.getvalue(), name=upload.name, max_side=samples.UPLOAD_MAX_SIDE)
    except ImageDecodeError as error:
        st.warning(str(error))
        return None


def model_and_image(task: str):
    """`choose_export` then `choose_image` at the model's input size: `(predictor, name, image)` or None."""
    predictor = choose_export(task)
    if predictor is None:
        return None
    chosen = choose_image(task, size=predictor.input_size[0])
    return None if chosen is None else (predictor, *chosen)


def show_image(image, caption: str | None = None):
    """`st.image`, small images first upscaled (nearest) so that the browser does not blur their pixels."""
    image = to_rgb(image)
    if max(image.shape[:2]) < DISPLAY_SIDE // 2:
        image = upscale(image, display_scale(image.shape[:2]))
    st.image(image, caption=caption, width="stretch")
