"""Parity of an export with its Keras model: Keras vs SavedModel vs every TFLite file, on the same images.

The reference is the Keras model followed by the same post-processing as the signatures (run eagerly);
each exported artifact runs the `serving_default` signature (SavedModel) or its single signature
(TFLite). For every backend the table reports the largest absolute difference over the float outputs
and a task-level agreement (`AGREEMENTS`, one entry per task):

| task           | agreement                                                                        |
|----------------|----------------------------------------------------------------------------------|
| classification | top-1 agreement: share of images with the same arg-max class                     |
| segmentation   | mIoU agreement: mean IoU of the class maps, Keras's map taken as ground truth     |
| detection      | AP agreement: AP@0.5 of the backend's detections with Keras's detections as truth |
| pose           | PCK@2px agreement: share of keypoints within 2 pixels of Keras's                  |
| stn            | top-1 agreement when it classifies, else mean |diff| of the transformed image       |
| matching       | keypoints within 1 pixel (share)                                                   |
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from vras_keras.export.meta import ExportMeta
from vras_keras.export.safety import load_saved_model
from vras_keras.export.saved_model import TFLITE_FILES

BACKEND_LABELS = {"none": "tflite fp32", "fp16": "tflite fp16", "int8": "tflite int8"}


# ------------------------------------------------------------------------------------------ agreements
def top1_agreement(reference: dict, outputs: dict) -> float:
    return float(np.mean(np.argmax(reference["probabilities"], -1) == np.argmax(outputs["probabilities"], -1)))


def miou_agreement(reference: dict, outputs: dict) -> float:
    truth, pred = reference["class_map"], outputs["class_map"]
    ious = []
    for c in np.union1d(np.unique(truth), np.unique(pred)):
        union = np.sum((truth == c) | (pred == c))
        ious.append(np.sum((truth == c) & (pred == c)) / union)
    return float(np.mean(ious)) if ious else 1.0


def _iou(box, boxes):
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def detection_ap(truth: list[dict], predictions: list[dict], iou_threshold: float = 0.5) -> float:
    """Mean over classes of VOC-style (all-point) AP; `truth`/`predictions` per image: boxes, classes[, scores]."""
    classes = sorted(
        {int(c) for t in truth for c in t["classes"]} | {int(c) for p in predictions for c in p["classes"]}
    )
    if not classes:
        return 1.0
    aps = []
    for c in classes:
        gt = [t["boxes"][t["classes"] == c] for t in truth]
        n_gt = sum(len(g) for g in gt)
        dets = [
            (s, i, b)
            for i, p in enumerate(predictions)
            for b, s, k in zip(p["boxes"], p["scores"], p["classes"])
            if k == c
        ]
        dets.sort(key=lambda d: -d[0])
        used = [np.zeros(len(g), bool) for g in gt]
        tp = []
        for _, i, box in dets:
            ious = _iou(box, gt[i]) if len(gt[i]) else np.zeros(0)
            j = int(np.argmax(ious)) if len(ious) else -1
            hit = j >= 0 and ious[j] >= iou_threshold and not used[i][j]
            if hit:
                used[i][j] = True
            tp.append(hit)
        if n_gt == 0:
            aps.append(0.0 if dets else 1.0)
            continue
        tp = np.asarray(tp, float)
        recall = np.concatenate([[0], np.cumsum(tp) / n_gt])
        precision = np.concatenate([[1], np.cumsum(tp) / np.maximum(np.arange(1, len(tp) + 1), 1)])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        aps.append(float(np.sum(np.diff(recall) * precision[1:])))
    return float(np.mean(aps))


def _detections(outputs: dict, score_threshold: float) -> list[dict]:
    result = []
    for i in range(len(outputs["boxes"])):
        keep = (outputs["classes"][i] >= 0) & (outputs["scores"][i] >= score_threshold)
        result.append({k: outputs[k][i][keep] for k in ("boxes", "scores", "classes")})
    return result


def ap_agreement(reference: dict, outputs: dict, score_threshold: float = 0.3) -> float:
    return detection_ap(_detections(reference, score_threshold), _detections(outputs, 0.0))


def pck_agreement(reference: dict, outputs: dict, pixels: float = 2.0) -> float:
    return float(np.mean(np.linalg.norm(reference["keypoints"] - outputs["keypoints"], axis=-1) <= pixels))


def stn_agreement(reference: dict, outputs: dict) -> float:
    if "probabilities" in reference:
        return top1_agreement(reference, outputs)
    return float(np.mean(np.abs(reference["transformed_image"] - outputs["transformed_image"])))


def matching_agreement(reference: dict, outputs: dict) -> float:
    return pck_agreement(reference, outputs, pixels=1.0)


# task -> (column title, function(reference_outputs, backend_outputs) -> float)
AGREEMENTS: dict[str, tuple[str, Callable[[dict, dict], float]]] = {
    "classification": ("top-1 agreement", top1_agreement),
    "segmentation": ("mIoU agreement", miou_agreement),
    "detection": ("AP@0.5 agreement", ap_agreement),
    "pose": ("PCK@2px agreement", pck_agreement),
    "stn": ("top-1 agreement / mean |diff|", stn_agreement),
    "matching": ("keypoints within 1px", matching_agreement),
}


# ------------------------------------------------------------------------------------------ backends
def keras_outputs(model, meta: ExportMeta, images: np.ndarray, batch_size: int = 16) -> dict[str, np.ndarray]:
    """The reference: the Keras model and the signature's post-processing, run eagerly."""
    import tensorflow as tf

    from vras_keras.export.signatures import make_serving_fn

    serve = make_serving_fn(model, meta)
    parts = [serve(tf.constant(images[i : i + batch_size], tf.float32)) for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([p[k].numpy() for p in parts]) for k in parts[0]}


def export_backends(export_path: str) -> dict[str, Callable[[np.ndarray], dict]]:
    """`{label: fn(images) -> outputs}` for the SavedModel and every TFLite file of an export version."""
    import tensorflow as tf

    from vras_keras.export.tflite import TFLiteRunner

    backends = {}
    if os.path.exists(os.path.join(export_path, "saved_model.pb")):
        serve = load_saved_model(export_path).signatures["serving_default"]
        backends["saved_model"] = lambda x: {k: v.numpy() for k, v in serve(images=tf.constant(x, tf.float32)).items()}
    for q, filename in TFLITE_FILES.items():
        path = os.path.join(export_path, filename)
        if os.path.exists(path):
            backends[BACKEND_LABELS[q]] = TFLiteRunner(path)
    if not backends:
        raise FileNotFoundError(f"{export_path} holds no saved_model.pb and no .tflite file")
    return backends


@dataclasses.dataclass
class ParityRow:
    backend: str
    max_abs_diff: float
    per_output: dict[str, float]
    agreement: float


@dataclasses.dataclass
class ParityReport:
    task: str
    num_images: int
    agreement_name: str
    rows: list[ParityRow]

    def row(self, backend: str) -> ParityRow:
        for r in self.rows:
            if r.backend == backend:
                return r
        raise KeyError(f"no backend {backend!r} in the report; have {[r.backend for r in self.rows]}")

    def to_markdown(self) -> str:
        outputs = list(self.rows[0].per_output) if self.rows else []
        head = ["backend", "max abs diff"] + [f"`{o}`" for o in outputs] + [self.agreement_name]
        lines = [f"Parity vs Keras on {self.num_images} images ({self.task})", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = (
                [r.backend, f"{r.max_abs_diff:.3g}"]
                + [f"{r.per_output[o]:.3g}" for o in outputs]
                + [f"{r.agreement:.4g}"]
            )
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def parity_report(model, meta: ExportMeta, export_path: str, images: np.ndarray) -> ParityReport:
    """Compare every artifact of `export_path` with the Keras `model` on `images` (float (N, H, W, 3) 0..255)."""
    images = np.asarray(images, np.float32)
    expected = (meta.input_size[0], meta.input_size[1], meta.input_channels)
    if images.ndim != 4 or images.shape[1:] != expected:
        raise ValueError(f"parity images must have shape (N, {', '.join(map(str, expected))}), received {images.shape}")
    reference = keras_outputs(model, meta, images)
    title, agree = AGREEMENTS[meta.task]
    float_outputs = [k for k, v in reference.items() if np.issubdtype(v.dtype, np.floating)]
    rows = [ParityRow("keras", 0.0, {k: 0.0 for k in float_outputs}, agree(reference, reference))]
    for label, run in export_backends(export_path).items():
        outputs = run(images)
        missing = sorted(set(reference) - set(outputs))
        if missing:
            raise ValueError(f"{label} of {export_path} lacks the output(s) {missing}; it has {sorted(outputs)}")
        diffs = {k: float(np.max(np.abs(outputs[k].astype(np.float64) - reference[k]))) if reference[k].size else 0.0
                 for k in float_outputs}
        rows.append(ParityRow(label, max(diffs.values(), default=0.0), diffs, agree(reference, outputs)))
    return ParityReport(task=meta.task, num_images=len(images), agreement_name=title, rows=rows)
