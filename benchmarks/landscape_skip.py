"""The course's skip-connection experiment (Li et al., NeurIPS 2018, Fig. 5 in miniature).

Trains `resnet_cifar` of depth 20 and 56, with and without skip connections, on ShapesWorld
classification at 32×32 for the same CPU budget, scans each 2-D loss landscape along filter-normalised
directions, and records contour plots and convexity numbers (share of grid points with markedly
negative curvature, mean |λmin/λmax|) in benchmarks/results/landscape_skip.md.

Usage: python benchmarks/landscape_skip.py [--epochs 6] [--num-train 2000] [--grid 13] [--width 1.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _report import RESULTS_DIR, machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.analysis import landscape  # noqa: E402
from vras_keras.data import datasets  # noqa: E402


def arrays(split, num, seed):
    ds = datasets.load("classification", split=split, num_samples=num, image_size=32, seed=seed)
    xs, ys = zip(*ds.as_numpy_iterator())
    return np.stack(xs).astype("float32"), np.asarray(ys)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-eval", type=int, default=128)
    parser.add_argument("--grid", type=int, default=13)
    parser.add_argument("--range", dest="range_", type=float, default=1.0)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--depths", default="20,56")
    args = parser.parse_args(argv)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    x_train, y_train = arrays("train", args.num_train, 0)
    x_val, y_val = arrays("val", 512, 0)
    num_classes = datasets.num_classes("classification")
    rows, pictures = [], []
    for depth in [int(d) for d in args.depths.split(",")]:
        for skip in (True, False):
            keras.backend.clear_session()
            keras.utils.set_random_seed(0)
            model = models.get(
                "resnet_cifar",
                depth=depth,
                skip=skip,
                num_classes=num_classes,
                input_shape=(32, 32, 3),
                width=args.width,
            )
            model.compile(
                optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            start = time.perf_counter()
            history = model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
            train_s = time.perf_counter() - start
            val_acc = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
            start = time.perf_counter()
            result = landscape.surface_2d(
                model,
                (x_train[: args.num_eval], y_train[: args.num_eval]),
                grid=args.grid,
                range_=args.range_,
                progress=False,
            )
            scan_s = time.perf_counter() - start
            stats = landscape.curvature_stats(result)
            tag = f"resnet{depth}{'' if skip else '_noskip'}"
            landscape.plot_contour(
                result, RESULTS_DIR / f"landscape_{tag}.png", title=f"ResNet-{depth}{'' if skip else ' no-skip'}"
            )
            pictures.append(f"![{tag}](results/landscape_{tag}.png)")
            rows.append(
                f"| ResNet-{depth} | {'yes' if skip else 'no'} | {history.history['loss'][-1]:.3f} | {val_acc:.3f} | "
                f"{result.losses.min():.3f} / {result.losses.max():.3f} | {stats['negative_share']:.3f} | "
                f"{stats['mean_abs_ratio']:.3f} | {train_s:.0f} s + {scan_s:.0f} s |"
            )
            print(rows[-1], flush=True)
    md = [
        "## Loss landscapes: skip connections (`benchmarks/landscape_skip.py`)",
        "",
        f"Machine: {machine()}. `resnet_cifar` (width {args.width}) trained {args.epochs} epochs on "
        f"{args.num_train} ShapesWorld 32×32 images (SGD 0.05, momentum 0.9, batch 64); 2-D landscape on "
        f"{args.num_eval} training images, {args.grid}×{args.grid} grid over [-{args.range_}, {args.range_}]², "
        "filter-normalised directions, biases/BN excluded. Convexity: *negative share* = share of interior grid "
        "points whose Hessian in (α, β) has λmin < 0 with |λmin/λmax| > 0.1; *mean ratio* = mean |λmin/λmax| "
        "over all points (0 where locally convex).",
        "",
        "| model | skip | final train loss | val acc | loss min / max on grid | negative share | mean ratio | time "
        "(train + scan) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        " ".join(pictures),
        "",
    ]
    write_section("landscape_skip", "\n".join(md))


if __name__ == "__main__":
    main()
