"""Every classification family's small variant trained on ShapesWorld classification (same data, same budget).

Records trainable parameters, validation accuracy and training images/s per model in
`benchmarks/results/classification_shapes.md`. The budget is deliberately small (shared CPU): the table
compares families under equal conditions, it is not a convergence study.

Usage: python benchmarks/classification_shapes.py [--train 6144] [--val 512] [--epochs 4] [--size 72]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _report import machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data import datasets  # noqa: E402

# (label, registry id, builder kwargs): each family's small variant
VARIANTS = [
    ("AlexNet (2 towers, LRN), width 1/4", "alexnet", {"width": 0.25, "lrn": True}),
    ("VGG-11 + BN, width 1/4", "vgg11", {"width": 0.25, "batch_norm": True}),
    ("GoogLeNet, width 1/4", "googlenet", {"width": 0.25}),
    ("ResNet-18, width 1/4", "resnet18", {"width": 0.25}),
    ("ResNet-18 no-skip, width 1/4", "resnet18", {"width": 0.25, "skip": False}),
    ("SE-ResNet-50, width 1/8", "se_resnet50", {"width": 0.125}),
    ("CIFAR ResNet-20, width 1/2", "resnet_cifar", {"depth": 20, "width": 0.5}),
    ("WRN-16-2, width 1/2, head dropout 0.3", "wide_resnet", {"depth": 16, "widen_factor": 2, "width": 0.5,
                                                               "dropout_rate": 0.3}),
    ("DenseNet-BC-40 (k = 12), width 1/2", "densenet_bc", {"depth": 40, "growth_rate": 12, "width": 0.5}),
    ("DenseNet-121, width 1/8", "densenet121", {"width": 0.125}),
]
# Adam learning rate per registry id where the default 2e-3 fails: AlexNet and VGG (large FC heads, AlexNet
# without BN) collapse to predicting one class at 2e-3 (val accuracy 0.146 = that class's share, measured
# here) and learn at 3e-4, the order of the papers' SGD rates.
LEARNING_RATES = {"alexnet": 3e-4, "vgg11": 3e-4}
DEFAULT_LR = 2e-3


def _write(rows, args, n_classes):
    md = f"""## Classification families on ShapesWorld

`benchmarks/classification_shapes.py` — {machine()}; 1-min load average when written {os.getloadavg()[0]:.1f}
(shared CPU: images/s are indicative only). ShapesWorld classification ({n_classes} classes, chance
{1 / n_classes:.3f}), {args.size}×{args.size} px, {args.train} training / {args.val} validation images,
{args.epochs} epochs (+ 1 warm-up batch), batch {args.batch}, Adam (learning rate in the table: 2e-3, or 3e-4
for AlexNet and VGG, which collapse to one class at 2e-3), same seed for every model.

| model | registry id | trainable params | Adam lr | val accuracy | train images/s |
|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    write_section("classification_shapes", md)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=6144)
    parser.add_argument("--val", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=72)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--only", nargs="*", help="registry ids to run (default: all)")
    args = parser.parse_args(argv)

    n_classes = datasets.num_classes("classification")
    train = datasets.load("classification", split="train", num_samples=args.train, image_size=args.size, seed=0,
                          batch_size=args.batch, shuffle=True).cache()
    val = datasets.load("classification", split="val", num_samples=args.val, image_size=args.size, seed=0,
                        batch_size=args.batch).cache()
    for _ in train:  # materialise the caches outside the timings
        pass
    for _ in val:
        pass
    store = Path(__file__).resolve().parent / "results" / "classification_shapes.json"
    done = json.loads(store.read_text()) if store.exists() else {}  # label -> row, so --only updates rows
    for label, name, kwargs in VARIANTS:
        if args.only and name not in args.only:
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = models.get(name, input_shape=(args.size, args.size, 3), num_classes=n_classes, **kwargs)
        lr = LEARNING_RATES.get(name, DEFAULT_LR)
        model.compile(optimizer=keras.optimizers.Adam(lr),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        params = int(sum(np.prod(v.shape) for v in model.trainable_weights))
        model.fit(train.take(1), epochs=1, verbose=0)  # compile / trace outside the timing
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - start
        acc = model.evaluate(val, verbose=0, return_dict=True)["accuracy"]
        ips = args.epochs * args.train / seconds
        print(f"{label}: {params:,} params, val acc {acc:.3f}, {ips:.0f} img/s", flush=True)
        done[label] = f"| {label} | `{name}` | {params:,} | {lr:g} | {acc:.3f} | {ips:.0f} |"
        store.write_text(json.dumps(done, indent=1))
        # after every model, so that a partial run still leaves its rows; table in VARIANTS order
        _write([done[v[0]] for v in VARIANTS if v[0] in done], args, n_classes)
    print((Path(__file__).resolve().parent / "results" / "classification_shapes.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
