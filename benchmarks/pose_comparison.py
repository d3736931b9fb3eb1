"""Direct regression vs heatmap (argmax) vs integral (soft-argmax) pose regression on stick figures.

The three models share one backbone (the registered `resnet18` truncated at C4 when the registry has it,
else the small conv stack below, also cut at stride 16) and one training budget (same data, epochs,
batch size, optimizer and learning rate). Heatmap and integral models use the same SimpleBaseline-style
head (two x2 transposed convs → stride-4 heatmaps). Metrics on a held-out split: mean pixel error and
PCK@0.05 / 0.1 of the figure's bounding-box size, visible joints only.

Usage: python benchmarks/pose_comparison.py [--train 3000] [--val 500] [--epochs 12] [--image-size 64]
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _report import RESULTS_DIR, machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data import datasets, shapes  # noqa: E402
from vras_keras.layers import conv_norm_act, image_input  # noqa: E402
from vras_keras.losses.pose import keypoint_targets  # noqa: E402
from vras_keras.metrics.pose import PCK, MeanPixelError  # noqa: E402
from vras_keras.models.pose import regressors as R  # noqa: E402
from vras_keras.visualization.pose import draw_skeleton  # noqa: E402

NAMES = ("pose_regression", "pose_heatmap", "pose_integral")


def conv_stack(input_shape, widths=(32, 64, 96, 128)):
    """Four stride-2 stages of two conv-BN-ReLU blocks: `{"C4": stride-16 map}`."""
    inputs, x = image_input(input_shape)
    for i, f in enumerate(widths, start=1):
        x = conv_norm_act(x, f, 3, strides=2, name=f"stage{i}_conv1")
        x = conv_norm_act(x, f, 3, name=f"stage{i}_conv2")
    return keras.Model(inputs, {"C4": x}, name="conv_stack")


def backbone(input_shape):
    if "resnet18" in models.list_models():
        return "resnet18", {"backbone": "resnet18", "width": 0.5}
    return "4-stage conv stack (8 conv-BN-ReLU, 32-128 filters)", {"backbone": conv_stack(input_shape)}


def arrays(split, n, size, seed):
    ds = datasets.load("pose", split=split, num_samples=n, image_size=size, seed=seed, batch_size=n)
    images, target = next(iter(ds))
    return images.numpy(), target["keypoints"].numpy(), target["visibility"].numpy()


def render(info: dict, rows: list) -> str:
    """The RESULTS.md section from the run's settings and `(name, error, pck05, pck10, params, seconds)` rows."""
    size, stride = info["image_size"], 4
    table = "\n".join(
        f"| `{n}` | {e:.2f} | {a:.3f} | {b:.3f} | {p / 1e3:.0f}k | {s:.0f} |" for n, e, a, b, p, s in rows
    )
    by = {r[0]: r for r in rows}
    order = " < ".join(f"`{n}` ({e:.2f} px)" for n, e, *_ in sorted(rows, key=lambda r: r[1]))
    expected = by["pose_integral"][1] <= by["pose_heatmap"][1] < by["pose_regression"][1]
    # mean distance from a uniform point of a unit square to its centre: (sqrt(2) + asinh(1)) / 6
    floor = stride * (np.sqrt(2) + np.arcsinh(1)) / 6
    verdict = (
        "The expected ordering integral <= heatmap-argmax < direct regression holds."
        if expected
        else "The expected ordering integral <= heatmap-argmax < direct regression does NOT hold in this run."
    )
    return f"""## Pose: direct regression vs heatmap argmax vs integral regression

`benchmarks/pose_comparison.py` ({info["machine"]}; CPU shared with other jobs, so the training times
are only indicative). ShapesWorld stick figures ({info["joints"]} joints, {size}x{size} px), {info["train"]}
training and {info["val"]} held-out (`split="val"`) images; every model: backbone {info["backbone"]} cut at
stride 16, {info["epochs"]} epochs, batch {info["batch_size"]}, Adam with cosine decay from {info["lr"]}, no
augmentation, one seed. Heatmap and integral models: two x2 transposed-conv stages → {size // stride}x{size // stride}
heatmaps (stride {stride}), Gaussian targets (sigma {info["sigma"]} heatmap px). Metrics over visible joints only;
PCK relative to the larger side of the visible keypoints' bounding box.

| model | mean error (px) | PCK@0.05 | PCK@0.1 | params | train time (s) |
|---|---|---|---|---|---|
{table}

Mean error, best first: {order}. {verdict}

Why: direct regression squeezes the figure through global average pooling and a dense layer, so it has
to re-learn the mapping from features back to coordinates and loses spatial detail; both heatmap models
keep a spatial map and are clearly better (PCK@0.1 {by["pose_heatmap"][3]:.2f} / {by["pose_integral"][3]:.2f}
vs {by["pose_regression"][3]:.2f}). The hard argmax is quantised to the stride-{stride} grid: even a perfect
heatmap leaves a mean error of about {floor:.2f} px (uniform position inside a {stride}x{stride} cell), which the
soft-argmax removes; that shows in the tight threshold, PCK@0.05 (about 2 px on these figures):
{by["pose_integral"][2]:.3f} integral vs {by["pose_heatmap"][2]:.3f} argmax. The mean error gap between the two is
small at this budget, presumably because it is dominated by larger mistakes that both share (occluded
joints, left/right swaps, truncated figures; not measured separately here), and the soft-argmax pays for its \
sub-pixel accuracy with a pull
towards the mean when a heatmap is multi-modal (visible in the slightly lower PCK@0.1); one seed, so
differences of a few hundredths of a pixel are within noise.

Predictions on held-out images (rows in the table's order: regression, heatmap, integral):
![pose predictions](results/pose_comparison.png)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--sigma", type=float, default=1.0)
    args = parser.parse_args()
    size = args.image_size
    shape = (size, size, 3)
    k = len(shapes.JOINT_NAMES)
    x_train, kp_train, vis_train = arrays("train", args.train, size, 0)
    x_val, kp_val, vis_val = arrays("val", args.val, size, 0)
    y_val = keypoint_targets(kp_val, vis_val, num_joints=k)

    rows, previews = [], []
    backbone_name = None
    for name in NAMES:
        keras.utils.set_random_seed(0)
        backbone_name, bkw = backbone(shape)
        head = {} if name == "pose_regression" else {"num_upsample": 2, "head_filters": 64}
        model = models.get(name, num_joints=k, input_shape=shape, level="C4", **bkw, **head)
        steps = args.epochs * int(np.ceil(args.train / args.batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(args.lr, steps)
        model.compile(**R.compile_args(model, optimizer=keras.optimizers.Adam(schedule), sigma=args.sigma))
        y_train = {key: np.asarray(v) for key, v in R.training_targets(model, kp_train, vis_train).items()}
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        pred = R.keypoints_model(model).predict(x_val, batch_size=64, verbose=0)
        metrics = [MeanPixelError(), PCK(0.05), PCK(0.1)]
        for m in metrics:
            m.update_state(y_val, pred)
        err, pck05, pck10 = (float(m.result()) for m in metrics)
        rows.append((name, err, pck05, pck10, model.count_params(), seconds))
        print(f"{name}: mean error {err:.2f} px, PCK@0.05 {pck05:.3f}, PCK@0.1 {pck10:.3f}", flush=True)
        previews.append([draw_skeleton(x_val[i], pred[i], vis_val[i], shapes.SKELETON, radius=1, thickness=1)
                         for i in range(6)])

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    grid = np.concatenate([np.concatenate(row, axis=1) for row in previews], axis=0)
    import cv2

    picture = RESULTS_DIR / "pose_comparison.png"
    cv2.imwrite(str(picture), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    info = {"machine": machine(), "backbone": backbone_name, "joints": k, **vars(args)}
    (RESULTS_DIR / "pose_comparison.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    md = render(info, rows)
    write_section("pose_comparison", md)
    print(md)


if __name__ == "__main__":
    main()
