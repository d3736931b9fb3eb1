"""Train `stn_classifier` and `cnn_classifier` with the same budget on distorted digits; compare test accuracy
and save a picture of test inputs next to what the spatial transformer made of them.

Usage: python benchmarks/stn_digits.py [--epochs 24] [--train 8000] [--test 2000] [--variant rts] [--clutter 4]
                                      [--stn-output 48 32]   (one STN run per output size)
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _report import RESULTS_DIR, machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data.digits import DistortedDigits  # noqa: E402


def train(name, data, args, **kwargs):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(args.seed)
    model = models.get(name, input_shape=x_train.shape[1:], num_classes=10, width=args.width, **kwargs)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, validation_data=(x_test, y_test),
        verbose=2,
    )
    seconds = time.perf_counter() - start
    return model, {
        "params": model.count_params(),
        "seconds": seconds,
        "train_acc": history.history["accuracy"][-1],
        "test_acc": history.history["val_accuracy"][-1],
        "best_test_acc": max(history.history["val_accuracy"]),
        "curve": history.history["val_accuracy"],
    }


def save_picture(model, images, labels, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    warped = keras.Model(model.input, model.get_layer("stn").output)(images).numpy()
    predictions = model.predict(images, verbose=0).argmax(-1)
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.0))
    for i in range(n):
        axes[0, i].imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=255)
        axes[0, i].set_title(f"label {labels[i]}", fontsize=8)
        axes[1, i].imshow(warped[i, ..., 0], cmap="gray", vmin=0, vmax=1)
        axes[1, i].set_title(f"pred {predictions[i]}", fontsize=8)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=9)
    axes[1, 0].set_ylabel("STN output", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=8000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--variant", default="rts")
    parser.add_argument("--clutter", type=int, default=4)
    parser.add_argument("--canvas", type=int, default=48)
    parser.add_argument("--transform", default="affine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stn-output", type=int, nargs="+", default=[48, 32],
                        help="output sizes of the spatial transformer, one STN model each")
    args = parser.parse_args(argv)

    kw = {"variant": args.variant, "clutter": args.clutter, "canvas_size": args.canvas}
    start = time.perf_counter()
    x_train, y_train = DistortedDigits("train", seed=args.seed, **kw).arrays(args.train)
    x_test, y_test = DistortedDigits("test", seed=args.seed + 1, **kw).arrays(args.test)
    data = ((x_train.astype("float32"), y_train), (x_test.astype("float32"), y_test))
    print(f"data: {time.perf_counter() - start:.1f} s", flush=True)

    _, cnn = train("cnn_classifier", data, args)
    stns = []
    for size in args.stn_output:
        model, result = train("stn_classifier", data, args, transform=args.transform, output_size=(size, size))
        stns.append((size, model, result))
    best_size, best_model, _ = max(stns, key=lambda item: item[2]["test_acc"])
    picture = RESULTS_DIR / "stn_digits.png"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    save_picture(best_model, data[1][0][:10], y_test[:10], picture)

    load = os.getloadavg()[0]
    curve = lambda r: " ".join(f"{a:.2f}" for a in r["curve"])
    lines = [
        "## Spatial transformer vs plain CNN on distorted digits (`benchmarks/stn_digits.py`)",
        "",
        f"Distorted digits (`vras_keras.data.digits`, variant `{args.variant}`, clutter {args.clutter}, "
        f"{args.canvas}×{args.canvas} canvas): {args.train} training samples from the training source digits, "
        f"{args.test} test samples from the disjoint test source digits. Same CNN (width {args.width}), same data, "
        f"Adam({args.learning_rate}), batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}; "
        f"`stn_classifier` adds a `{args.transform}` spatial transformer (identity at initialisation). "
        f"Machine: {machine()}; 1-minute load average {load:.1f} at the end (shared CPU: times are indicative).",
        "",
        "| model | parameters | train acc | test acc (last) | test acc (best epoch) | train time s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| `cnn_classifier` | {cnn['params']:,} | {cnn['train_acc']:.3f} | {cnn['test_acc']:.3f} | "
        f"{cnn['best_test_acc']:.3f} | {cnn['seconds']:.0f} |",
    ]
    for size, _, stn in stns:
        lines.append(
            f"| `stn_classifier`, output {size}×{size} | {stn['params']:,} | {stn['train_acc']:.3f} | "
            f"{stn['test_acc']:.3f} | {stn['best_test_acc']:.3f} | {stn['seconds']:.0f} |"
        )
    lines += [
        "",
        "Test accuracy per epoch: CNN " + curve(cnn) + "; "
        + "; ".join(f"STN {size}×{size} {curve(stn)}" for size, _, stn in stns) + ".",
        "",
        f"![inputs and STN outputs](results/{picture.name})",
        "",
        f"Top row: test inputs; bottom row: the output of the {best_size}×{best_size} spatial transformer (what its "
        "CNN sees) and the prediction.",
    ]
    write_section("stn_digits", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
