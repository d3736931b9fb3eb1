"""Overlays for `vras predict`, the demo and reports: segmentation maps with a legend, boxes with labels and
masks, keypoints, captions, side-by-side panels and feature matches, and the one palette they all use.
Every drawing function returns a new uint8 RGB array.

Coordinates are in pixels of the image passed in. Boxes may be in any `keras.utils.bounding_boxes` format
(converted by `vras_keras.ops.boxes.convert_format`, the one box-format converter); points follow
`vras_keras.data.geometry` (pixel centres at integers).
"""

from __future__ import annotations

import colorsys
from typing import Sequence

import cv2
import keras
import numpy as np

from vras_keras.data.images import to_rgb
from vras_keras.ops.boxes import convert_format

DISPLAY_SIDE = 384  # model inputs (32..64 px) are upscaled to about this for display


def palette(n: int) -> np.ndarray:
    """`(n, 3)` uint8 distinct colours (a golden-ratio hue walk, saturated and bright)."""
    if n < 0:
        raise ValueError(f"palette size must be >= 0, received {n}")
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 0.95)] for h in hues], np.uint8).reshape(n, 3)


def segmentation_colours(num_classes: int, background: int | None = 0) -> np.ndarray:
    """One colour per class; the `background` class is black (drawn transparent by `overlay_segmentation`)."""
    colours = palette(num_classes)
    if background is not None and 0 <= background < num_classes:
        colours[background] = 0
    return colours


def overlay_segmentation(image, class_map, *, num_classes: int | None = None, opacity: float = 0.5,
                         background: int | None = 0, colours=None) -> np.ndarray:
    """Blend a class map over `image`: `out = (1 - opacity) * image + opacity * colour[class]`.

    Args:
        image: `(H, W[, C])` image (any dtype `to_rgb` accepts).
        class_map: `(h, w)` int class ids; resized (nearest) to the image size if it differs.
        num_classes: size of the colour table (default: max class id + 1).
        opacity: 0 (image only) .. 1 (colours only).
        background: class id left uncoloured (None: colour every class).
        colours: `(num_classes, 3)` colours (default `segmentation_colours`).
    """
    if not 0.0 <= float(opacity) <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], received {opacity}")
    rgb = to_rgb(image)
    class_map = np.asarray(class_map)
    if class_map.ndim != 2:
        raise ValueError(f"class_map must have shape (H, W), received {class_map.shape}")
    if class_map.shape != rgb.shape[:2]:
        class_map = cv2.resize(
            class_map.astype(np.int32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST
        )
    class_map = class_map.astype(np.int64)
    n = int(num_classes if num_classes is not None else class_map.max(initial=0) + 1)
    colours = segmentation_colours(n, background) if colours is None else np.asarray(colours, np.uint8)
    ids = np.clip(class_map, 0, len(colours) - 1)
    coloured = colours[ids].astype(np.float32)
    alpha = np.full(class_map.shape + (1,), float(opacity), np.float32)
    if background is not None:
        alpha[class_map == background] = 0.0
    out = rgb.astype(np.float32) * (1.0 - alpha) + coloured * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def legend(labels: Sequence[str], class_map=None, *, background: int | None = 0, colours=None) -> list[dict]:
    """Legend rows `{"id", "label", "colour" ("#rrggbb"), "fraction"}` for the classes present in
    `class_map` (all classes when it is None), background excluded."""
    colours = segmentation_colours(len(labels), background) if colours is None else np.asarray(colours, np.uint8)
    present = None
    if class_map is not None:
        ids, counts = np.unique(np.asarray(class_map), return_counts=True)
        present = dict(zip(ids.tolist(), (counts / counts.sum()).tolist()))
    rows = []
    for i, label in enumerate(labels):
        if i == background or (present is not None and i not in present):
            continue
        r, g, b = (int(v) for v in colours[i % len(colours)])
        rows.append({"id": i, "label": label, "colour": f"#{r:02x}{g:02x}{b:02x}",
                     "fraction": None if present is None else present[i]})
    return rows


def display_scale(size: Sequence[int], target: int = DISPLAY_SIDE) -> int:
    """Integer upscaling factor that brings an image of `size` `(H, W)` near `target` pixels for display."""
    return max(1, int(target // max(size)))


def upscale(array, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of an `(H, W[, C])` array (image or class map) by an integer factor:
    every pixel becomes a `factor x factor` block, so the pixels stay visible."""
    array = np.asarray(array)
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1) if factor > 1 else array


def scale_points(points, factor: float) -> np.ndarray:
    """`(..., 2)` pixel points (centres at integers) of an image -> the same points in that image resized by
    `factor`: `(p + 0.5) * factor - 0.5` (the image's edge `-0.5` and its far edge scale exactly)."""
    return (np.asarray(points, np.float32) + 0.5) * float(factor) - 0.5


def _text_box(canvas, text: str, x: int, y: int, colour, font_scale: float) -> None:
    """Black `text` on a filled `colour` box whose top-left corner is near `(x, y)` (kept inside the image)."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    ty = max(y, th + base)
    cv2.rectangle(canvas, (x, ty - th - base), (x + tw + 2, ty), colour, -1)
    cv2.putText(canvas, text, (x + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 1, cv2.LINE_AA)


def _font_scale(canvas) -> float:
    return max(0.35, min(canvas.shape[:2]) / 600)


def draw_caption(image, text: str, *, colour=(255, 255, 0)) -> np.ndarray:
    """`text` in a box at the top-left corner of `image`."""
    canvas = np.ascontiguousarray(to_rgb(image).copy())
    _text_box(canvas, text, 0, 0, tuple(int(v) for v in colour), _font_scale(canvas))
    return canvas


def draw_detections(image, boxes, classes, scores, *, labels: Sequence[str] = (), score_threshold: float = 0.0,
                    box_format: str = "xyxy", masks=None, mask_opacity: float = 0.45, scale: float = 1.0,
                    thickness: int | None = None) -> np.ndarray:
    """Boxes with "label score" captions (and instance masks) over `image`.

    Args:
        image: the image to draw on.
        boxes: `(M, 4)` in `box_format`, in pixels of the model input; multiplied by `scale` to reach the
            pixels of `image`.
        classes: `(M,)` int class ids, -1 = padding (not drawn).
        scores: `(M,)` scores; detections below `score_threshold` are not drawn.
        labels: class names (index = class id).
        masks: `(M, h, w)` per-detection masks in [0, 1] over the whole image (resized to the image),
            drawn where > 0.5.
        thickness: box line width (default from the image size).
    """
    canvas = np.ascontiguousarray(to_rgb(image).copy())
    h, w = canvas.shape[:2]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    xyxy = keras.ops.convert_to_numpy(convert_format(boxes, box_format, "xyxy")) * float(scale)
    classes = np.asarray(classes).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if not (len(xyxy) == len(classes) == len(scores)):
        raise ValueError(
            f"boxes, classes and scores must have the same length, received {len(xyxy)}, {len(classes)}, {len(scores)}"
        )
    keep = np.flatnonzero((classes >= 0) & (scores >= score_threshold))
    colours = palette(max(len(labels), int(classes.max(initial=0)) + 1, 1))
    thickness = thickness or max(1, round(min(h, w) / 200))
    if masks is not None:
        masks = np.asarray(masks, np.float32)
        overlay = canvas.astype(np.float32)
        for j in keep:
            if j >= len(masks):
                continue
            m = masks[j]
            if m.shape != (h, w):
                m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
            on = m > 0.5
            overlay[on] = (1 - mask_opacity) * overlay[on] + mask_opacity * colours[classes[j] % len(colours)]
        canvas = np.clip(np.round(overlay), 0, 255).astype(np.uint8)
    font_scale = _font_scale(canvas)
    for j in keep[np.argsort(scores[keep])]:  # highest score drawn last (on top)
        c = int(classes[j])
        colour = tuple(int(v) for v in colours[c % len(colours)])
        x1, y1, x2, y2 = (int(round(v)) for v in xyxy[j])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        _text_box(
            canvas, f"{labels[c] if c < len(labels) else f'class {c}'} {scores[j]:.2f}", x1, y1, colour, font_scale
        )
    return canvas


def draw_keypoints(image, keypoints, *, colour=(255, 255, 0), radius: int | None = None) -> np.ndarray:
    """Circles at `(K, 2)` (x, y) pixel positions (`vras_keras.data.geometry`: pixel centres at integers)."""
    canvas = np.ascontiguousarray(to_rgb(image).copy())
    points = np.asarray(keypoints, np.float32)
    points = points.reshape(-1, points.shape[-1])[:, :2] if points.size else np.zeros((0, 2), np.float32)
    radius = radius or max(2, round(min(canvas.shape[:2]) / 100))
    for x, y in points:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(canvas, (int(round(x)), int(round(y))), radius, tuple(int(v) for v in colour), 1, cv2.LINE_AA)
    return canvas


def side_by_side(*images, gap: int = 4, height: int | None = None) -> np.ndarray:
    """Images resized to a common height (default: the tallest) and placed left to right on white."""
    arrays = [to_rgb(im) for im in images]
    if not arrays:
        raise ValueError("side_by_side needs at least one image")
    height = height or max(a.shape[0] for a in arrays)
    resized = []
    for a in arrays:
        width = max(1, round(a.shape[1] * height / a.shape[0]))
        interpolation = cv2.INTER_NEAREST if height >= a.shape[0] else cv2.INTER_AREA
        resized.append(cv2.resize(a, (width, height), interpolation=interpolation) if a.shape[0] != height else a)
    total = sum(a.shape[1] for a in resized) + gap * (len(resized) - 1)
    out = np.full((height, total, 3), 255, np.uint8)
    x = 0
    for a in resized:
        out[:, x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    return out


def draw_matches(image_a, keypoints_a, image_b, keypoints_b, matches, *, inliers=None, gap: int = 8,
                 max_lines: int | None = 200) -> np.ndarray:
    """Two images side by side (same height) with keypoints and lines between matched ones.

    Args:
        keypoints_a, keypoints_b: `(K, 2)` (x, y) pixels of each image.
        matches: `(M, 2)` int pairs `(index in a, index in b)`.
        inliers: optional `(M,)` bool; inliers are drawn green, outliers red (default: all in colour).
        max_lines: draw at most this many matches (the first ones).
    """
    a, b = to_rgb(image_a), to_rgb(image_b)
    height = max(a.shape[0], b.shape[0])
    sa, sb = height / a.shape[0], height / b.shape[0]
    canvas = side_by_side(a, b, gap=gap, height=height)
    offset = round(a.shape[1] * sa) + gap
    pa = scale_points(np.asarray(keypoints_a, np.float32).reshape(-1, 2), sa)
    pb = scale_points(np.asarray(keypoints_b, np.float32).reshape(-1, 2), sb)
    canvas = draw_keypoints(canvas, pa, colour=(255, 255, 0))
    canvas = draw_keypoints(canvas, pb + [offset, 0], colour=(255, 255, 0))
    matches = np.asarray(matches, np.int64).reshape(-1, 2)
    if max_lines is not None:
        matches = matches[:max_lines]
    colours = palette(max(len(matches), 1))
    for k, (i, j) in enumerate(matches):
        if not (0 <= i < len(pa) and 0 <= j < len(pb)):
            raise ValueError(f"match {k} = ({i}, {j}) indexes outside the keypoints ({len(pa)}, {len(pb)})")
        if inliers is not None:
            colour = (40, 200, 40) if inliers[k] else (220, 40, 40)
        else:
            colour = tuple(int(v) for v in colours[k])
        p, q = pa[i], pb[j] + [offset, 0]
        cv2.line(
            canvas, (int(round(p[0])), int(round(p[1]))), (int(round(q[0])), int(round(q[1]))), colour, 1, cv2.LINE_AA
        )
    return canvas
