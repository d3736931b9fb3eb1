"""Train YOLO v3 (and v2) on ShapesWorld detection on the CPU; record COCO AP and CPU latency per image.

    PYTHONPATH=. python benchmarks/detection_yolo.py [--minutes 12] [--model yolo_v3]

Priors come from k-means on the training boxes (YOLO v2's dimension clusters). Latency: the inference
model (decode + NMS inside) at batch 1, Keras eager call vs the TFLite built-ins model (ai_edge_litert),
measured one after the other in the same run.
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
from vras_keras.ops.anchors import kmeans_priors  # noqa: E402


def _boxes_only(image, target):
    return image, {"boxes": target["boxes"], "classes": target["classes"]}


def _arrays(ds):
    images, boxes, classes = [], [], []
    for x, y in ds:
        images.append(x.numpy())
        boxes.append(y["boxes"].numpy())
        classes.append(y["classes"].numpy())
    return np.concatenate(images), {"boxes": np.concatenate(boxes), "classes": np.concatenate(classes)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="yolo_v3", choices=["yolo_v2", "yolo_v3"])
    parser.add_argument("--minutes", type=float, default=12.0, help="training time budget (wall clock)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--train-samples", type=int, default=200000, help="size of the streamed train split")
    parser.add_argument("--val-samples", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    size = args.image_size
    # ShapesWorld is synthetic: stream fresh training images (a fixed set of 2000 was memorised: val AP50
    # 0.06 at train AP50 0.98), with random horizontal flips.
    train_ds = datasets.load("detection", split="train", num_samples=args.train_samples, image_size=size, seed=0)
    class_names = train_ds.class_names
    _, y_prior = _arrays(train_ds.take(2000).batch(256).map(_boxes_only))
    x_val, y_val = _arrays(datasets.load("detection", split="val", num_samples=args.val_samples, image_size=size,
                                         seed=0, batch_size=64).map(_boxes_only))
    valid = y_prior["classes"] >= 0
    wh = y_prior["boxes"][valid][:, 2:] - y_prior["boxes"][valid][:, :2]
    num_priors = 9 if args.model == "yolo_v3" else 5
    priors = kmeans_priors(wh, num_priors, seed=0)
    model = models.get(args.model, input_shape=(size, size, 3), num_classes=len(class_names), width=args.width,
                       priors=priors.tolist())
    model.compile(optimizer=keras.optimizers.Adam(args.lr))

    def flip(image, target):
        target = {"boxes": target["boxes"], "classes": target["classes"]}
        if tf.random.uniform(()) < 0.5:  # tf.data map: tf ops
            b = target["boxes"]
            image = image[:, ::-1]
            target["boxes"] = tf.where(target["classes"][:, None] >= 0,
                                       tf.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], -1), b)
        return image, target

    stream = train_ds.repeat().map(flip, num_parallel_calls=2).batch(args.batch_size).prefetch(4)

    class Budget(keras.callbacks.Callback):
        """Stop when the time budget is spent; divide the learning rate by 10 for the last quarter."""

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.time() - start
            history.append(logs["loss"])
            print(f"epoch {epoch + 1}: loss {logs['loss']:.3f} ({elapsed:.0f} s)", flush=True)
            if elapsed > 0.75 * args.minutes * 60:
                self.model.optimizer.learning_rate.assign(args.lr * 0.1)
            if elapsed > args.minutes * 60:
                self.model.stop_training = True

    start, history = time.time(), []
    steps_per_epoch = 50
    model.fit(stream, steps_per_epoch=steps_per_epoch, epochs=100000, verbose=0, callbacks=[Budget()])
    epochs, train_seconds = len(history), time.time() - start
    images_seen = epochs * steps_per_epoch * args.batch_size

    inference = model.make_inference_model(score_threshold=0.01, iou_threshold=0.5, max_detections=50)
    preds = inference.predict(x_val, batch_size=64, verbose=0)
    metrics = evaluate_detections(preds, y_val)
    print(metrics)

    # CPU latency per image, batch 1: Keras (compiled predict_step via __call__ in a tf.function) vs TFLite.
    fn = tf.function(lambda t: inference(t, training=False))
    one = x_val[:1]
    for _ in range(3):
        fn(one)
    n = 30
    t0 = time.perf_counter()
    for i in range(n):
        fn(x_val[i % len(x_val) : i % len(x_val) + 1])
    keras_ms = (time.perf_counter() - t0) / n * 1000
    runner = TFLiteRunner(convert_to_tflite(inference), num_threads=1)
    for _ in range(3):
        runner(one)
    t0 = time.perf_counter()
    for i in range(n):
        runner(x_val[i % len(x_val) : i % len(x_val) + 1])
    tflite_ms = (time.perf_counter() - t0) / n * 1000
    tfl = runner(x_val[:8])
    ker = inference(x_val[:8])
    same_classes = float(np.mean(tfl["classes"] == np.asarray(ker["classes"])))

    target = "reached" if metrics["AP50"] >= 0.8 else "NOT reached"
    md = f"""## Detection: {args.model} on ShapesWorld

Script: `benchmarks/detection_yolo.py --model {args.model} --minutes {args.minutes:g}`. Machine: {machine()}
(the 2 cores were shared with other jobs during the run, so absolute times are pessimistic).

Setup: {args.image_size}x{args.image_size} ShapesWorld detection ({len(class_names)} classes, up to 4 objects),
{images_seen} freshly generated training images (random horizontal flips), {len(x_val)} validation images;
`{args.model}(width={args.width:g})` on `darknet_tiny`, {model.count_params():,} parameters, {num_priors} priors from
k-means on 2000 training boxes; Adam {args.lr:g} (/10 for the last quarter); {epochs} x {steps_per_epoch} steps
of batch {args.batch_size} in {train_seconds / 60:.1f} min of CPU
(final training loss {history[-1]:.3f}).

| metric (COCO, pycocotools) | value |
|---|---|
| AP (IoU .50:.95) | {metrics['AP']:.3f} |
| AP50 | {metrics['AP50']:.3f} |
| AP75 | {metrics['AP75']:.3f} |
| AR100 | {metrics['AR100']:.3f} |

Target AP50 >= 0.8: **{target}** within this CPU budget.

| CPU latency per image (batch 1, decode + NMS inside) | ms |
|---|---|
| Keras (`tf.function`) | {keras_ms:.2f} |
| TFLite built-ins (ai_edge_litert, 1 thread) | {tflite_ms:.2f} |

TFLite and Keras agree on {same_classes:.1%} of the detection class slots of 8 validation images.
"""
    write_section(f"detection_{args.model}", md)
    print(md)


if __name__ == "__main__":
    main()
