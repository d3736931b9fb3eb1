"""Train the small segmentation variants on ShapesWorld; mean IoU without and with a ConvCRF.

Every model is trained from scratch on the same synthetic data (ShapesWorld segmentation, 64×64, up to
4 shapes, 7 labels incl. background, 255 = ignore) with the same optimiser, epochs and batch size, then
evaluated on a separate validation split: mIoU of the argmax of the model's probabilities, and of a
ConvCRF run on top (unary = log-probabilities, the input image, the layer's defaults). The course's
expected orderings: FCN-8s >= FCN-32s (skips recover detail lost at stride 32), and the CRF adds mIoU.

Usage: PYTHONPATH=. python benchmarks/segmentation_shapes.py [--epochs 20] [--train 800] [--val 200]
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
    "segnet": {"width": 0.5},
    "deeplab_v3": {"width": 0.125, "output_stride": 8},
}


def build(name, num_labels):
    """The small variant; FCNs get a VGG16 *with BatchNorm* backbone so that they train from scratch in a
    few epochs (plain VGG16 without pre-trained weights barely moves off "all background" here)."""
    kwargs = dict(MODELS[name])
    if kwargs.get("backbone") == "vgg16_bn":
        kwargs["backbone"] = models.get("vgg16", input_shape=(SIZE, SIZE, 3), include_top=False, batch_norm=True,
                                        width=kwargs.pop("width"))
    return models.get(name, input_shape=(SIZE, SIZE, 3), num_classes=num_labels, **kwargs)


def arrays(split: str, n: int):
    ds = datasets.load("segmentation", split=split, num_samples=n, image_size=SIZE, batch_size=n)
    images, masks = next(iter(ds))
    num_labels = datasets.num_classes("segmentation")
    masks = validate_segmentation_targets(masks.numpy(), num_labels, images=images.numpy())
    return images.numpy(), masks, num_labels


def crf_refine(probabilities, images, num_labels, batch=50):
    crf = ConvCRF(num_labels)
    fn = tf.function(lambda u, i: crf([u, i]))
    out = []
    for s in range(0, len(images), batch):
        unary = np.log(np.clip(probabilities[s : s + batch], 1e-6, 1.0)).astype(np.float32)
        out.append(np.asarray(fn(unary, images[s : s + batch])))
    return np.concatenate(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train", type=int, default=800)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args(argv)
    x_train, y_train, num_labels = arrays("train", args.train)
    x_val, y_val, _ = arrays("val", args.val)
    rows = []
    for name in args.models:
        keras.utils.set_random_seed(0)
        model = build(name, num_labels)
        model.compile(keras.optimizers.Adam(args.lr), loss=PixelCrossEntropy(), metrics=[MeanIoU(num_labels)])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        probabilities = model.predict(x_val, batch_size=50, verbose=0)
        plain = 100 * mean_iou(y_val, probabilities, num_labels)
        refined = 100 * mean_iou(y_val, crf_refine(probabilities, x_val, num_labels), num_labels)
        rows.append((name, MODELS[name], model.count_params(), seconds, plain, refined))
        print(f"{name:12s} params {model.count_params():9d}  train {seconds:6.0f} s  mIoU {plain:5.1f}  "
              f"+ConvCRF {refined:5.1f} ({refined - plain:+.1f})", flush=True)
    scores = {r[0]: r[4] for r in rows}
    notes = []
    if "fcn8s" in scores and "fcn32s" in scores:
        holds = scores["fcn8s"] >= scores["fcn32s"]
        notes.append(f"FCN-8s >= FCN-32s: {'holds' if holds else 'does NOT hold'} "
                     f"({scores['fcn8s']:.1f} vs {scores['fcn32s']:.1f}).")
    gains = [r[5] - r[4] for r in rows]
    notes.append(f"ConvCRF changes mIoU by {min(gains):+.1f} to {max(gains):+.1f} points across models.")
    lines = [
        "## Segmentation on ShapesWorld (`benchmarks/segmentation_shapes.py`)",
        "",
        f"Machine: {machine()} (CPU shared with other jobs: training times are indicative only). "
        f"{args.train} training / {args.val} validation images, {SIZE}×{SIZE}, {num_labels} labels; Adam {args.lr:g}, "
        f"batch {args.batch}, {args.epochs} epochs, from scratch, same seed. mIoU on the validation split over "
        "the labels present; ConvCRF: the layer's defaults on log-probabilities, not trained.",
        "",
        "| model | variant | parameters | train time (s) | mIoU | mIoU + ConvCRF | CRF gain |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {n} | {', '.join(f'{k}={v}' for k, v in kw.items())} | {p:,} | {s:.0f} | {a:.1f} | {b:.1f} | "
              f"{b - a:+.1f} |" for n, kw, p, s, a, b in rows]
    lines += [""] + [f"- {note}" for note in notes]
    write_section("segmentation_shapes", "\n".join(lines))


if __name__ == "__main__":
    main()
