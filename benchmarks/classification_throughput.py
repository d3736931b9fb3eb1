"""ResNet-50 speed: vras_keras `resnet50` against `keras.applications.ResNet50` (weights=None), one run.

Both models get the same input size, batch, optimizer (SGD momentum 0.9), loss and compile settings;
training and inference images/s are measured after warm-up, interleaved (A, B, A, B, ...) so that a
change in machine load hits both, and the best repetition of each is kept. Achieved GFLOP/s use each
model's own forward FLOPs from `vras_keras.analysis.summary` (training = 3x forward), against a float32
matmul peak measured in the same run.

Usage: python benchmarks/classification_throughput.py [--size 128] [--batch 16] [--steps 4] [--repeats 3]
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
from vras_keras.analysis import summary  # noqa: E402


def matmul_peak_gflops(n=2048, repeats=10) -> float:
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def build(which, size, num_classes):
    if which == "vras_keras resnet50":
        return models.get("resnet50", input_shape=(size, size, 3), num_classes=num_classes)
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=num_classes,
                                        classifier_activation=None)
    return model


class Bench:
    def __init__(self, which, size, batch, num_classes):
        self.which = which
        self.model = build(which, size, num_classes)
        self.model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(0)
        self.x = tf.constant(rng.uniform(0, 255, (batch, size, size, 3)).astype("float32"))
        self.y = tf.constant(rng.integers(0, num_classes, batch).astype("int32"))
        self.batch = batch
        self.forward_flops = summary(self.model).flops
        self.params = int(sum(np.prod(v.shape) for v in self.model.trainable_weights))
        self.predict = tf.function(lambda x: self.model(x, training=False))
        # warm-up (tracing / compilation)
        self.model.train_on_batch(self.x, self.y)
        self.predict(self.x).numpy()
        self.train_ips, self.infer_ips = 0.0, 0.0

    def measure(self, steps):
        t = time.perf_counter()
        for _ in range(steps):
            loss = self.model.train_on_batch(self.x, self.y)
        float(np.asarray(loss))
        self.train_ips = max(self.train_ips, steps * self.batch / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(steps):
            out = self.predict(self.x)
        out.numpy()
        self.infer_ips = max(self.infer_ips, steps * self.batch / (time.perf_counter() - t))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    peak = matmul_peak_gflops()
    benches = [Bench(w, args.size, args.batch, 10) for w in ("vras_keras resnet50", "keras.applications ResNet50")]
    for _ in range(args.repeats):
        for b in benches:
            b.measure(args.steps)
    peak = max(peak, matmul_peak_gflops())
    ours, peer = benches
    rows = []
    for b in benches:
        train_gf = 3 * b.forward_flops * b.train_ips / 1e9
        infer_gf = b.forward_flops * b.infer_ips / 1e9
        rows.append(
            f"| {b.which} | {b.params:,} | {b.forward_flops / 2e9:.2f} | {b.train_ips:.1f} | {b.infer_ips:.1f} | "
            f"{train_gf:.1f} ({100 * train_gf / peak:.0f} %) | {infer_gf:.1f} ({100 * infer_gf / peak:.0f} %) |"
        )
    train_ratio = ours.train_ips / peer.train_ips
    infer_ratio = ours.infer_ips / peer.infer_ips
    load = os.getloadavg()[0]
    md = f"""## Classification throughput: ResNet-50 vs keras.applications

`benchmarks/classification_throughput.py` — {machine()}; 1-min load average at the end {load:.1f}
(the CPU is shared: absolute numbers are noisy, the ratio is measured interleaved in one run).
Input {args.size}×{args.size}×3, batch {args.batch}, SGD(momentum 0.9), sparse CE, 10 classes, float32,
`model.compile` defaults; best of {args.repeats} × {args.steps} steps after warm-up. Float32 matmul peak
(2048², same run): **{peak:.1f} GFLOP/s**. GFLOP/s use each model's own forward FLOPs (2 × MACs from
`vras summary`; training counted as 3 × forward).

| model | params | GMACs / image | train img/s | inference img/s | train GFLOP/s (% peak) | inference GFLOP/s (% peak) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Ratio ours / keras.applications: **training {train_ratio:.2f}**, **inference {infer_ratio:.2f}**.
Ours is ResNet v1.5 (stride on the 3×3 conv, torchvision's layout: {ours.forward_flops / 2e9:.2f} vs
{peer.forward_flops / 2e9:.2f} GMACs per image, i.e. {100 * (ours.forward_flops / peer.forward_flops - 1):.0f} % \
more work) with bias-free
convs before BN, and its BN layers run TensorFlow's fused kernel (`vras_keras.layers.FusedBatchNormalization`;
Keras 3's `BatchNormalization`, used by keras.applications, is built from primitive ops); keras.applications
is v1 (stride on the first 1×1) with conv biases.
"""
    print(md)
    write_section("classification_throughput", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
