"""ConvCRF (vras_keras) vs the fully connected CRF of pydensecrf2 (permutohedral lattice), in one run.

Same images (ShapesWorld at 256² and 512²), same noisy unaries (ground truth one-hot plus pixel noise
plus low-frequency noise, i.e. blobby errors like a CNN's), 5 mean-field iterations each. Reported: time
per image (median of repeats after a warm-up, batch 1, single process) and the mIoU gain over the argmax of
the unaries.

- DenseCRF: pydensecrf2 with the standard DeepLab / pydensecrf settings (Gaussian sxy=3 compat=3,
  bilateral sxy=80 srgb=13 compat=10, symmetric normalisation).
- ConvCRF: the layer's defaults (7×7 window, w1=3, w2=1, σα=80, σβ=13, σγ=3, blur 1), as a
  `tf.function` graph with and without XLA, and the paper's speed setting blur 4 (7×7 on the 4× coarser
  grid, ±12 px reach) with σγ scaled to the grid (12 px). (XLA at blur 4 spends seconds constant-folding
  the pooled grid on every call here, so it is not listed.)

pydensecrf2 is a benchmark-only dependency (a C++ extension built from source by pip; it is NOT in
requirements.txt):  `.venv/bin/pip install pydensecrf2==1.1`. If it is missing, the DenseCRF rows say so.

Usage: PYTHONPATH=. python benchmarks/crf_speed.py [--images 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _report import machine, write_section  # noqa: E402

from vras_keras.data.shapes import CLASS_NAMES, ShapesWorld  # noqa: E402
from vras_keras.layers import ConvCRF  # noqa: E402
from vras_keras.metrics.segmentation import confusion_matrix, iou_from_confusion  # noqa: E402

NUM_LABELS = len(CLASS_NAMES) + 1
ITERATIONS = 5


NOISE_MODELS = {
    "pixel": "one-hot ×2 + i.i.d. N(0, 1) per pixel and label",
    "blobby": "one-hot ×3 + i.i.d. N(0, 1) + low-frequency noise (Gaussian-blurred, σ = size/32 px, std 1)",
}


def noisy_unaries(labels: np.ndarray, seed: int, noise: str) -> np.ndarray:
    """Logits `(H, W, L)`: the ground truth one-hot plus noise (see NOISE_MODELS)."""
    rng = np.random.default_rng(seed)
    size = labels.shape[0]
    valid = np.where(labels == 255, 0, labels)
    unary = (2.0 if noise == "pixel" else 3.0) * np.eye(NUM_LABELS, dtype=np.float32)[valid]
    unary += rng.normal(0.0, 1.0, unary.shape).astype(np.float32)
    if noise == "blobby":
        smooth = rng.normal(0.0, 1.0, unary.shape).astype(np.float32)
        smooth = np.stack([cv2.GaussianBlur(smooth[..., k], (0, 0), size / 32) for k in range(NUM_LABELS)], -1)
        unary += smooth / smooth.std()
    return unary.astype(np.float32)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def dense_crf_fn():
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as error:
        return None, f"pydensecrf2 not importable ({error})"

    def run(unary, image):
        h, w, labels = unary.shape
        crf = dcrf.DenseCRF2D(w, h, labels)
        energy = -np.log(np.clip(softmax(unary), 1e-8, 1.0))
        crf.setUnaryEnergy(np.ascontiguousarray(energy.transpose(2, 0, 1).reshape(labels, -1)))
        crf.addPairwiseGaussian(sxy=3, compat=3)
        crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(image.astype(np.uint8)), compat=10)
        q = np.array(crf.inference(ITERATIONS)).reshape(labels, h, w)
        return q.argmax(0)

    return run, None


CONV_CRF_SETTINGS = {
    "ConvCRF defaults (7×7, blur 1)": ({}, False),
    "ConvCRF defaults + XLA": ({}, True),
    "ConvCRF 7×7, blur 4, σγ=12": ({"blur": 4, "smoothness_sigma": 12.0}, False),
}


def conv_crf_fn(size: int, kwargs: dict, jit: bool):
    layer = ConvCRF(NUM_LABELS, iterations=ITERATIONS, **kwargs)
    layer.build([(1, size, size, NUM_LABELS), (1, size, size, 3)])
    fn = tf.function(lambda u, i: layer([u, i]), jit_compile=jit)

    def run(unary, image):
        return np.asarray(fn(tf.constant(unary[None]), tf.constant(image[None].astype(np.float32))))[0].argmax(-1)

    return run


def timed(fn, data, repeats):
    fn(*data[0])  # warm-up (tracing / compilation)
    times, predictions = [], []
    for unary, image in data:
        best = []
        for _ in range(repeats):
            start = time.perf_counter()
            prediction = fn(unary, image)
            best.append(time.perf_counter() - start)
        times.append(statistics.median(best))
        predictions.append(prediction)
    return statistics.mean(times), predictions


def miou(labels, predictions):
    cm = sum(confusion_matrix(truth, p, NUM_LABELS) for truth, p in zip(labels, predictions))
    return 100 * float(np.nanmean(iou_from_confusion(cm)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    dense, dense_error = dense_crf_fn()
    rows = []
    for size in (256, 512):
        world = ShapesWorld(image_size=size, max_objects=4, seed=7)
        samples = [world.sample(i) for i in range(args.images)]
        labels = [s["semantic_mask"].astype(np.int64) for s in samples]
        for noise in NOISE_MODELS:
            data = [(noisy_unaries(truth, i, noise), s["image"]) for i, (truth, s) in enumerate(zip(labels, samples))]
            base = miou(labels, [u.argmax(-1) for u, _ in data])
            results = {}
            if dense is not None:
                results["DenseCRF (pydensecrf2)"] = timed(dense, data, args.repeats)
            for name, (kwargs, jit) in CONV_CRF_SETTINGS.items():
                results[name] = timed(conv_crf_fn(size, kwargs, jit), data, args.repeats)
            dense_time = results.get("DenseCRF (pydensecrf2)", (None,))[0]
            for name, (seconds, predictions) in results.items():
                gain = miou(labels, predictions) - base
                speedup = f"{dense_time / seconds:.2f}×" if dense_time else "n/a"
                rows.append((size, noise, name, seconds * 1000, base, gain, speedup))
                print(f"{size}² {noise:6s} {name:32s} {seconds * 1000:9.1f} ms  mIoU {base:5.1f} -> "
                      f"{base + gain:5.1f} ({gain:+5.1f})  speed vs DenseCRF {speedup}", flush=True)
    lines = [
        "## CRF speed: ConvCRF vs fully connected CRF (`benchmarks/crf_speed.py`)",
        "",
        f"Machine: {machine()}. CPU shared with other jobs while measuring: absolute times are noisy, the ratios "
        f"come from one run. {args.images} ShapesWorld images per size (textured backgrounds), {NUM_LABELS} "
        f"labels, {ITERATIONS} mean-field iterations, batch 1, median of {args.repeats} repeats. Noise models: "
        + "; ".join(f"*{k}*: {v}" for k, v in NOISE_MODELS.items()) + ".",
        "",
        "| size | noise | method | ms / image | mIoU unaries | mIoU gain | speed-up vs DenseCRF |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {s}² | {z} | {n} | {ms:.1f} | {b:.1f} | {g:+.1f} | {r} |" for s, z, n, ms, b, g, r in rows]
    if dense_error:
        lines += ["", f"DenseCRF not measured: {dense_error}."]
    write_section("crf_speed", "\n".join(lines))


if __name__ == "__main__":
    main()
