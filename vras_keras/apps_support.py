"""Everything the Streamlit demo (`apps/`) does besides drawing widgets: find exports, load them, make
sample inputs, turn outputs into tables and pictures, analyse architectures, read loss landscapes.

The pages in `apps/pages/` only lay out widgets and call these functions (and `vras_keras.apps_ui` for
the shared widgets), so all of it is importable and unit-tested without Streamlit.

Environment:
    VRAS_SAVEDMODELS: the export folder the demo reads (default `savedmodels`, TF Serving's base path).
    VRAS_LANDSCAPES: extra folders (`os.pathsep`-separated) searched for `landscape.npz` files, besides
        `runs/`.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from vras_keras.data.images import to_rgb

SAVEDMODELS_ENV = "VRAS_SAVEDMODELS"
LANDSCAPES_ENV = "VRAS_LANDSCAPES"
DEFAULT_SAVEDMODELS = "savedmodels"
DISPLAY_SIDE = 384  # model inputs (32..64 px) are upscaled to about this for display
UPLOAD_MAX_SIDE = 2048  # uploads are downscaled to this right after decoding: models run at a few hundred px

TASK_TITLES = {
    "classification": "Classification",
    "segmentation": "Segmentation",
    "detection": "Detection",
    "pose": "Pose",
    "stn": "Spatial transformer",
    "matching": "Feature matching",
}


# ------------------------------------------------------------------------------------------- exports
def savedmodels_dir() -> Path:
    """The export folder the demo reads: `$VRAS_SAVEDMODELS` or `savedmodels`."""
    return Path(os.environ.get(SAVEDMODELS_ENV) or DEFAULT_SAVEDMODELS)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One way to run an export: a label for the sidebar and the `load_export` arguments."""

    label: str
    backend: str  # "saved_model" | "tflite"
    quantize: str = "none"


@dataclasses.dataclass
class ExportInfo:
    """One export version found on disk (metadata only: nothing is loaded)."""

    name: str
    version: int
    path: Path
    meta: object  # vras_keras.export.meta.ExportMeta
    runtimes: list

    @property
    def task(self) -> str:
        return self.meta.task

    @property
    def label(self) -> str:
        model = f" ({self.meta.model})" if self.meta.model else ""
        return f"{self.name} v{self.version}{model}"


def _runtimes(version_dir: Path) -> list[Runtime]:
    from vras_keras.export.saved_model import TFLITE_FILES

    found = []
    if (version_dir / "saved_model.pb").exists():
        found.append(Runtime("SavedModel", "saved_model"))
    names = {"none": "TFLite (float32)", "fp16": "TFLite (float16 weights)", "int8": "TFLite (int8)"}
    for quantize, filename in TFLITE_FILES.items():
        if (version_dir / filename).exists():
            found.append(Runtime(names[quantize], "tflite", quantize))
    return found


def list_exports(root=None, task: str | None = None, *, latest_only: bool = False) -> list[ExportInfo]:
    """Every readable export version under `root` (default `savedmodels_dir()`), sorted by name and
    newest version first; `task` filters by task. Versions with unreadable metadata are skipped."""
    from vras_keras.export.meta import ExportMeta
    from vras_keras.export.saved_model import existing_versions

    root = Path(root) if root is not None else savedmodels_dir()
    if not root.is_dir():
        return []
    found = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = sorted(existing_versions(str(model_dir)), reverse=True)
        for version in versions[:1] if latest_only else versions:
            version_dir = model_dir / str(version)
            try:
                meta = ExportMeta.load(str(version_dir / "assets.extra" / "vras_meta.json"))
            except (OSError, ValueError):
                continue
            runtimes = _runtimes(version_dir)
            if runtimes and (task is None or meta.task == task):
                found.append(ExportInfo(model_dir.name, version, version_dir, meta, runtimes))
    return found


def no_exports_message(task: str | None = None, root=None) -> str:
    """Markdown telling what to run when there is no export (for `task`)."""
    root = Path(root) if root is not None else savedmodels_dir()
    what = f"no {TASK_TITLES.get(task, task).lower()} model" if task else "no exported model"
    return (
        f"There is {what} in `{root}/` yet.\n\n"
        "Train and export the demo models (a few minutes on a CPU) and start the app:\n\n"
        "```bash\nmake run            # = vras demo: train + export the demo recipes, then start this app\n```\n\n"
        "or export a model of your own:\n\n"
        "```bash\nvras train configs/" + (task or "classification") + ".yaml\n"
        "vras export runs/" + (task or "classification") + " --name my_model"
        + (f" --output-dir {root}" if str(root) != DEFAULT_SAVEDMODELS else "") + "\n```"
    )


def load_predictor(path, runtime: Runtime):
    """`vras_keras.export.loading.load_export` for one version folder and runtime."""
    from vras_keras.export.loading import load_export

    return load_export(str(path), backend=runtime.backend, quantize=runtime.quantize)


# ------------------------------------------------------------------------------------------- samples
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")
SYNTHETIC_SAMPLES = 6


def sample_names(task: str) -> list[str]:
    """Sample inputs offered for `task`: synthetic renders matching the task's training data, then
    scikit-image photographs (bundled with the package, no download)."""
    if task == "pose":
        synthetic = [f"stick figure #{i}" for i in range(SYNTHETIC_SAMPLES)]
    elif task == "stn":
        synthetic = [f"distorted digit #{i}" for i in range(SYNTHETIC_SAMPLES)]
    elif task == "matching":
        synthetic = []
    else:
        synthetic = [f"ShapesWorld #{i}" for i in range(SYNTHETIC_SAMPLES)]
    return synthetic + [f"photo: {name}" for name in PHOTOS]


@functools.lru_cache(maxsize=64)
def _sample(name: str, size: int) -> np.ndarray:
    if name.startswith("photo: "):
        import skimage.data

        photo = name[len("photo: "):]
        if photo not in PHOTOS:
            raise ValueError(f"unknown photo sample {photo!r}; available: {PHOTOS}")
        return to_rgb(getattr(skimage.data, photo)())
    kind, _, index = name.rpartition(" #")
    if not index.isdigit():
        raise ValueError(f"unknown sample {name!r}")
    index = int(index)
    if kind == "ShapesWorld":
        from vras_keras.data.shapes import ShapesWorld

        return ShapesWorld(image_size=size, max_objects=4, seed=2024, truncation=False).sample(index)["image"]
    if kind == "stick figure":
        from vras_keras.data.shapes import StickFigures

        return StickFigures(image_size=size, seed=2024).sample(index)["image"]
    if kind == "distorted digit":
        from vras_keras.data.digits import DistortedDigits

        return to_rgb(DistortedDigits(split="test", variant="rts", canvas_size=size, seed=2024).sample(index)["image"])
    raise ValueError(f"unknown sample {name!r}")


def load_sample(name: str, size: int = 64) -> np.ndarray:
    """The sample `name` (from `sample_names`) as uint8 RGB; synthetic ones are rendered at `size`."""
    return _sample(name, int(size)).copy()


def display_scale(input_size: Sequence[int], target: int = DISPLAY_SIDE) -> int:
    """Integer upscaling factor that brings a small model input near `target` pixels for display."""
    return max(1, int(target // max(input_size)))


def upscale(image, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor (keeps the pixels visible)."""
    rgb = to_rgb(image)
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1) if factor > 1 else rgb


def model_view(image, input_size: Sequence[int]) -> np.ndarray:
    """The image as the model sees it: resized (bilinear) to the input size, uint8 RGB."""
    import cv2

    rgb = to_rgb(image)
    h, w = input_size
    if rgb.shape[:2] == (h, w):
        return rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_LINEAR)


# --------------------------------------------------------------------------------------- per-task views
def _label(labels, index: int) -> str:
    return labels[index] if 0 <= index < len(labels) else f"class {index}"


def top_k_rows(outputs: dict, meta, i: int = 0) -> list[dict]:
    """`[{"label", "probability"}]` of the top-k classes of image `i`, best first."""
    return [{"label": _label(meta.labels, int(k)), "probability": float(s)}
            for k, s in zip(outputs["top_k_indices"][i], outputs["top_k_scores"][i])]


def detection_rows(outputs: dict, meta, score_threshold: float = 0.0, i: int = 0) -> list[dict]:
    """`[{"label", "score", "box"}]` of the detections of image `i` scoring at least `score_threshold`."""
    n = int(outputs["num_detections"][i]) if "num_detections" in outputs else len(outputs["classes"][i])
    rows = []
    for j in range(min(n, len(outputs["classes"][i]))):
        c, s = int(outputs["classes"][i][j]), float(outputs["scores"][i][j])
        if c >= 0 and s >= score_threshold:
            box = [round(float(v), 1) for v in outputs["boxes"][i][j]]
            rows.append({"label": _label(meta.labels, c), "score": s, f"box ({meta.box_format}, input px)": box})
    return sorted(rows, key=lambda r: -r["score"])


def draw_detection_result(image, outputs, meta, score_threshold: float = 0.0, show_masks: bool = True, i: int = 0):
    """Detections of image `i` drawn over the model view of `image`, upscaled for display."""
    from vras_keras.visualization.overlays import boxes_to_xyxy, draw_detections

    view = model_view(image, meta.input_size)
    factor = display_scale(meta.input_size)
    n = int(outputs["num_detections"][i]) if "num_detections" in outputs else len(outputs["classes"][i])
    classes = np.array(outputs["classes"][i], np.int64)
    classes[n:] = -1
    masks = outputs.get("masks")
    masks = masks[i] if (masks is not None and show_masks) else None
    xyxy = boxes_to_xyxy(outputs["boxes"][i], meta.box_format) * factor
    if masks is not None and masks.ndim == 3 and masks.shape[1:] != tuple(meta.input_size):
        masks = paste_box_masks(masks, boxes_to_xyxy(outputs["boxes"][i], meta.box_format), meta.input_size)
    return draw_detections(upscale(view, factor), xyxy, classes, outputs["scores"][i], labels=meta.labels,
                           score_threshold=score_threshold, masks=masks)


def paste_box_masks(masks, boxes_xyxy, image_size) -> np.ndarray:
    """Box-relative masks `(M, h, w)` (Mask R-CNN's m×m grids) -> whole-image masks `(M, H, W)`."""
    import cv2

    H, W = image_size
    out = np.zeros((len(masks), H, W), np.float32)
    for j, (m, (x1, y1, x2, y2)) in enumerate(zip(masks, boxes_xyxy)):
        x1i, y1i = max(int(np.floor(x1)), 0), max(int(np.floor(y1)), 0)
        x2i, y2i = min(int(np.ceil(x2)), W), min(int(np.ceil(y2)), H)
        if x2i <= x1i or y2i <= y1i:
            continue
        bw, bh = max(int(round(x2 - x1)), 1), max(int(round(y2 - y1)), 1)
        resized = cv2.resize(np.asarray(m, np.float32), (bw, bh), interpolation=cv2.INTER_LINEAR)
        ox, oy = x1i - int(np.floor(x1)), y1i - int(np.floor(y1))
        patch = resized[oy : oy + (y2i - y1i), ox : ox + (x2i - x1i)]
        out[j, y1i : y1i + patch.shape[0], x1i : x1i + patch.shape[1]] = patch
    return out


def draw_segmentation_result(image, class_map, meta, opacity: float = 0.5):
    """Class map overlaid on the model view of `image`, upscaled for display."""
    from vras_keras.visualization.overlays import overlay_segmentation

    factor = display_scale(meta.input_size)
    view = upscale(model_view(image, meta.input_size), factor)
    return overlay_segmentation(view, upscale_map(class_map, factor), num_classes=max(len(meta.labels), int(np.max(class_map)) + 1),
                                opacity=opacity)


def upscale_map(class_map, factor: int) -> np.ndarray:
    m = np.asarray(class_map)
    return np.repeat(np.repeat(m, factor, axis=0), factor, axis=1) if factor > 1 else m


def segmentation_legend(class_map, meta) -> list[dict]:
    from vras_keras.visualization.overlays import legend

    labels = list(meta.labels) or [f"class {c}" for c in range(int(np.max(class_map)) + 1)]
    return legend(labels, class_map)


def export_has_crf(meta) -> bool:
    """True when the export was built with a CRF head (e.g. `deeplab_v3(crf=True)`)."""
    return bool((meta.model_args or {}).get("crf"))


def crf_available() -> bool:
    """True when `vras_keras.layers.conv_crf.ConvCRF` exists (the segmentation family)."""
    import importlib.util

    return importlib.util.find_spec("vras_keras.layers.conv_crf") is not None


def crf_refine(image, probabilities, *, iterations: int = 5, filter_size: int = 7) -> np.ndarray:
    """Refine `(H, W, L)` class probabilities with a mean-field ConvCRF (Potts, default kernels) using
    `image` `(H, W, 3)` (0..255, the model input) for the appearance kernel; returns `(H, W, L)`."""
    from vras_keras.layers.conv_crf import ConvCRF

    probabilities = np.asarray(probabilities, np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must have shape (H, W, L), received {probabilities.shape}")
    image = np.asarray(image, np.float32)
    if image.shape[:2] != probabilities.shape[:2]:
        raise ValueError(f"image {image.shape} and probabilities {probabilities.shape} must have the same H, W")
    unary = np.log(np.clip(probabilities, 1e-6, 1.0))
    crf = ConvCRF(probabilities.shape[-1], filter_size=filter_size, iterations=iterations)
    out = crf([unary[None], image[None, ..., :3]])
    import keras

    return keras.ops.convert_to_numpy(out)[0]


def draw_pose_result(image, outputs, meta, confidence_threshold: float = 0.0, i: int = 0):
    """Skeleton of image `i` drawn over the model view of `image`, upscaled for display."""
    from vras_keras.visualization.pose import draw_skeleton

    factor = display_scale(meta.input_size)
    view = upscale(model_view(image, meta.input_size), factor)
    keypoints = np.asarray(outputs["keypoints"][i], np.float32)
    n = len(keypoints)
    skeleton = [tuple(p) for p in pose_skeleton(meta) if max(p) < n]
    keypoints = np.concatenate([keypoints * factor, np.asarray(outputs["confidence"][i], np.float32)[:, None]], -1)
    keypoints[:, :2] = np.clip(keypoints[:, :2], -1e4, 1e4)
    return draw_skeleton(view, keypoints, skeleton=skeleton, confidence_threshold=confidence_threshold)


def pose_skeleton(meta) -> list:
    """The export's skeleton; runs of `vras train` on stick figures record only the joint names, so
    those get `vras_keras.data.shapes.SKELETON`."""
    if meta.skeleton:
        return [tuple(p) for p in meta.skeleton]
    from vras_keras.data import shapes

    return list(shapes.SKELETON) if tuple(meta.keypoint_names) == tuple(shapes.JOINT_NAMES) else []


def pose_rows(outputs, meta, i: int = 0) -> list[dict]:
    names = meta.keypoint_names or [f"joint {j}" for j in range(len(outputs["keypoints"][i]))]
    return [{"joint": name, "x": round(float(x), 1), "y": round(float(y), 1), "confidence": float(c)}
            for name, (x, y), c in zip(names, outputs["keypoints"][i], outputs["confidence"][i])]


def stn_views(image, outputs, meta, i: int = 0):
    """`(input as the model sees it, transformed image)`, both upscaled to the same display height."""
    factor = display_scale(meta.input_size)
    view = upscale(model_view(image, meta.input_size), factor)
    transformed = np.clip(np.asarray(outputs["transformed_image"][i], np.float32), 0, 255)
    t_factor = max(1, round(view.shape[0] / transformed.shape[0]))
    return view, upscale(np.round(transformed).astype(np.uint8), t_factor)


# ------------------------------------------------------------------------------ architecture explorer
EXPLORER_DEFAULTS = ("resnet18", "resnet_cifar", "vgg11")  # first one registered is preselected


def registered_models() -> dict[str, list[str]]:
    """`{task: [model ids]}` of the registry (tasks without models are left out)."""
    from vras_keras import models
    from vras_keras.models.registry import TASKS

    out = {task: sorted(models.list_models(task)) for task in TASKS}
    return {task: ids for task, ids in out.items() if ids}


def analyse_architecture(model_id: str, input_size: int, model_args: dict | None = None):
    """`vras_keras.analysis.summary.summary` of a registered model built at `input_size` (square).

    Raises:
        ImportError: the analyser is not in this checkout.
        ValueError: the model cannot be built at that size (the builder's message).
    """
    from vras_keras import models
    from vras_keras.analysis.summary import summary

    args = {"input_shape": (int(input_size), int(input_size), 3), **(model_args or {})}
    model = models.get(model_id, **args)
    return summary(model)


def summary_rows(result) -> list[dict]:
    """One dict per layer call for a table: name, type, output shape, params, receptive field, FLOPs."""
    rows = []
    for r in result.rows:
        rows.append({
            "layer": r.name,
            "type": r.type,
            "output shape": str(tuple(r.output_shape)),
            "params": int(r.params),
            "receptive field": "" if r.rf_size is None else "×".join(str(int(v)) for v in r.rf_size),
            "jump": "" if r.rf_jump is None else "×".join(str(int(v)) for v in r.rf_jump),
            "FLOPs": None if r.flops is None else int(r.flops),
        })
    return rows


def plot_architecture(result, *, max_layers: int = 400):
    """Figure: receptive field size (top) and FLOPs (bottom, log scale) by layer, in graph order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows[:max_layers]
    x = np.arange(len(rows))
    rf = np.array([np.nan if r.rf_size is None else max(r.rf_size) for r in rows], np.float64)
    flops = np.array([0 if r.flops is None else r.flops for r in rows], np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    top.plot(x, rf, drawstyle="steps-post", color="tab:blue")
    top.set_ylabel("receptive field (px)")
    top.set_title(f"{result.model_name}: receptive field and FLOPs by layer")
    top.grid(alpha=0.3)
    bottom.bar(x, np.where(flops > 0, flops, np.nan), color="tab:orange", width=1.0)
    bottom.set_yscale("log")
    bottom.set_ylabel("FLOPs")
    bottom.set_xlabel("layer (graph order)")
    bottom.grid(alpha=0.3)
    step = max(1, len(rows) // 20)
    bottom.set_xticks(x[::step])
    bottom.set_xticklabels([rows[i].name for i in x[::step]], rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return fig


def short_error(error: BaseException, limit: int = 300) -> str:
    """A one-paragraph version of an exception message for a page: ANSI colour codes removed, first
    non-empty line, at most `limit` characters."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    line = next((l.strip() for l in text.splitlines() if l.strip()), type(error).__name__)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def format_count(n) -> str:
    """1234567 -> '1.23 M'."""
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f}"


# ------------------------------------------------------------------------------------ loss landscapes
def landscape_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(LANDSCAPES_ENV, "").split(os.pathsep) if p]
    return extra + [Path("runs")]


def list_landscapes(dirs: Sequence | None = None) -> list[Path]:
    """Every `*.npz` landscape file (as written by `vras landscape`) under the given folders (default:
    `$VRAS_LANDSCAPES` and `runs/`), sorted, without duplicates."""
    found = []
    for d in dirs if dirs is not None else landscape_dirs():
        d = Path(d)
        if d.is_file() and d.suffix == ".npz":
            found.append(d)
        elif d.is_dir():
            found.extend(sorted(d.rglob("landscape*.npz")))
    return list(dict.fromkeys(found))


def read_landscape(source):
    """A `Landscape` from a path or the bytes of an uploaded `.npz`.

    Raises:
        ValueError: not an `.npz` of the landscape layout (the message says what is missing).
    """
    from vras_keras.analysis import landscape

    if isinstance(source, (bytes, bytearray)):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".npz") as f:
            f.write(bytes(source))
            f.flush()
            return read_landscape(f.name)
    try:
        return landscape.load(source)
    except (OSError, EOFError, KeyError) as error:  # np.load on a non-npz / damaged zip
        raise ValueError(f"{Path(str(source)).name} is not a readable landscape .npz file ({error})") from None
    except ValueError as error:
        if "landscape" in str(error):
            raise
        raise ValueError(f"{Path(str(source)).name} is not a readable landscape .npz file ({error})") from None


def landscape_figures(result, title: str = "loss landscape"):
    """`[figure, ...]`: contour and surface for a 2-D landscape, the curve for a 1-D one."""
    import matplotlib

    matplotlib.use("Agg")

    from vras_keras.analysis import landscape

    if result.ndim == 1:
        return [landscape.plot_curve(result, title=title)]
    return [landscape.plot_contour(result, title=title), landscape.plot_surface(result, title=title)]


def landscape_stats(result) -> dict:
    """Grid size, minimum loss and where it is, loss at the centre."""
    losses = np.asarray(result.losses, np.float64)
    idx = np.unravel_index(np.nanargmin(losses), losses.shape)
    stats = {"grid": "×".join(str(s) for s in losses.shape), "min loss": float(losses[idx]),
             "at α": float(result.alphas[idx[0]])}
    if result.ndim == 2:
        stats["at β"] = float(result.betas[idx[1]])
    centre = tuple(int(np.argmin(np.abs(ax))) for ax in ([result.alphas] if result.ndim == 1 else [result.alphas, result.betas]))
    stats["loss at the trained weights"] = float(losses[centre])
    return stats


def figure_png(fig) -> bytes:
    """PNG bytes of a Matplotlib figure (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
