"""Text summaries and drawings of one image's prediction, per task (used by `vras predict`).

`SUMMARIES[task](outputs, i, meta) -> str` and `DRAWERS[task](image_uint8, outputs, i, meta) -> PIL.Image`,
where `outputs` are a `Predictor.predict` result (batch first) and coordinates are in input pixels; the
drawings are made at the model's input size.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from vras_keras.export.meta import ExportMeta

_PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)


def _label(meta: ExportMeta, index: int) -> str:
    return meta.labels[index] if 0 <= index < len(meta.labels) else f"class {index}"


def _topk_text(outputs, i, meta):
    pairs = zip(outputs["top_k_indices"][i], outputs["top_k_scores"][i])
    return ", ".join(f"{_label(meta, int(k))} {s:.3f}" for k, s in pairs)


def summarize_classification(outputs, i, meta):
    return "top-k: " + _topk_text(outputs, i, meta)


def summarize_segmentation(outputs, i, meta):
    classes, counts = np.unique(outputs["class_map"][i], return_counts=True)
    total = counts.sum()
    return "pixels: " + ", ".join(f"{_label(meta, int(c))} {n / total:.1%}" for c, n in zip(classes, counts))


def summarize_detection(outputs, i, meta):
    n = int(outputs["num_detections"][i])
    keep = np.flatnonzero(outputs["classes"][i] >= 0)[: max(n, 0)]
    if not len(keep):
        return "no detections"
    rows = [f"{_label(meta, int(outputs['classes'][i][j]))} {outputs['scores'][i][j]:.3f} "
            f"{meta.box_format} [{', '.join(f'{v:.1f}' for v in outputs['boxes'][i][j])}]" for j in keep]
    return f"{len(keep)} detection(s): " + "; ".join(rows)


def summarize_pose(outputs, i, meta):
    names = meta.keypoint_names or [f"joint {j}" for j in range(len(outputs["keypoints"][i]))]
    return "keypoints: " + ", ".join(f"{n} ({x:.1f}, {y:.1f}) {c:.2f}"
                                     for n, (x, y), c in zip(names, outputs["keypoints"][i], outputs["confidence"][i]))


def summarize_stn(outputs, i, meta):
    text = f"transformed image {tuple(outputs['transformed_image'][i].shape)}"
    return text + ("; top-k: " + _topk_text(outputs, i, meta) if "top_k_indices" in outputs else "")


def summarize_matching(outputs, i, meta):
    return f"{len(outputs['keypoints'][i])} keypoints, descriptors of size {outputs['descriptors'][i].shape[-1]}"


SUMMARIES: dict[str, Callable] = {
    "classification": summarize_classification,
    "segmentation": summarize_segmentation,
    "detection": summarize_detection,
    "pose": summarize_pose,
    "stn": summarize_stn,
    "matching": summarize_matching,
}


# ----------------------------------------------------------------------------------------------- drawing
def _canvas(image):
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, -1)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).convert("RGB")


def draw_caption(image, outputs, i, meta):
    from PIL import ImageDraw

    canvas = _canvas(image)
    ImageDraw.Draw(canvas).text((2, 2), SUMMARIES[meta.task](outputs, i, meta).split(",")[0], fill=(255, 255, 0))
    return canvas


def draw_segmentation(image, outputs, i, meta):
    from PIL import Image

    class_map = outputs["class_map"][i]
    colours = _PALETTE[class_map % len(_PALETTE)]
    colours[class_map == 0] = 0
    blended = (0.5 * np.asarray(_canvas(image), np.float32) + 0.5 * colours).astype(np.uint8)
    return Image.fromarray(blended)


def draw_detection(image, outputs, i, meta):
    from PIL import ImageDraw

    canvas = _canvas(image)
    draw = ImageDraw.Draw(canvas)
    for j in np.flatnonzero(outputs["classes"][i] >= 0)[: int(outputs["num_detections"][i])]:
        c = int(outputs["classes"][i][j])
        x1, y1, x2, y2 = _to_xyxy(outputs["boxes"][i][j], meta.box_format)
        colour = tuple(int(v) for v in _PALETTE[c % len(_PALETTE)])
        draw.rectangle([x1, y1, x2, y2], outline=colour)
        draw.text((x1 + 1, y1 + 1), f"{_label(meta, c)} {outputs['scores'][i][j]:.2f}", fill=colour)
    return canvas


def _to_xyxy(box, box_format):
    a, b, c, d = (float(v) for v in box)
    conversions = {"xyxy": (a, b, c, d), "yxyx": (b, a, d, c), "xywh": (a, b, a + c, b + d),
                   "center_xywh": (a - c / 2, b - d / 2, a + c / 2, b + d / 2)}
    if box_format not in conversions:
        raise ValueError(f"cannot draw boxes in format {box_format!r}; drawable: {sorted(conversions)}")
    return conversions[box_format]


def draw_pose(image, outputs, i, meta):
    from PIL import ImageDraw

    canvas = _canvas(image)
    draw = ImageDraw.Draw(canvas)
    points = outputs["keypoints"][i]
    for a, b in meta.skeleton:
        if a < len(points) and b < len(points):
            draw.line([tuple(points[a]), tuple(points[b])], fill=(0, 255, 0), width=1)
    for j, (x, y) in enumerate(points):
        colour = tuple(int(v) for v in _PALETTE[j % len(_PALETTE)])
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=colour)
    return canvas


def draw_stn(image, outputs, i, meta):
    from PIL import Image

    left = _canvas(image)
    right = _canvas(outputs["transformed_image"][i]).resize(left.size)
    both = Image.new("RGB", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    return both


def draw_matching(image, outputs, i, meta):
    return draw_pose(image, outputs | {"keypoints": outputs["keypoints"][..., :2]}, i,
                     ExportMeta(task="matching", input_size=meta.input_size))


DRAWERS: dict[str, Callable] = {
    "classification": draw_caption,
    "segmentation": draw_segmentation,
    "detection": draw_detection,
    "pose": draw_pose,
    "stn": draw_stn,
    "matching": draw_matching,
}
