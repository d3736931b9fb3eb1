"""Train YOLO v3 (and v2) on ShapesWorld detection on the CPU; record COCO AP and CPU latency per image.

    PYTHONPATH=. python benchmarks/detection_yolo.py [--cpu-minutes 20] [--model yolo_v3] [--width 0.375]
        [--backbone resnet18] [--assign-threshold 0.5]

Training streams fresh images (generated in this process) for a budget of CPU time (`time.process_time`, all threads),
with AdamW and a learning rate that warms up and then follows a cosine to 0 over that budget, so the schedule completes
however busy the machine is. Priors come from k-means on the training boxes (YOLO v2's dimension clusters). Evaluation:
COCO AP at score threshold 0.001, <= 100 detections. Latency: the inference model (decode + NMS inside) at batch 1,
Keras eager call vs the TFLite built-ins model (ai_edge_litert), measured one after the other in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._detection_stream import CpuBudget, dataset_arrays, latency_section, shapes_stream  # noqa: E402
from benchmarks._report import machine, write_section  # noqa: E402
from vras_keras import models  # noqa: E402
from vras_keras.data import datasets  # noqa: E402
from vras_keras.metrics.detection import evaluate_detections  # noqa: E402
from vras_keras.ops.anchors import kmeans_priors  # noqa: E402


def _boxes_only(image, target):
    return image, {"boxes": target["boxes"], "classes": target["classes"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="yolo_v3", choices=["yolo_v2", "yolo_v3"])
    parser.add_argument("--cpu-minutes", type=float, default=20.0,
                        help="training budget in CPU time of this process (all threads, data generation included)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--val-samples", type=int, default=500)
    parser.add_argument("--width", type=float, default=0.375)
    parser.add_argument("--backbone", default="resnet18", help="registry id of the backbone")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--warmup", type=float, default=0.03, help="warm-up fraction of the budget")
    parser.add_argument("--assign-threshold", type=float, default=0.5,
                        help="also assign each box to every prior with shape IoU above this (0: best prior only)")
    parser.add_argument("--class-weight", type=float, default=1.0)
    parser.add_argument("--no-latency", action="store_true", help="skip the latency / TFLite part")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not write it")
    args = parser.parse_args(argv)
    if args.assign_threshold is not None and args.assign_threshold <= 0:
        args.assign_threshold = None
    keras.utils.set_random_seed(0)
    size, max_objects = args.image_size, datasets.TASK_DEFAULTS["detection"]["max_objects"]
    world = datasets.generator("detection", image_size=size, seed=0, split="train")
    class_names = world.class_names
    # priors: k-means (1 - IoU) on the boxes of 2000 training images (YOLO v2's dimension clusters)
    wh = np.concatenate([np.diff(world.sample(i)["boxes"].reshape(-1, 2, 2), axis=1)[:, 0] for i in range(2000)])
    x_val, y_val = dataset_arrays(datasets.load("detection", split="val", num_samples=args.val_samples,
                                                  image_size=size, seed=0, batch_size=64).map(_boxes_only))
    num_priors = 9 if args.model == "yolo_v3" else 5
    priors = kmeans_priors(wh, num_priors, seed=0)
    model = models.get(args.model, input_shape=(size, size, 3), num_classes=len(class_names), width=args.width,
                       backbone=args.backbone,
                       priors=priors.tolist(), assign_threshold=args.assign_threshold,
                       class_weight=args.class_weight)
    optimizer = keras.optimizers.AdamW(args.lr, weight_decay=args.weight_decay, global_clipnorm=10.0)
    model.compile(optimizer=optimizer)
    budget = args.cpu_minutes * 60

    steps_per_epoch = 50
    budget_cb = CpuBudget(args.lr, budget, args.warmup)
    model.fit(shapes_stream(size, args.batch_size, max_objects), steps_per_epoch=steps_per_epoch, epochs=100000,
              verbose=0, callbacks=[budget_cb])
    cpu_seconds, wall_seconds = budget_cb.cpu_seconds(), budget_cb.wall_seconds()
    history = budget_cb.history
    steps = int(optimizer.iterations.numpy())
    images_seen = steps * args.batch_size

    # COCO AP wants a low score threshold and up to 100 detections per image
    inference = model.make_inference_model(score_threshold=0.001, iou_threshold=0.5, max_detections=100)
    preds = inference.predict(x_val, batch_size=64, verbose=0)
    metrics = evaluate_detections(preds, y_val)
    print(metrics, flush=True)

    last = history[-1]
    assignment = ("one positive per box (its best prior)" if args.assign_threshold is None else
                  f"each box assigned to its best prior and to every prior with shape IoU > {args.assign_threshold:g}")
    target = "reached" if metrics["AP50"] >= 0.8 else "NOT reached"
    md = f"""## Detection: {args.model} on ShapesWorld

Script: `benchmarks/detection_yolo.py --model {args.model} --backbone {args.backbone} --width {args.width:g}
--cpu-minutes {args.cpu_minutes:g}{f' --assign-threshold {args.assign_threshold or 0:g}'}`.
Machine: {machine()} (the 2 cores were shared with many other jobs during the run: the budget is
measured in CPU time of the process, {cpu_seconds / 60:.1f} min, which took {wall_seconds / 60:.1f} min of wall clock).

Setup: {size}x{size} ShapesWorld detection ({len(class_names)} classes, up to {max_objects} objects),
{images_seen} freshly generated training images (random horizontal flips, generation inside the budget),
{len(x_val)} held-out validation images (the `val` seed stream); `{args.model}(width={args.width:g})` on
`{args.backbone}`, {model.count_params():,} parameters, {num_priors} priors from k-means on the boxes of 2000
training images, {assignment}; class-loss weight {args.class_weight:g};
AdamW (peak lr {args.lr:g}, weight decay {args.weight_decay:g}, global clipnorm 10), linear
warm-up over {args.warmup:.0%} of the CPU budget then cosine decay to 0; {steps} steps of batch
{args.batch_size}. Final epoch's training losses: box {last['box_loss']:.3f}, objectness
{last['objectness_loss']:.3f}, class {last['class_loss']:.3f}.
Evaluation: inference model with score threshold 0.001, class-wise NMS at IoU 0.5, at most 100
detections per image; `vras_keras.metrics.detection.evaluate_detections` (pycocotools COCOeval).

| metric (COCO bbox, pycocotools) | value |
|---|---|
| AP (IoU .50:.95) | {metrics['AP']:.3f} |
| AP50 | {metrics['AP50']:.3f} |
| AP75 | {metrics['AP75']:.3f} |
| AR100 | {metrics['AR100']:.3f} |

Target AP50 >= 0.8: **{target}** within this CPU budget.
"""
    if not args.no_latency:
        md += latency_section(inference, x_val, inside="decode + NMS", n=30, digits=2)
    if not args.no_write:
        write_section(f"detection_{args.model}", md)
    print(md)


if __name__ == "__main__":
    main()
