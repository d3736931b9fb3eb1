"""Train Faster R-CNN and Mask R-CNN (small variants) on ShapesWorld detection on the CPU; record COCO AP
(bbox, and segm for Mask R-CNN) and CPU latency per image.

    PYTHONPATH=. python benchmarks/detection_rcnn.py [--model faster_rcnn|mask_rcnn] [--cpu-minutes 20]

Both train with `model.fit` on a stream of fresh ShapesWorld images (generated in this process, random
horizontal flips, `{"boxes", "classes"[, "masks"]}` targets) for a budget of CPU time of the process
(`time.process_time`, all threads, data generation and graph tracing included), with Adam, a linear warm-up
and a cosine decay to 0 over that budget, so the schedule completes however busy the machine is. Then the
inference model (proposals, RoIAlign, box head, decode + NMS[, masks] inside) is evaluated with pycocotools
(`vras_keras.metrics.detection.evaluate_detections`). Latency: batch 1, Keras (`tf.function`) and the
TFLite built-ins model (ai_edge_litert, 1 thread), measured one after the other.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402

from benchmarks._detection_stream import CpuBudget, dataset_arrays, latency_section, shapes_stream  # noqa: E402
from benchmarks._report import machine, write_section  # noqa: E402
from vras_keras import models  # noqa: E402
from vras_keras.data import datasets  # noqa: E402
from vras_keras.metrics.detection import evaluate_detections  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="faster_rcnn", choices=["faster_rcnn", "mask_rcnn"])
    parser.add_argument("--cpu-minutes", type=float, default=20.0,
                        help="training budget in CPU time of this process (all threads, data generation included)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--val-samples", type=int, default=300)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (Adam)")
    parser.add_argument("--warmup", type=float, default=0.03, help="warm-up fraction of the budget")
    parser.add_argument("--roi-samples", type=int, default=32, help="RoIs sampled per image for the box head")
    parser.add_argument("--mask-samples", type=int, default=2,
                        help="positive RoIs per image in the mask loss (mask_rcnn's mask_num_samples)")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency / TFLite part")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not write it")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    size = args.image_size
    max_objects = datasets.TASK_DEFAULTS["detection"]["max_objects"]
    class_names = datasets.class_names("detection")
    x_val, y_val = dataset_arrays(datasets.load("detection", split="val", num_samples=args.val_samples,
                                                  image_size=size, seed=0, batch_size=64))
    # ShapesWorld objects are 10-40 px on 64 px images: anchors 8..64 px on P2..P6, and RoIs of side 12-24 px
    # pooled from P2, 24-48 px from P3 (canonical size 48 at P4).
    scale = size / 64
    settings = dict(
        input_shape=(size, size, 3), num_classes=len(class_names), backbone=args.backbone, width=args.width,
        anchor_sizes=[[8 * scale], [16 * scale], [32 * scale], [48 * scale], [64 * scale]],
        roi_canonical_size=48 * scale, rpn_pre_nms_top_k=300, rpn_post_nms_top_k=50, train_pre_nms_top_k=300,
        train_post_nms_top_k=100, roi_num_samples=args.roi_samples, seed=0,
    )
    if args.model == "mask_rcnn":
        settings["mask_num_samples"] = args.mask_samples
    model = models.get(args.model, **settings)
    model.compile(optimizer=keras.optimizers.Adam(args.lr, clipnorm=10.0), jit_compile=False)
    with_masks = args.model == "mask_rcnn"

    budget = args.cpu_minutes * 60

    budget_cb = CpuBudget(args.lr, budget, args.warmup)
    model.fit(shapes_stream(size, args.batch_size, max_objects, with_masks=with_masks), steps_per_epoch=50,
              epochs=100000, verbose=0, callbacks=[budget_cb])
    cpu_seconds, wall_seconds = budget_cb.cpu_seconds(), budget_cb.wall_seconds()
    history = budget_cb.history
    steps = int(model.optimizer.iterations.numpy())

    # COCO AP wants a low score threshold and up to 100 detections per image
    inference = model.make_inference_model(score_threshold=0.001, iou_threshold=0.5, max_detections=100)
    preds = inference.predict(x_val, batch_size=32, verbose=0)
    metrics = evaluate_detections(preds, y_val)
    segm = evaluate_detections(preds, y_val, iou_type="segm") if with_masks else None
    print(metrics, segm, flush=True)

    target_name, target_value = ("mask AP50", segm["AP50"]) if with_masks else ("AP50", metrics["AP50"])
    target = 0.7 if with_masks else 0.8
    reached = "reached" if target_value >= target else "NOT reached"
    rows = "\n".join(f"| {k} | {metrics[k]:.3f} |" + (f" {segm[k]:.3f} |" if with_masks else "")
                     for k in ("AP", "AP50", "AP75", "AR100"))
    header = "| metric (COCO, pycocotools) | bbox |" + (" segm |" if with_masks else "")
    sep = "|---|---|" + ("---|" if with_masks else "")
    last = history[-1]
    md = f"""## Detection: {args.model} on ShapesWorld

Script: `benchmarks/detection_rcnn.py {" ".join(sys.argv[1:] if argv is None else argv)}`.
Machine: {machine()} (the 2 cores were shared with other jobs during the run: the budget is measured in CPU
time of the process, {cpu_seconds / 60:.1f} min, which took {wall_seconds / 60:.1f} min of wall clock).

Setup: {size}x{size} ShapesWorld detection ({len(class_names)} classes, up to {max_objects} objects),
{steps * args.batch_size} freshly generated training images (random horizontal flips, generation and graph
tracing inside the budget), {len(x_val)} held-out validation images (the `val` seed stream);
`{args.model}(backbone="{args.backbone}", width={args.width:g})` with FPN P2..P6, {model.count_params():,}
parameters, anchors 8..64 px x 3 ratios, 256 anchors / {args.roi_samples} RoIs sampled per image (up to 100 proposals
+ the ground truths){f", mask loss on {args.mask_samples} positive RoIs per image" if with_masks else ""}; Adam \
(peak lr {args.lr:g},
clipnorm 10), linear warm-up over {args.warmup:.0%} of the CPU budget then cosine decay to 0; {steps} steps
of batch {args.batch_size}. Final epoch's training losses:
{", ".join(f"{k} {v:.3f}" for k, v in last.items())}.
Evaluation: inference model with score threshold 0.001, class-wise NMS at IoU 0.5, at most 100 detections
per image; `vras_keras.metrics.detection.evaluate_detections` (pycocotools COCOeval).

{header}
{sep}
{rows}

Target {target_name} >= {target}: **{reached}** ({target_value:.3f}) within this CPU budget.
"""
    if not args.no_latency:
        md += latency_section(inference, x_val, n=20, digits=1,
                              inside="proposals + RoIAlign + heads + NMS" + (" + mask paste" if with_masks else ""))
    if not args.no_write:
        write_section(f"detection_{args.model}", md)
    print(md)


if __name__ == "__main__":
    main()
