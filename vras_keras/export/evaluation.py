"""Evaluate a model (training run, `.keras` checkpoint, SavedModel or `.tflite`) on a dataset, per task.

`load_evaluator(path)` turns any of these into a `Predictor` (`vras_keras.export.loading`): images in,
the serving signature's named outputs out (`vras_keras.export.signatures.OUTPUTS`), with the model's
`ExportMeta` (task, labels, input size). A Keras model runs the same post-processing as its exports
(`parity.keras_outputs`), so Keras, SavedModel and TFLite are scored by the same code on the same images.

`evaluate(predictor, data=...)` reads `data` ("shapes" or a dataset folder; the folder's `<split>`
sub-folder when it exists) with the one decoder at the model's input size, numbers the dataset's classes
by the model's labels (by name: a class the model does not know is an error naming it), and returns:

==============  ==============================================================================
task            metrics
==============  ==============================================================================
classification  top1, top5, per_class (accuracy per label), confusion (rows: truth, cols: prediction)
segmentation    mIoU, per_class_iou, pixel_accuracy (pixels labelled 255 are ignored)
detection       COCO AP, AP50, AP75, ... (pycocotools; `iou_type` bbox or segm)
pose            mean_error_px (visible joints), PCK@0.05, PCK@0.1 (of the longer image side)
matching        mma@1, mma@3, mma@5, repeatability, correct@3 (mean per pair), matches, pairs:
                image pairs with a 3x3 homography file, the HPatches layout (`SEQ/1.ppm ...
                SEQ/6.ppm` with `SEQ/H_1_2 ... H_1_6`) or the Oxford one (`SEQ/img1.ppm ...` with
                `SEQ/H1to2p ...`, also OpenCV's `H1to3p.xml`), or one such folder (`homography_pairs`), each
                pair scored by `vras_keras.metrics.matching.evaluate_pair` at the model's input size
==============  ==============================================================================
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from vras_keras.data import datasets
from vras_keras.data.images import IMAGE_EXTENSIONS, read_image
from vras_keras.export import sources
from vras_keras.export.loading import Predictor, load_export
from vras_keras.export.meta import META_FILENAME, ExportMeta
from vras_keras.export.parity import keras_outputs
from vras_keras.metrics.detection import evaluate_detections
from vras_keras.metrics.matching import THRESHOLDS, evaluate_pair
from vras_keras.metrics.segmentation import confusion_matrix, iou_from_confusion
from vras_keras.models import load_model

TASK_DATA = {"classification": "classification", "stn": "classification", "segmentation": "segmentation",
             "detection": "detection", "pose": "pose"}


def _keras_predictor(model, meta: ExportMeta, path: str) -> Predictor:

    return Predictor(path, meta, "keras", lambda images: keras_outputs(model, meta, images))


def load_evaluator(path: str, *, backend: str | None = None, quantize: str = "none",
                   checkpoint: str = "best", allow_unsafe_ops: bool = False) -> Predictor:
    """A `Predictor` for a run folder, a `.keras` file beside a run's `vras_meta.json`, or an export
    (`savedmodels/NAME`, `savedmodels/NAME/VERSION`, a `.tflite` file: the forms `vras predict` takes)."""

    if not os.path.exists(path):
        raise FileNotFoundError(f"model {path} does not exist")
    if os.path.isdir(path) and os.path.exists(os.path.join(path, META_FILENAME)):
        model, meta = sources.load_run(path, checkpoint)
        return _keras_predictor(model, meta, path)
    if os.path.isfile(path) and path.endswith(".keras"):
        run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        meta_path = os.path.join(run_dir, META_FILENAME)
        if not os.path.exists(meta_path):
            raise FileNotFoundError(f"{path} has no {META_FILENAME} in its run folder {run_dir}: pass the run "
                                    "folder or an export (its labels and input size come from there)")

        meta = ExportMeta.load(meta_path)
        return _keras_predictor(load_model(path, compile=False), meta, path)
    try:
        return load_export(path, backend=backend, quantize=quantize, allow_unsafe_ops=allow_unsafe_ops)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{path} is not a SavedModel export, a .tflite file or a run folder ({error})") \
            from None


def _dataset(meta: ExportMeta, data: str, split: str, num_samples: int | None, batch_size: int, seed: int):

    task = TASK_DATA.get(meta.task)
    if task is None:
        raise ValueError(f"vras evaluate scores {', '.join(sorted(TASK_DATA))} models on datasets; this model's "
                         f"task is {meta.task!r}")
    size = tuple(meta.input_size)
    if data == "shapes":
        return datasets.load(task, split=split, num_samples=num_samples or 200, image_size=size, seed=seed,
                             batch_size=batch_size)
    if not os.path.isdir(data):
        raise FileNotFoundError(f"--data {data}: no such dataset folder (or use 'shapes')")
    kwargs = {}
    labels = list(meta.labels or [])
    if labels and task in ("classification", "detection", "segmentation"):
        kwargs["class_names"] = labels  # number the data's classes by the model's labels, by name
    return datasets.load(task, source=data, split=split, num_samples=num_samples, image_size=size,
                         channels=meta.input_channels, seed=seed, batch_size=batch_size, **kwargs)


def _check_names(meta: ExportMeta, names) -> None:
    labels = list(meta.labels or [])
    if labels and list(names) != labels:
        raise ValueError(f"the dataset's classes {list(names)} are not the model's labels {labels}")


def classification_metrics(probabilities, labels, names) -> dict:
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(int)
    k = probabilities.shape[-1]
    top = np.argsort(-probabilities, axis=-1)
    pred = top[:, 0]
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    per_class = {}
    for i, name in enumerate(names):
        n = int(np.sum(labels == i))
        per_class[name] = float(confusion[i, i] / n) if n else None
    return {"top1": float(np.mean(pred == labels)),
            "top5": float(np.mean([label in t[:5] for label, t in zip(labels, top)])),
            "per_class": per_class, "confusion": confusion.tolist()}


def segmentation_metrics(class_maps, masks, names) -> dict:

    cm = confusion_matrix(np.asarray(masks), np.asarray(class_maps), len(names))
    iou = iou_from_confusion(cm)
    return {"mIoU": float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else 0.0,
            "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "pixel_accuracy": float(np.trace(cm) / max(cm.sum(), 1))}


def pose_metrics(predicted, keypoints, visibility, image_size) -> dict:
    predicted = np.asarray(predicted)[..., :2]
    visible = np.asarray(visibility) > 0
    error = np.linalg.norm(predicted - np.asarray(keypoints), axis=-1)[visible]
    side = float(max(image_size))
    if not error.size:
        raise ValueError("the dataset has no visible keypoints to score")
    return {"mean_error_px": float(error.mean()), "PCK@0.05": float(np.mean(error <= 0.05 * side)),
            "PCK@0.1": float(np.mean(error <= 0.1 * side))}


MAX_HOMOGRAPHY_BYTES = 65536  # a 3x3 homography file is a few hundred bytes; more is not one


def read_homography(path: str) -> np.ndarray:
    """A 3x3 homography file: 3 rows of 3 numbers (HPatches `H_1_k`, Oxford `H1tokp`) or OpenCV's XML storage
    (`<opencv_storage><H13 type_id="opencv-matrix"><rows>3</rows><cols>3</cols>...<data>...</data>`, as
    OpenCV's samples ship `H1to3p.xml`). Raises ValueError naming the file when it is not one."""
    size = os.path.getsize(path)
    if size > MAX_HOMOGRAPHY_BYTES:
        raise ValueError(f"{path}: expected a 3x3 homography (3 rows of 3 numbers), the file has {size} bytes")
    with open(path, "rb") as f:
        raw = f.read()
    if raw.lstrip().startswith(b"<"):
        import xml.etree.ElementTree as ElementTree

        try:
            root = ElementTree.fromstring(raw)
        except ElementTree.ParseError as error:
            raise ValueError(f"{path}: expected a 3x3 homography (OpenCV XML storage): {error}") from None
        matrices = [node for node in root.iter() if node.find("data") is not None]
        if not matrices:
            raise ValueError(f"{path}: expected a 3x3 homography (OpenCV XML storage with a <data> matrix), "
                             "found no <data> element")
        node = matrices[0]
        text = node.findtext("data") or ""
        try:
            values = np.array(text.split(), dtype=np.float64)
            shape = (int(node.findtext("rows", "3")), int(node.findtext("cols", "3")))
        except ValueError as error:
            raise ValueError(f"{path}: expected a 3x3 homography (OpenCV XML storage): {error}") from None
        h = values.reshape(shape) if values.size == shape[0] * shape[1] else values
    else:
        try:
            h = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as error:
            raise ValueError(f"{path}: expected a 3x3 homography (3 rows of 3 numbers): {error}") from None
    if h.shape != (3, 3) or not np.all(np.isfinite(h)):
        raise ValueError(f"{path}: expected a 3x3 homography (3 rows of 3 numbers), read shape {h.shape}")
    if abs(np.linalg.det(h)) < 1e-12:
        raise ValueError(f"{path}: the homography is singular (determinant {np.linalg.det(h):.3g})")
    return h


# (homography file pattern, its index, image file prefix): HPatches `H_1_k` with `k.ppm`; Oxford (Mikolajczyk's
# affine-covariant regions data: graf, wall, boat, ...) `H1tokp` with `imgk.ppm`, also as OpenCV's `H1tokp.xml`
_LAYOUTS = (("H_1_*", re.compile(r"^H_1_(\d+)$"), ""), ("H1to*p*", re.compile(r"^H1to(\d+)p(?:\.xml)?$"), "img"))


def homography_pairs(folder: str):
    """`[(image_a, image_b, H (3, 3))]` of a folder of image pairs with ground-truth homographies (or a folder of
    such sequences), in either layout: HPatches (`1.ppm ... 6.ppm`, `H_1_k` maps image `1.*` onto `k.*`) or the
    Oxford affine data set's (`img1.ppm ... img6.ppm`, `H1tokp` maps `img1.*` onto `imgk.*`; also OpenCV's
    `H1tokp.xml`). Homographies are in pixels (`read_homography`)."""

    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--data {folder}: no such folder of image pairs")
    sequences = [folder] + sorted(os.path.join(folder, d) for d in os.listdir(folder)
                                  if os.path.isdir(os.path.join(folder, d)))
    pairs = []
    for seq in sequences:
        def image(prefix, index, h_name, seq=seq):
            found = sorted(p for p in glob.glob(os.path.join(glob.escape(seq), f"{prefix}{index}.*"))
                           if p.lower().endswith(IMAGE_EXTENSIONS + (".ppm", ".pgm")))
            if not found:
                raise FileNotFoundError(f"{seq}: image {prefix}{index}.* (ppm, png, jpg, ...) named by {h_name} "
                                        "is missing")
            return found[0]

        seen = set()
        for pattern, name_re, prefix in _LAYOUTS:
            for h_file in sorted(glob.glob(os.path.join(glob.escape(seq), pattern))):  # "H1to3p" before ".xml"
                match = name_re.match(os.path.basename(h_file))
                if not match or (prefix, int(match.group(1))) in seen:
                    continue
                seen.add((prefix, int(match.group(1))))
                h_name = os.path.basename(h_file)
                pairs.append((image(prefix, 1, h_name), image(prefix, int(match.group(1)), h_name),
                              read_homography(h_file)))
    if not pairs:
        raise ValueError(f"--data {folder}: no homography files (HPatches layout: SEQ/1.ppm, SEQ/2.ppm, ..., "
                         "SEQ/H_1_2, ...; Oxford layout: SEQ/img1.ppm, ..., SEQ/H1to2p, ...)")
    return pairs


def evaluate_matching(predictor: Predictor, data: str) -> dict:
    """Mean `evaluate_pair` scores over the homography pairs of `data`, at the model's input size."""

    h_in, w_in = predictor.meta.input_size
    rows = []
    for path_a, path_b, homography in homography_pairs(data):
        views = []
        for path in (path_a, path_b):
            image = read_image(path, channels=predictor.meta.input_channels)
            scale = np.diag([w_in / image.shape[1], h_in / image.shape[0], 1.0])
            out = predictor.predict(image)
            views.append((out["keypoints"][0], out["descriptors"][0], scale))
        (kp_a, d_a, s_a), (kp_b, d_b, s_b) = views
        h_scaled = s_b @ homography @ np.linalg.inv(s_a)  # the homography between the resized views
        rows.append(evaluate_pair(kp_a, d_a, kp_b, d_b, h_scaled, shape_a=(h_in, w_in), shape_b=(h_in, w_in)))
    keys = [f"mma@{t}" for t in THRESHOLDS] + ["repeatability", "correct@3", "matches"]
    return {"pairs": len(rows), "images": 2 * len(rows), **{k: float(np.mean([r[k] for r in rows])) for k in keys}}


def evaluate(predictor: Predictor, *, data: str = "shapes", split: str = "val", num_samples: int | None = None,
             batch_size: int = 16, iou_type: str = "bbox", seed: int = 0) -> dict:
    """Metrics of `predictor` on `data` (see the module docstring); also `images` and `task`."""
    meta = predictor.meta
    if meta.task == "matching":
        if data == "shapes":
            raise ValueError("a matching model is evaluated on image pairs: --data FOLDER in the HPatches "
                             "layout (SEQ/1.ppm ... SEQ/6.ppm with SEQ/H_1_2 ... H_1_6) or the Oxford one "
                             "(SEQ/img1.ppm ... with SEQ/H1to2p ...)")
        return {"task": meta.task, "backend": predictor.backend, **evaluate_matching(predictor, data)}
    ds = _dataset(meta, data, split, num_samples, batch_size, seed)
    _check_names(meta, ds.class_names)  # also on synthetic data: other labels would index out of range
    outputs, targets = [], []
    for images, target in ds:
        outputs.append(predictor.predict(images.numpy()))
        targets.append(target)
    if not outputs:
        raise ValueError(f"--data {data} holds no {split} images")
    out = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    n = len(next(iter(out.values())))
    names = list(meta.labels or ds.class_names)
    task = TASK_DATA[meta.task]
    if task == "classification":
        labels = np.concatenate([t.numpy() for t in targets])
        metrics = classification_metrics(out["probabilities"], labels, names)
    elif task == "segmentation":
        masks = np.concatenate([t.numpy() for t in targets])
        metrics = segmentation_metrics(out["class_map"], masks, names)
    elif task == "pose":
        kp = np.concatenate([t["keypoints"].numpy() for t in targets])
        vis = np.concatenate([t["visibility"].numpy() for t in targets])
        metrics = pose_metrics(out["keypoints"], kp, vis, meta.input_size)
    else:

        truth = [{k: v[i].numpy() for k, v in t.items()} for t in targets for i in range(len(t["classes"]))]
        predictions = [{k: v[i] for k, v in out.items()} for i in range(n)]
        metrics = evaluate_detections(predictions, truth, iou_type=iou_type, image_shape=tuple(meta.input_size))
    return {"task": meta.task, "backend": predictor.backend, "images": int(n), **metrics}


def save_confusion_png(confusion, names, path: str) -> None:
    """The confusion matrix (rows: truth, columns: prediction) as a PNG with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion)
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
