"""Train the small segmentation variants on ShapesWorld; mean IoU without and with a ConvCRF.

Every model is trained from scratch on the same synthetic data (ShapesWorld segmentation, 64×64, up to
4 shapes, 7 labels incl. background, 255 = ignore) with the same optimiser, epochs and batch size, then
evaluated on a separate validation split: mIoU of the argmax of the model's probabilities, and of a
ConvCRF run on top (unary = log-probabilities, the input image): once with the layer's defaults and once
with kernel parameters picked from a small grid by mIoU on (a part of) the TRAINING images, never on the
validation images. The course's expected orderings: FCN-8s >= FCN-32s (skips recover detail lost at
stride 32), and the CRF adds mIoU.

The section is rewritten after every model, so an interrupted run still records what finished.

Usage: PYTHONPATH=. python benchmarks/segmentation_shapes.py [--epochs 8] [--train 512] [--val 160] [--tune 96]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _report import machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data import datasets  # noqa: E402
from vras_keras.layers import ConvCRF  # noqa: E402
from vras_keras.losses.segmentation import PixelCrossEntropy  # noqa: E402
from vras_keras.metrics.segmentation import MeanIoU, mean_iou, validate_segmentation_targets  # noqa: E402

SIZE = 64
MODELS = {
    "fcn32s": {"width": 0.125, "backbone": "vgg16_bn"},
    "fcn8s": {"width": 0.125, "backbone": "vgg16_bn"},
    "fcn16s": {"width": 0.125, "backbone": "vgg16_bn"},
    "segnet": {"width": 0.5},
    "deeplab_v3": {"backbone": "resnet18", "width": 0.25, "output_stride": 8, "rates": (2, 4, 6)},
}


def build(name, num_labels):
    """The small variant; FCNs get a VGG16 *with BatchNorm* backbone so that they train from scratch in a
    few epochs (plain VGG16 without pre-trained weights barely moves off "all background" here)."""
    kwargs = dict(MODELS[name])
    if kwargs.get("backbone") == "vgg16_bn":
        kwargs["backbone"] = models.get("vgg16", input_shape=(SIZE, SIZE, 3), include_top=False, batch_norm=True,
                                        width=kwargs["width"])
    return models.get(name, input_shape=(SIZE, SIZE, 3), num_classes=num_labels, **kwargs)


def arrays(split: str, n: int):
    ds = datasets.load("segmentation", split=split, num_samples=n, image_size=SIZE, batch_size=n)
    images, masks = next(iter(ds))
    num_labels = datasets.num_classes("segmentation")
    masks = validate_segmentation_targets(masks.numpy(), num_labels, images=images.numpy())
    return images.numpy(), masks, num_labels


# ConvCRF settings tried on the training images (the defaults first); filter 7, 5 iterations, Potts.
CRF_GRID = (
    {},
    {"appearance_color_sigma": 30.0},
    {"appearance_weight": 10.0},
    {"appearance_weight": 10.0, "appearance_color_sigma": 30.0},
    {"appearance_weight": 10.0, "appearance_color_sigma": 30.0, "smoothness_weight": 3.0},
)


def crf_refine(probabilities, images, num_labels, batch=40, **options):
    crf = ConvCRF(num_labels, **options)
    fn = tf.function(lambda u, i: crf([u, i]))
    out = []
    for s in range(0, len(images), batch):
        unary = np.log(np.clip(probabilities[s : s + batch], 1e-6, 1.0)).astype(np.float32)
        out.append(np.asarray(fn(unary, images[s : s + batch])))
    return np.concatenate(out)


def tune_crf(probabilities, images, masks, num_labels):
    """Best grid entry by mIoU on training images: `(options, [(options, mIoU)...], plain mIoU)`."""
    scores = [(opts, 100 * mean_iou(masks, crf_refine(probabilities, images, num_labels, **opts), num_labels))
              for opts in CRF_GRID]
    best = max(scores, key=lambda t: t[1])[0]
    return best, scores, 100 * mean_iou(masks, probabilities, num_labels)


def describe(options):
    return ", ".join(f"{k}={v:g}" for k, v in options.items()) or "defaults"


LOADS = []


def report(args, rows, num_labels, pending, finished):
    LOADS.append(os.getloadavg()[0])
    lines = [
        f"## Segmentation on ShapesWorld (`benchmarks/segmentation_shapes.py`{argv_note(args)})",
        "",
        f"Machine: {machine()}; the cores were shared with other jobs (1-minute load average sampled after each "
        f"model: {min(LOADS):.0f}–{max(LOADS):.0f}), so training times are indicative only. {args.train} training / "
        f"{args.val} validation images (separate splits), {SIZE}×{SIZE}, "
        f"{num_labels} labels (background + 6 shapes); every model from scratch with the same budget: Adam "
        f"{args.lr:g}, batch {args.batch}, {args.epochs} epochs, seed 0. mIoU (%) of the argmax on the validation "
        "split, mean over the labels present. ConvCRF on the model's log-probabilities + the input image "
        "(filter 7, 5 iterations, Potts): *default* = the layer's defaults (w1=3, σα=80, σβ=13, w2=1, σγ=3); "
        f"*tuned* = the best of {len(CRF_GRID)} settings by mIoU on the first {args.tune} TRAINING images "
        "(the validation split is never used for the choice).",
        "",
        "| model | variant | parameters | train time (s) | train mIoU | val mIoU | + ConvCRF default | + ConvCRF "
        "tuned | tuned setting (train mIoU with it) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['variant']} | {r['params']:,} | {r['seconds']:.0f} | {r['train']:.1f} | "
            f"{r['plain']:.1f} | {r['default']:.1f} ({r['default'] - r['plain']:+.1f}) | "
            f"{r['tuned']:.1f} ({r['tuned'] - r['plain']:+.1f}) | {describe(r['options'])} ({r['tuned_train']:.1f}) |"
        )
    for name in pending:
        lines.append(f"| {name} | {variant(name)} | | | | not run | | | |")
    scores = {r["name"]: r["plain"] for r in rows}
    notes = []
    if "fcn8s" in scores and "fcn32s" in scores:
        holds = scores["fcn8s"] >= scores["fcn32s"]
        notes.append(f"FCN-8s >= FCN-32s: {'holds' if holds else 'does NOT hold'} "
                     f"({scores['fcn8s']:.1f} vs {scores['fcn32s']:.1f} val mIoU).")
    if rows:
        d = [r["default"] - r["plain"] for r in rows]
        t = [r["tuned"] - r["plain"] for r in rows]
        notes.append(f"ConvCRF change in val mIoU: defaults {min(d):+.1f} to {max(d):+.1f}, "
                     f"tuned on training images {min(t):+.1f} to {max(t):+.1f} points across models.")
    if not finished:
        notes.append("Run still in progress or interrupted: models marked 'not run' have no result.")
    lines += [""] + [f"- {note}" for note in notes]
    write_section(args.section, "\n".join(lines))


def argv_note(args):
    return (
        "" if args.section == "segmentation_shapes" else f", `--epochs {args.epochs} --models {' '.join(args.models)}`"
    )


def variant(name):
    return ", ".join(f"{k}={v}" for k, v in MODELS[name].items())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=160)
    parser.add_argument("--tune", type=int, default=96, help="training images used to pick the CRF setting")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--section", default="segmentation_shapes", help="name of the results section written")
    args = parser.parse_args(argv)
    x_train, y_train, num_labels = arrays("train", args.train)
    x_val, y_val, _ = arrays("val", args.val)
    rows = []
    for k, name in enumerate(args.models):
        keras.utils.set_random_seed(0)
        model = build(name, num_labels)
        model.compile(keras.optimizers.Adam(args.lr), loss=PixelCrossEntropy(), metrics=[MeanIoU(num_labels)])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        p_train = model.predict(x_train[: args.tune], batch_size=40, verbose=0)
        options, grid, train_plain = tune_crf(p_train, x_train[: args.tune], y_train[: args.tune], num_labels)
        print(f"{name}: CRF grid on {args.tune} training images (plain {train_plain:.1f}): "
              + "; ".join(f"[{describe(o)}] {m:.1f}" for o, m in grid), flush=True)
        probabilities = model.predict(x_val, batch_size=40, verbose=0)
        row = {
            "name": name, "variant": variant(name), "params": model.count_params(), "seconds": seconds,
            "train": train_plain, "plain": 100 * mean_iou(y_val, probabilities, num_labels),
            "default": 100 * mean_iou(y_val, crf_refine(probabilities, x_val, num_labels), num_labels),
            "options": options, "tuned_train": dict((describe(o), m) for o, m in grid)[describe(options)],
        }
        row["tuned"] = 100 * mean_iou(y_val, crf_refine(probabilities, x_val, num_labels, **options), num_labels)
        rows.append(row)
        print(f"{name:12s} params {row['params']:9d}  train {seconds:6.0f} s  val mIoU {row['plain']:5.1f}  "
              f"+CRF default {row['default']:5.1f}  +CRF tuned {row['tuned']:5.1f} [{describe(options)}]", flush=True)
        report(args, rows, num_labels, args.models[k + 1 :], finished=k + 1 == len(args.models))


if __name__ == "__main__":
    main()
