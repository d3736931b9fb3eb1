"""`vras evaluate MODEL`: COCO AP of a detector (a `.keras` file or an exported SavedModel) on a dataset.

Examples:
    vras evaluate runs/yolo/model.keras                          # synthetic ShapesWorld, val split
    vras evaluate savedmodels/yolo/1 --data data/coco_mini --split val --json metrics.json
"""

from __future__ import annotations

import json
import os

NAME = "evaluate"
HELP = "COCO-style AP/AR (pycocotools) of a detection model or export on a dataset"


def add_arguments(parser) -> None:
    parser.add_argument("model", help="a .keras file (YOLO / detection model) or an exported SavedModel folder")
    parser.add_argument("--data", default="shapes",
                        help="'shapes' (synthetic ShapesWorld, default) or a dataset folder (COCO / VOC / masks)")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--num-samples", type=int, default=200, help="images to evaluate (default 200)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iou-type", default="bbox", choices=["bbox", "segm"])
    parser.add_argument("--score-threshold", type=float, default=0.01,
                        help="for models built here (.keras training models): keep detections above it")
    parser.add_argument("--json", dest="json_path", help="also write the metrics to this JSON file")
    parser.add_argument("--allow-unsafe-ops", action="store_true",
                        help="load a SavedModel even if its graph can touch files or run Python (only exports you "
                             "trust; see docs/export.md, 'What is safe to load')")


def _load_predictor(path: str, score_threshold: float, allow_unsafe_ops: bool = False):
    """`(predict(images) -> dict of arrays, (height, width))` for a .keras model or a SavedModel folder."""
    import keras
    import tensorflow as tf

    from vras_keras.export.safety import load_saved_model

    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path} is a folder without saved_model.pb: not a SavedModel export")
        loaded = load_saved_model(path, allow_unsafe_ops=allow_unsafe_ops)
        serve = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
        if serve is None:
            raise ValueError(f"SavedModel {path} has no 'serving_default' signature")
        outputs = set(serve.structured_outputs)
        if not {"boxes", "scores", "classes"} <= outputs:
            raise ValueError(f"{path} is not a detection export: its serving_default outputs are "
                             f"{sorted(outputs)}; vras evaluate needs boxes, scores and classes")
        spec = list(serve.structured_input_signature[1].values())[0]
        height, width = spec.shape[1], spec.shape[2]

        def predict(images):
            out = serve(tf.convert_to_tensor(images, tf.float32))
            return {k: v.numpy() for k, v in out.items()}

        return predict, (height, width)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    if not path.endswith(".keras"):
        raise ValueError(f"model must be a .keras file or a SavedModel folder, received {path}")
    from vras_keras.models import load_model

    model = load_model(path)
    if hasattr(model, "make_inference_model"):
        model = model.make_inference_model(score_threshold=score_threshold)
    if not isinstance(model.output, dict) or not {"boxes", "scores", "classes"} <= set(model.output):
        raise ValueError(f"{path} is not a detection model: its outputs must be a dict with boxes, scores, "
                         f"classes (received {model.output})")
    height, width = model.inputs[0].shape[1:3]

    def predict(images):
        return {k: keras.ops.convert_to_numpy(v) for k, v in model(images, training=False).items()}

    return predict, (height, width)


def run(args) -> int:
    import numpy as np

    from vras_keras.data import datasets
    from vras_keras.metrics.detection import evaluate_detections

    predict, (height, width) = _load_predictor(args.model, args.score_threshold, args.allow_unsafe_ops)
    kwargs = {} if args.data == "shapes" else {"source": args.data}
    if args.data != "shapes" and not os.path.isdir(args.data):
        raise FileNotFoundError(f"--data {args.data}: no such dataset folder (or use 'shapes')")
    ds = datasets.load("detection", split=args.split, num_samples=args.num_samples, image_size=(height, width),
                       batch_size=args.batch_size, **kwargs)
    predictions, ground_truth = [], []
    for images, targets in ds:
        out = predict(images.numpy())
        for i in range(images.shape[0]):
            predictions.append({k: np.asarray(v[i]) for k, v in out.items()})
            ground_truth.append({k: v[i].numpy() for k, v in targets.items()})
    metrics = evaluate_detections(predictions, ground_truth, iou_type=args.iou_type, image_shape=(height, width))
    print(json.dumps({"model": args.model, "data": args.data, "split": args.split, "images": len(predictions),
                      "iou_type": args.iou_type, **{k: round(v, 4) for k, v in metrics.items()}}, indent=2))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(metrics, f, indent=2)
    return 0
