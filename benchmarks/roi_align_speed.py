"""Forward + backward CPU time of RoIAlign in the R-CNN training setting: the separable form used for boxes
given per image (two matrix products per map) against the gather form (four gathers per sampling point, the
form used for flat box lists with `box_indices`) and TensorFlow's `crop_and_resize` kernel followed by a 2x2
average pool (how TF's own model garden approximates RoIAlign; it needs Flex in TFLite), in one run.

Usage: python benchmarks/roi_align_speed.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _report import machine, median_ms, write_section  # noqa: E402

from vras_keras.ops.roi_align import multilevel_roi_align, roi_align  # noqa: E402

# the Faster R-CNN benchmark's training step: 16 images of 64 px, P2 (stride 4) with 64 channels, 104 RoIs
B, H, C, R = 16, 16, 64, 104


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    features = tf.constant(rng.standard_normal((B, H, H, C)).astype("float32"))
    xy = rng.uniform(0, 50, (B, R, 2))
    wh = rng.uniform(6, 40, (B, R, 2))
    boxes_np = np.concatenate([xy, np.minimum(xy + wh, 64)], -1).astype("float32")  # image pixels, stride 4
    boxes = tf.constant(boxes_np)
    flat = tf.constant(boxes_np.reshape(-1, 4))
    image_index = tf.constant(np.repeat(np.arange(B), R).astype("int32"))
    # crop_and_resize wants normalised (y1, x1, y2, x2) and samples the corners of its grid: with aligned=True
    # RoIAlign's points are bin sub-cell centres in feature pixels, which this box reproduces exactly
    scaled = boxes_np.reshape(-1, 4) / 4.0 - 0.5
    rows = []
    for size in (7, 14):
        n = 2 * size  # sampling_ratio 2
        step_x = (scaled[:, 2] - scaled[:, 0]) / n
        step_y = (scaled[:, 3] - scaled[:, 1]) / n
        crop_boxes = np.stack([scaled[:, 1] + step_y / 2, scaled[:, 0] + step_x / 2, scaled[:, 3] - step_y / 2,
                               scaled[:, 2] - step_x / 2], -1) / (H - 1)
        crop_boxes = tf.constant(crop_boxes.astype("float32"))
        upstream = tf.constant(rng.standard_normal((B * R, size, size, C)).astype("float32"))

        def grad_of(pool):
            @tf.function
            def step():
                with tf.GradientTape() as tape:
                    tape.watch(features)
                    out = tf.reshape(pool(), (B * R, size, size, C))
                    loss = tf.reduce_sum(out * upstream)
                return out, tape.gradient(loss, features)

            return step

        ours = grad_of(lambda: roi_align(features, boxes, output_size=size, spatial_scale=0.25))
        gather = grad_of(lambda: roi_align(features, flat, box_indices=image_index, output_size=size,
                                           spatial_scale=0.25))
        peer = grad_of(lambda: tf.nn.avg_pool2d(
            tf.image.crop_and_resize(features, crop_boxes, image_index, (n, n)), 2, 2, "VALID"))
        levels = [tf.constant(rng.standard_normal((B, H // 2**k, H // 2**k, C)).astype("float32")) for k in range(4)]
        fpn = grad_of(lambda: multilevel_roi_align(levels, boxes, strides=(4, 8, 16, 32), output_size=size,
                                                   canonical_size=48))
        out_ours, grad_ours = ours()
        out_gather, grad_gather = gather()
        out_peer, _ = peer()
        b4 = boxes_np.reshape(-1, 4)
        inside = (b4[:, :2] >= 2).all(-1) & (b4[:, 2:] < 60).all(-1)  # no clamping at the borders
        agree = float(np.max(np.abs(out_ours.numpy() - out_gather.numpy())))
        agree_grad = float(np.max(np.abs(grad_ours.numpy() - grad_gather.numpy())))
        agree_peer = float(np.max(np.abs(out_ours.numpy()[inside] - out_peer.numpy()[inside])))
        times = {}
        for _ in range(2):  # interleaved
            for name, fn in (("separable", ours), ("gather", gather), ("crop_and_resize", peer), ("fpn", fpn)):
                times.setdefault(name, []).append(median_ms(fn, args.repeats, warmup=1, clock=time.process_time))
        t = {k: min(v) for k, v in times.items()}
        rows.append((size, t, agree, agree_grad, agree_peer))
        print(size, t, agree, agree_grad, agree_peer, flush=True)

    table = "\n".join(
        f"| {s}x{s} | {t['separable']:.1f} | {t['fpn']:.1f} | {t['gather']:.1f} "
        f"({t['gather'] / t['separable']:.1f}x) | "
        f"{t['crop_and_resize']:.1f} ({t['crop_and_resize'] / t['separable']:.1f}x) | {a:.1e} / {g:.1e} | {p:.1e} |"
        for s, t, a, g, p in rows
    )
    md = f"""## RoIAlign forward + backward (`benchmarks/roi_align_speed.py`)

Machine: {machine()}. CPU time (`time.process_time`, all threads) of one forward pass and the gradient with
respect to the features, median of {args.repeats}, best of 2 interleaved rounds, `tf.function` (no XLA).
Setting of the Faster R-CNN benchmark's training step: {B} images, a {H}x{H}x{C} P2 map (stride 4), {R} RoIs
per image of 6-40 px, `sampling_ratio=2`, `aligned=True`. "FPN" pools the same boxes from four levels
P2..P5 (`multilevel_roi_align`, every box weighted onto every level, zero off its own).

| output | separable (ours, boxes per image), ms | ours, FPN P2..P5, ms | \
gather form (flat boxes + `box_indices`), ms | TF `crop_and_resize` + 2x2 avg pool (needs Flex), ms | \
max abs diff ours vs gather: output / feature gradient | ours vs crop_and_resize (boxes not clamped) |
|---|---:|---:|---:|---:|---|---|
{table}

The separable form is what `roi_align(features, boxes (B, R, 4))`, `multilevel_roi_align` and
`crop_and_resize_masks` use (Faster / Mask R-CNN training and inference); both forms give the same numbers.
"""
    write_section("roi_align_speed", md)
    print(md)


if __name__ == "__main__":
    main()
