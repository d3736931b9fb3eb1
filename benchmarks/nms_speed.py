"""Greedy NMS at scale: ours (`vras_keras.ops.nms`: the single-class `non_max_suppression`, the class-wise
`multiclass_non_max_suppression` with one class, and its tiled path for several classes) against
TensorFlow's kernel (`tf.image.non_max_suppression`) and a NumPy greedy reference, 1k / 10k / 50k boxes.

All must return the same kept boxes in the same order (checked on every setting, the run fails
otherwise). Every function is called the way a user calls it outside a model (eagerly, results fetched as
NumPy arrays); times are wall-clock medians of one image, interleaved rounds (ours, TF, NumPy, ours, ...);
the load average of the machine is recorded before and after.

Usage: python benchmarks/nms_speed.py [--repeats 20] [--quick]
    --quick: 1k and 10k boxes, 3 repeats, prints only (a correctness run; the numbers mean nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _report import machine, median_ms, write_section  # noqa: E402

from vras_keras.ops.nms import DEFAULT_TILE_SIZE, multiclass_non_max_suppression, non_max_suppression  # noqa: E402
from vras_keras.testing.references import nms_numpy  # noqa: E402

IOU = 0.5
EXTENT = 1000.0  # boxes of 10-100 px in a 1000 x 1000 image, uniform scores


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, EXTENT, (n, 2))
    wh = rng.uniform(10, 100, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype("float32")
    return boxes, rng.uniform(0, 1, n).astype("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1k and 10k boxes, 3 repeats, print only")
    args = parser.parse_args(argv)
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 50_000)
    repeats, rounds = (3, 1) if args.quick else (args.repeats, args.rounds)
    load_before = os.getloadavg()
    rows = []
    for max_output in (100, 1000):
        for n in sizes:
            boxes, scores = _data(n)
            b, s = tf.constant(boxes), tf.constant(scores)
            batch_b, batch_s, one_s = b[None], s[None], s[None, :, None]  # inputs as a detector holds them
            yxyx = tf.constant(boxes[:, [1, 0, 3, 2]])
            two = tf.constant(np.stack([scores, np.full_like(scores, -2.0)], -1)[None])  # class 1 below threshold
            box_index = {tuple(row): i for i, row in enumerate(boxes.tolist())}

            def ours():
                idx, count = non_max_suppression(batch_b, batch_s, max_output_size=max_output, iou_threshold=IOU)
                return idx.numpy(), count.numpy()

            def classwise(scores_in, **kw):
                out = multiclass_non_max_suppression(batch_b, scores_in, max_detections=max_output,
                                                     iou_threshold=IOU, pre_nms_top_k=None, **kw)
                return out["boxes"].numpy(), out["num_detections"].numpy()

            def one_class():
                return classwise(one_s, score_threshold=float("-inf"))

            def tiled():
                return classwise(two, score_threshold=-1.0)

            def peer():
                return tf.image.non_max_suppression(yxyx, s, max_output, iou_threshold=IOU).numpy()

            def reference():
                return nms_numpy(boxes, scores, iou_threshold=IOU, max_output_size=max_output)

            idx, count = ours()
            kept = [idx[0, : count[0]], peer(), reference()]
            for fn in (one_class, tiled):  # the first call of tiled also traces it
                out_boxes, out_count = fn()
                kept.append(np.asarray([box_index[tuple(row)] for row in out_boxes[0, : out_count[0]].tolist()]))
            same = all(np.array_equal(kept[0], k) for k in kept[1:])
            if not same:
                raise SystemExit(f"kept sets differ at {n} boxes, max_output {max_output}: "
                                 f"{[len(k) for k in kept]} kept")
            times = {}
            for _ in range(rounds):  # interleaved
                for name, fn in (("ours", ours), ("one", one_class), ("tiled", tiled), ("tf", peer),
                                 ("numpy", reference)):
                    times.setdefault(name, []).append(median_ms(fn, repeats))
            t = {k: min(v) for k, v in times.items()}
            rows.append((n, max_output, len(kept[0]), t))
            print(f"{n} boxes, max_output {max_output}: kept {len(kept[0])} (same in all five); "
                  f"ours {t['ours']:.2f} ms ({t['ours'] / t['tf']:.2f}x TF), class-wise one class {t['one']:.2f} ms "
                  f"({t['one'] / t['tf']:.2f}x TF), tiled {t['tiled']:.2f} ms ({t['tiled'] / t['tf']:.2f}x TF), "
                  f"TF {t['tf']:.2f} ms, NumPy {t['numpy']:.2f} ms", flush=True)
    load_after = os.getloadavg()
    if args.quick:
        print("quick run: nothing written")
        return rows
    table = "\n".join(
        f"| {n:,} | {m} | {k} | {t['ours']:.2f} ({t['ours'] / t['tf']:.2f}x) | {t['one']:.2f} "
        f"({t['one'] / t['tf']:.2f}x) | {t['tiled']:.2f} ({t['tiled'] / t['tf']:.2f}x) | {t['tf']:.2f} "
        f"| {t['numpy']:.2f} |"
        for n, m, k, t in rows
    )
    md = f"""## Greedy NMS at scale (`benchmarks/nms_speed.py`)

Machine: {machine()}. Load average (1, 5, 15 min) {load_before[0]:.2f} / {load_before[1]:.2f} /
{load_before[2]:.2f} before, {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f} after.
Synthetic data: one image, `N` boxes of 10-100 px uniformly placed in a 1000 x 1000 image, uniform scores,
IoU threshold {IOU}. Wall-clock ms per call, median of {repeats}, best of {rounds} interleaved rounds.
Every function is called eagerly (as outside a model), results fetched as NumPy arrays. Single-class:
`non_max_suppression` (TF's `NonMaxSuppressionV4` kernel per image with NumPy around it; in a graph and in
TFLite the built-in `NON_MAX_SUPPRESSION_V4`, same kept boxes). Class-wise, one class:
`multiclass_non_max_suppression` with `C = 1` (the same kernel; returns boxes, scores and classes).
Class-wise, tiled: `multiclass_non_max_suppression` with `C = 2` whose second class is below the score
threshold (the exact same-class-mask path that runs for several classes; tiles of {DEFAULT_TILE_SIZE}
candidates, `keras.ops` only, one cached `tf.function`). TF: `tf.image.non_max_suppression` (one C++
kernel). NumPy: the greedy reference `vras_keras.testing.references.nms_numpy`. All five kept the same boxes
in the same order in every row.

| boxes | max_output | kept | ours single-class, ms (/ TF) | ours class-wise, one class, ms (/ TF) \
| ours class-wise tiled, ms (/ TF) | TF kernel, ms | NumPy greedy, ms |
|---:|---:|---:|---:|---:|---:|---:|---:|
{table}
"""
    write_section("nms_speed", md)
    return rows


if __name__ == "__main__":
    main()
