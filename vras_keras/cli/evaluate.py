"""`vras evaluate MODEL_OR_EXPORT --data DIR|shapes [--json OUT]`: a model's metrics on a dataset.

MODEL_OR_EXPORT is a `vras train` run folder, a checkpoint in one (`RUN/checkpoints/best.keras`), an
export (`savedmodels/NAME`, `savedmodels/NAME/VERSION`, a `.tflite` file: what `vras predict` takes) or
a bare detection `.keras` file. The metrics per task are listed in `vras_keras/export/evaluation.py`.

Examples:
    vras evaluate runs/classification --data data/my_photos_test --json metrics.json
    vras evaluate savedmodels/yolo/1 --data data/coco_mini --split val
    vras evaluate savedmodels/digits/1/model_int8.tflite --data data/digits_test
"""

from __future__ import annotations

import json
import os

NAME = "evaluate"
HELP = ("metrics of a run, checkpoint, SavedModel or .tflite on a dataset: top-1/top-5/per-class, mIoU, "
        "PCK, COCO AP")


def add_arguments(parser) -> None:
    parser.add_argument("model", help="a run folder, a .keras checkpoint, savedmodels/NAME[/VERSION] or a .tflite file")
    parser.add_argument("--data", default="shapes",
                        help="'shapes' (synthetic ShapesWorld, default) or a dataset folder (image folders, COCO, "
                             "VOC, masks); its SPLIT sub-folder when it has one")
    parser.add_argument(
        "--backend", choices=("saved_model", "tflite"), help="for an export folder (default SavedModel)"
    )
    parser.add_argument("--quantize", choices=("none", "fp16", "int8"), default="none",
                        help="which TFLite file of an export folder (with --backend tflite)")
    parser.add_argument("--confusion", metavar="OUT.png",
                        help="classification: draw the confusion matrix (default: beside --json, *_confusion.png)")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--num-samples", type=int,
                        help="images to evaluate (default: all of a folder, 200 synthetic ones)")
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


def _is_bare_keras_file(path: str) -> bool:
    """A `.keras` file outside a run folder: the detection evaluation of saved detectors."""
    from vras_keras.export.meta import META_FILENAME

    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    return path.endswith(".keras") and not os.path.exists(os.path.join(run_dir, META_FILENAME))


def run(args) -> int:
    if args.num_samples is not None and args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, received {args.num_samples}")
    from vras_keras.cli._outputs import prepare_output_file

    prepare_output_file("--json", args.json_path)
    prepare_output_file("--confusion", args.confusion)
    if _is_bare_keras_file(args.model) or not os.path.exists(args.model):
        return _run_detection_file(args)
    from vras_keras.export import evaluation

    predictor = evaluation.load_evaluator(args.model, backend=args.backend, quantize=args.quantize,
                                          allow_unsafe_ops=args.allow_unsafe_ops)
    metrics = evaluation.evaluate(predictor, data=args.data, split=args.split, num_samples=args.num_samples,
                                  batch_size=args.batch_size, iou_type=args.iou_type)
    report = {"model": args.model, "data": args.data, "split": args.split, **metrics}
    confusion = args.confusion or (os.path.splitext(args.json_path)[0] + "_confusion.png"
                                   if args.json_path and "confusion" in metrics else None)
    if confusion and "confusion" in metrics:
        evaluation.save_confusion_png(metrics["confusion"], list(metrics["per_class"]), confusion)
        report["confusion_png"] = confusion
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.items() if k != "confusion"}
    print(json.dumps(shown, indent=2))
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(report, f, indent=2)
    return 0


def _run_detection_file(args) -> int:
    import numpy as np

    from vras_keras.data import datasets
    from vras_keras.metrics.detection import evaluate_detections

    predict, (height, width) = _load_predictor(args.model, args.score_threshold, args.allow_unsafe_ops)
    kwargs = {} if args.data == "shapes" else {"source": args.data}
    if args.data != "shapes" and not os.path.isdir(args.data):
        raise FileNotFoundError(f"--data {args.data}: no such dataset folder (or use 'shapes')")
    num = args.num_samples or (200 if args.data == "shapes" else None)
    ds = datasets.load("detection", split=args.split, num_samples=num, image_size=(height, width),
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
