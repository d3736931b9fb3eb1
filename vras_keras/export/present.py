"""The one per-task renderer of a prediction: a one-line summary, the result rows (a table) and a drawing.

`vras predict` prints `summarize(...)` and saves `draw(...)`; the demo pages (`apps/views/*.py`) show
`rows(...)` and `draw(...)`. Every function takes `outputs`, a `Predictor.predict` result (batch first, named
as in `vras_keras.export.signatures.OUTPUTS`, coordinates in pixels of the model input), the export's
`ExportMeta` and the index `i` of the image in the batch.

Drawings go through `vras_keras.visualization` (one palette, one box-format converter). They are made on
the image as the model sees it (`model_view`: resized to the input size), upscaled by the integer factor
`scale` (default `overlays.display_scale`: about 384 pixels), so that a 32-pixel input stays readable.

| task           | rows                                              | drawing (options)                             |
|----------------|---------------------------------------------------|-----------------------------------------------|
| classification | label, probability (top-k, best first)            | best class as a caption                       |
| segmentation   | id, label, colour, fraction (classes present,     | class map over the image (`opacity`,          |
|                | background excluded; `class_map`)                 | `class_map`, e.g. from                        |
|                |                                                   | `segmentation_class_map`)                     |
| detection      | label, score, box (best first; `score_threshold`) | boxes, captions, masks (`score_threshold`,    |
|                |                                                   | `show_masks`)                                 |
| pose           | joint, x, y, confidence                           | skeleton (`confidence_threshold`)             |
| stn            | top-k rows (output shapes without a classifier)   | input and transformed image side by side      |
| matching       | keypoint, x, y                                    | keypoints; a pair: `pair_rows`,               |
|                |                                                   | `pair_summary`, `draw_pair`                   |
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import keras
import numpy as np

from vras_keras.data import shapes
from vras_keras.data.images import resize, to_rgb
from vras_keras.export.meta import ExportMeta
from vras_keras.layers.conv_crf import ConvCRF
from vras_keras.ops.roi_align import paste_masks
from vras_keras.visualization import overlays
from vras_keras.visualization.pose import draw_skeleton


# ------------------------------------------------------------------------------------------------ shared
def label(meta: ExportMeta, index: int) -> str:
    """The name of class `index` (`"class 7"` when the export has no such label)."""
    return meta.labels[index] if 0 <= index < len(meta.labels) else f"class {index}"


def model_view(image, input_size: Sequence[int]) -> np.ndarray:
    """The image as the model sees it: resized to `input_size` `(H, W)` by the one training / serving
    resize (`vras_keras.data.images.resize`, bilinear), rounded to uint8 RGB."""
    rgb = to_rgb(image)
    h, w = input_size
    if rgb.shape[:2] == (h, w):
        return rgb
    return np.clip(np.round(resize(rgb, (h, w))), 0, 255).astype(np.uint8)


def _factor(meta: ExportMeta, scale: int | None) -> int:
    if scale is None:
        return overlays.display_scale(meta.input_size)
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be an int >= 1 (the display upscaling factor), received {scale!r}")
    return int(scale)


def _view(image, meta: ExportMeta, scale: int | None) -> tuple[np.ndarray, int]:
    """The model view of `image` upscaled for display, and the factor."""
    factor = _factor(meta, scale)
    return overlays.upscale(model_view(image, meta.input_size), factor), factor


# ---------------------------------------------------------------------------------------- classification
def classification_rows(outputs, meta: ExportMeta, i: int = 0) -> list[dict]:
    """`[{"label", "probability"}]` of the top-k classes of image `i`, best first."""
    return [{"label": label(meta, int(k)), "probability": float(s)}
            for k, s in zip(outputs["top_k_indices"][i], outputs["top_k_scores"][i])]


def summarize_classification(outputs, meta: ExportMeta, i: int = 0) -> str:
    return "top-k: " + ", ".join(f"{r['label']} {r['probability']:.3f}" for r in classification_rows(outputs, meta, i))


def draw_classification(image, outputs, meta: ExportMeta, i: int = 0, *, scale: int | None = None) -> np.ndarray:
    canvas, _ = _view(image, meta, scale)
    best = classification_rows(outputs, meta, i)[0]
    return overlays.draw_caption(canvas, f"{best['label']} {best['probability']:.2f}")


# ------------------------------------------------------------------------------------------ segmentation
def _class_labels(meta: ExportMeta, class_map) -> list[str]:
    """The export's labels, extended with "class k" up to the largest id in `class_map`."""
    n = max(len(meta.labels), int(np.max(class_map, initial=0)) + 1)
    return [label(meta, c) for c in range(n)]


def export_has_crf(meta: ExportMeta) -> bool:
    """True when the export was built with a CRF head (e.g. `deeplab_v3(crf=True)`)."""
    return bool((meta.model_args or {}).get("crf"))


def crf_refine(image, probabilities, *, iterations: int = 5, filter_size: int = 7) -> np.ndarray:
    """Refine `(H, W, L)` class probabilities with a mean-field ConvCRF (Potts, default kernels) using
    `image` `(H, W, 3)` (0..255, the model input) for the appearance kernel; returns `(H, W, L)`."""
    probabilities = np.asarray(probabilities, np.float32)
    if probabilities.ndim != 3:
        raise ValueError(f"probabilities must have shape (H, W, L), received {probabilities.shape}")
    image = np.asarray(image, np.float32)
    if image.shape[:2] != probabilities.shape[:2]:
        raise ValueError(f"image {image.shape} and probabilities {probabilities.shape} must have the same H, W")
    unary = np.log(np.clip(probabilities, 1e-6, 1.0))
    crf = ConvCRF(probabilities.shape[-1], filter_size=filter_size, iterations=iterations)
    return keras.ops.convert_to_numpy(crf([unary[None], image[None, ..., :3]]))[0]


def segmentation_class_map(image, outputs, meta: ExportMeta, i: int = 0, *, crf: bool = False) -> np.ndarray:
    """The `(H, W)` class map of image `i`; with `crf`, the arg-max of `crf_refine` on its probabilities."""
    if not crf:
        return np.asarray(outputs["class_map"][i])
    return np.argmax(crf_refine(model_view(image, meta.input_size), outputs["probabilities"][i]), axis=-1)


def segmentation_rows(outputs, meta: ExportMeta, i: int = 0, *, class_map=None) -> list[dict]:
    """Legend rows `{"id", "label", "colour", "fraction"}` of the classes present (background excluded)."""
    class_map = np.asarray(outputs["class_map"][i] if class_map is None else class_map)
    return overlays.legend(_class_labels(meta, class_map), class_map)


def summarize_segmentation(outputs, meta: ExportMeta, i: int = 0) -> str:
    class_map = np.asarray(outputs["class_map"][i])
    present = overlays.legend(_class_labels(meta, class_map), class_map, background=None)
    return "pixels: " + ", ".join(f"{r['label']} {r['fraction']:.1%}" for r in present)


def draw_segmentation(image, outputs, meta: ExportMeta, i: int = 0, *, class_map=None, opacity: float = 0.5,
                      scale: int | None = None) -> np.ndarray:
    class_map = np.asarray(outputs["class_map"][i] if class_map is None else class_map)
    canvas, factor = _view(image, meta, scale)
    return overlays.overlay_segmentation(canvas, overlays.upscale(class_map, factor),
                                         num_classes=len(_class_labels(meta, class_map)), opacity=opacity)


# --------------------------------------------------------------------------------------------- detection
def _num_detections(outputs, i: int) -> int:
    n = int(outputs["num_detections"][i]) if "num_detections" in outputs else len(outputs["classes"][i])
    return min(max(n, 0), len(outputs["classes"][i]))


def detection_rows(outputs, meta: ExportMeta, i: int = 0, *, score_threshold: float = 0.0) -> list[dict]:
    """`[{"label", "score", "box (FORMAT, input px)"}]` of the detections of image `i` scoring at least
    `score_threshold`, best first."""
    rows = []
    for j in range(_num_detections(outputs, i)):
        c, s = int(outputs["classes"][i][j]), float(outputs["scores"][i][j])
        if c >= 0 and s >= score_threshold:
            box = [round(float(v), 1) for v in outputs["boxes"][i][j]]
            rows.append({"label": label(meta, c), "score": s, f"box ({meta.box_format}, input px)": box})
    return sorted(rows, key=lambda r: -r["score"])


def summarize_detection(outputs, meta: ExportMeta, i: int = 0) -> str:
    rows = detection_rows(outputs, meta, i)
    if not rows:
        return "no detections"
    key = f"box ({meta.box_format}, input px)"
    return f"{len(rows)} detection(s): " + "; ".join(
        f"{r['label']} {r['score']:.3f} {meta.box_format} [{', '.join(f'{v:.1f}' for v in r[key])}]" for r in rows)


def paste_box_masks(masks, boxes, image_size, box_format: str = "xyxy") -> np.ndarray:
    """Box-relative masks `(M, h, w)` (Mask R-CNN's m×m grids) -> whole-image probabilities `(M, H, W)`
    (`vras_keras.ops.roi_align.paste_masks` for one image, not binarised)."""
    pasted = paste_masks(np.asarray(masks, np.float32)[None], np.asarray(boxes, np.float32)[None], image_size,
                         threshold=None, bounding_box_format=box_format)
    return keras.ops.convert_to_numpy(pasted)[0]


def draw_detection(image, outputs, meta: ExportMeta, i: int = 0, *, score_threshold: float = 0.0,
                   show_masks: bool = True, scale: int | None = None) -> np.ndarray:
    canvas, factor = _view(image, meta, scale)
    classes = np.array(outputs["classes"][i], np.int64)
    classes[_num_detections(outputs, i):] = -1
    boxes = np.asarray(outputs["boxes"][i], np.float32)
    masks = outputs.get("masks") if show_masks else None
    if masks is not None:
        masks = np.asarray(masks[i], np.float32)
        if masks.ndim == 3 and masks.shape[1:] != tuple(meta.input_size):
            masks = paste_box_masks(masks, boxes, meta.input_size, meta.box_format)
    return overlays.draw_detections(canvas, boxes, classes, outputs["scores"][i], labels=meta.labels,
                                    score_threshold=score_threshold, box_format=meta.box_format, masks=masks,
                                    scale=factor)


# -------------------------------------------------------------------------------------------------- pose
def pose_skeleton(meta: ExportMeta) -> list:
    """The export's skeleton; runs of `vras train` on stick figures record only the joint names, so
    those get `vras_keras.data.shapes.SKELETON`."""
    if meta.skeleton:
        return [tuple(p) for p in meta.skeleton]
    return list(shapes.SKELETON) if tuple(meta.keypoint_names) == tuple(shapes.JOINT_NAMES) else []


def pose_rows(outputs, meta: ExportMeta, i: int = 0) -> list[dict]:
    """`[{"joint", "x", "y", "confidence"}]` of image `i` (input pixels, rounded to 0.1)."""
    names = meta.keypoint_names or [f"joint {j}" for j in range(len(outputs["keypoints"][i]))]
    return [{"joint": name, "x": round(float(x), 1), "y": round(float(y), 1), "confidence": float(c)}
            for name, (x, y), c in zip(names, outputs["keypoints"][i], outputs["confidence"][i])]


def summarize_pose(outputs, meta: ExportMeta, i: int = 0) -> str:
    return "keypoints: " + ", ".join(f"{r['joint']} ({r['x']:.1f}, {r['y']:.1f}) {r['confidence']:.2f}"
                                     for r in pose_rows(outputs, meta, i))


def draw_pose(image, outputs, meta: ExportMeta, i: int = 0, *, confidence_threshold: float = 0.0,
              scale: int | None = None) -> np.ndarray:
    canvas, factor = _view(image, meta, scale)
    keypoints = np.asarray(outputs["keypoints"][i], np.float32)
    skeleton = [tuple(p) for p in pose_skeleton(meta) if max(p) < len(keypoints)]
    # the pose data's keypoints have pixel centres at +0.5 (vras_keras.data.shapes): edges scale exactly
    keypoints = np.concatenate([keypoints * factor, np.asarray(outputs["confidence"][i], np.float32)[:, None]], -1)
    keypoints[:, :2] = np.clip(keypoints[:, :2], -1e4, 1e4)
    return draw_skeleton(canvas, keypoints, skeleton=skeleton, confidence_threshold=confidence_threshold)


# --------------------------------------------------------------------------------------------------- stn
def stn_views(image, outputs, meta: ExportMeta, i: int = 0, *, scale: int | None = None):
    """`(input as the model sees it, transformed image)`, both upscaled to about the same display height."""
    view, _ = _view(image, meta, scale)
    transformed = np.clip(np.asarray(outputs["transformed_image"][i], np.float32), 0, 255)
    t_factor = max(1, round(view.shape[0] / transformed.shape[0]))
    return view, overlays.upscale(to_rgb(np.round(transformed).astype(np.uint8)), t_factor)


def stn_rows(outputs, meta: ExportMeta, i: int = 0) -> list[dict]:
    """The top-k rows when the model classifies, else `[{"output", "shape"}]` of image `i`'s outputs."""
    if "top_k_indices" in outputs:
        return classification_rows(outputs, meta, i)
    return [{"output": k, "shape": str(tuple(np.shape(v[i])))} for k, v in outputs.items()]


def summarize_stn(outputs, meta: ExportMeta, i: int = 0) -> str:
    parts = []
    if "transformed_image" in outputs:
        parts.append(f"transformed image {tuple(np.shape(outputs['transformed_image'][i]))}")
    if "top_k_indices" in outputs:
        parts.append(summarize_classification(outputs, meta, i))
    return "; ".join(parts)


def draw_stn(image, outputs, meta: ExportMeta, i: int = 0, *, scale: int | None = None) -> np.ndarray:
    if "transformed_image" not in outputs:  # a baseline classifier without a transformer
        return draw_classification(image, outputs, meta, i, scale=scale)
    return overlays.side_by_side(*stn_views(image, outputs, meta, i, scale=scale))


# ---------------------------------------------------------------------------------------------- matching
def matching_rows(outputs, meta: ExportMeta, i: int = 0) -> list[dict]:
    """`[{"keypoint", "x", "y"}]` of image `i` (input pixels, centres at integers, rounded to 0.1)."""
    return [{"keypoint": k, "x": round(float(p[0]), 1), "y": round(float(p[1]), 1)}
            for k, p in enumerate(outputs["keypoints"][i])]


def summarize_matching(outputs, meta: ExportMeta, i: int = 0) -> str:
    return f"{len(outputs['keypoints'][i])} keypoints, descriptors of size {outputs['descriptors'][i].shape[-1]}"


def draw_matching(image, outputs, meta: ExportMeta, i: int = 0, *, scale: int | None = None) -> np.ndarray:
    canvas, factor = _view(image, meta, scale)
    return overlays.draw_keypoints(canvas, overlays.scale_points(np.asarray(outputs["keypoints"][i])[:, :2], factor))


def pair_rows(matches, distances) -> list[dict]:
    """`[{"a", "b", "distance"}]`: one row per match (keypoint index in image a, in image b)."""
    return [
        {"a": int(a), "b": int(b), "distance": float(d)} for (a, b), d in zip(np.reshape(matches, (-1, 2)), distances)
    ]


def pair_summary(outputs, matches, correct=None, *, tolerance: float = 3.0) -> str:
    """"K_a / K_b keypoints, M matches[, P% correct under the known warp (T px)]" for images 0 and 1."""
    text = f"{len(outputs['keypoints'][0])} / {len(outputs['keypoints'][1])} keypoints, {len(matches)} matches"
    if correct is not None and len(matches):
        text += f", {np.mean(correct):.0%} correct under the known warp ({tolerance:g} px)"
    return text


def draw_pair(image_a, image_b, outputs, meta: ExportMeta, matches, *, correct=None,
              scale: int | None = None) -> np.ndarray:
    """Images 0 and 1 of `outputs` side by side (model views, upscaled) with their keypoints and `matches`
    (`correct`: inliers green, the others red)."""
    view_a, factor = _view(image_a, meta, scale)
    view_b, _ = _view(image_b, meta, scale)
    points = [overlays.scale_points(np.asarray(outputs["keypoints"][k])[:, :2], factor) for k in (0, 1)]
    return overlays.draw_matches(view_a, points[0], view_b, points[1], matches, inliers=correct)


# ---------------------------------------------------------------------------------------------- dispatch
@dataclasses.dataclass(frozen=True)
class TaskRenderer:
    """How one task is shown: `summary(outputs, meta, i)`, `rows(outputs, meta, i, **options)` and
    `draw(image, outputs, meta, i, **options)`."""

    summary: Callable[..., str]
    rows: Callable[..., list]
    draw: Callable[..., np.ndarray]


RENDERERS: dict[str, TaskRenderer] = {
    "classification": TaskRenderer(summarize_classification, classification_rows, draw_classification),
    "segmentation": TaskRenderer(summarize_segmentation, segmentation_rows, draw_segmentation),
    "detection": TaskRenderer(summarize_detection, detection_rows, draw_detection),
    "pose": TaskRenderer(summarize_pose, pose_rows, draw_pose),
    "stn": TaskRenderer(summarize_stn, stn_rows, draw_stn),
    "matching": TaskRenderer(summarize_matching, matching_rows, draw_matching),
}


def renderer(task: str) -> TaskRenderer:
    """The renderer of `task` (ValueError naming the known tasks otherwise)."""
    if task not in RENDERERS:
        raise ValueError(f"no renderer for task {task!r}; tasks: {', '.join(RENDERERS)}")
    return RENDERERS[task]


def summarize(outputs, meta: ExportMeta, i: int = 0) -> str:
    """One line describing image `i`'s prediction (what `vras predict` prints)."""
    return renderer(meta.task).summary(outputs, meta, i)


def rows(outputs, meta: ExportMeta, i: int = 0, **options) -> list[dict]:
    """The result table of image `i` (what the demo pages show), one dict per row."""
    return renderer(meta.task).rows(outputs, meta, i, **options)


def draw(image, outputs, meta: ExportMeta, i: int = 0, **options) -> np.ndarray:
    """Image `i`'s prediction drawn over `image` (any size: drawn on its model view), uint8 RGB."""
    return renderer(meta.task).draw(image, outputs, meta, i, **options)
