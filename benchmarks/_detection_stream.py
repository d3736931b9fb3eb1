"""Shared by the detection benchmarks: an endless stream of fresh ShapesWorld detection batches."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf

from vras_keras.data import datasets


def shapes_stream(size, batch_size, max_objects, *, seed=0, with_masks=False):
    """Endless batches of fresh ShapesWorld training images (the `load("detection")` generator, split
    "train"), each flipped horizontally with probability 0.5, as a `tf.data.Dataset` of
    `(images (B, H, W, 3) float32 0..255, {"boxes" (B, M, 4), "classes" (B, M) padded with -1[, "masks"
    (B, M, H, W) uint8]})`. Generated in this process (NumPy + OpenCV), so their CPU time counts towards a
    budget measured with `time.process_time`."""
    world = datasets.generator("detection", image_size=size, seed=seed, split="train")
    rng = np.random.default_rng(seed)

    def gen():
        i = 0
        while True:
            images = np.zeros((batch_size, size, size, 3), np.float32)
            boxes = np.zeros((batch_size, max_objects, 4), np.float32)
            classes = np.full((batch_size, max_objects), -1, np.int32)
            masks = np.zeros((batch_size, max_objects, size, size), np.uint8) if with_masks else None
            for b in range(batch_size):
                s = world.sample(i)
                i += 1
                k = len(s["classes"])
                images[b], boxes[b, :k], classes[b, :k] = s["image"], s["boxes"], s["classes"]
                if with_masks:
                    masks[b, :k] = s["instance_masks"]
                if rng.random() < 0.5:
                    images[b] = images[b, :, ::-1]
                    boxes[b, :k] = np.stack([size - s["boxes"][:, 2], s["boxes"][:, 1], size - s["boxes"][:, 0],
                                             s["boxes"][:, 3]], -1)
                    if with_masks:
                        masks[b, :k] = masks[b, :k, :, ::-1]
            target = {"boxes": boxes, "classes": classes}
            if with_masks:
                target["masks"] = masks
            yield images, target

    spec = {"boxes": tf.TensorSpec((batch_size, max_objects, 4), tf.float32),
            "classes": tf.TensorSpec((batch_size, max_objects), tf.int32)}
    if with_masks:
        spec["masks"] = tf.TensorSpec((batch_size, max_objects, size, size), tf.uint8)
    images_spec = tf.TensorSpec((batch_size, size, size, 3), tf.float32)
    return tf.data.Dataset.from_generator(gen, output_signature=(images_spec, spec)).prefetch(2)


class CpuBudget(keras.callbacks.Callback):
    """Learning rate: linear warm-up then cosine decay to 0 over a CPU-time budget; stop when it is spent.

    The budget is CPU time of this process (`time.process_time`), so a run means the same however busy the
    machine is. `history` collects each epoch's logs; `cpu_seconds()` / `wall_seconds()` since creation.
    """

    def __init__(self, peak_lr: float, budget_seconds: float, warmup: float):
        super().__init__()
        self.peak_lr, self.budget, self.warmup = peak_lr, budget_seconds, warmup
        self.start, self.wall0, self.history = time.process_time(), time.time(), []

    def cpu_seconds(self) -> float:
        return time.process_time() - self.start

    def wall_seconds(self) -> float:
        return time.time() - self.wall0

    def on_train_batch_begin(self, batch, logs=None):
        f = self.cpu_seconds() / self.budget
        if f >= 1.0:
            self.model.stop_training = True
            return
        lr = self.peak_lr * (f / self.warmup if f < self.warmup else 0.5 * (1 + math.cos(math.pi * f)))
        self.model.optimizer.learning_rate.assign(lr)

    def on_epoch_end(self, epoch, logs=None):
        self.history.append(logs)
        print(f"epoch {epoch + 1}: " + " ".join(f"{k} {v:.3f}" for k, v in logs.items())
              + f" ({self.cpu_seconds():.0f} s CPU, {self.wall_seconds():.0f} s wall)", flush=True)


def dataset_arrays(ds):
    """A finite dataset of `(images, {name: tensor})` batches → `(images, {name: array})`, each concatenated
    over the batches (the validation sets the detection benchmarks score on)."""
    images, targets = [], []
    for x, y in ds:
        images.append(x.numpy())
        targets.append({name: t.numpy() for name, t in y.items()})
    return np.concatenate(images), {name: np.concatenate([t[name] for t in targets]) for name in targets[0]}


def latency_section(inference, images, *, inside: str, n: int, digits: int) -> str:
    """CPU latency per image (batch 1) of the inference model, Keras (`tf.function`) vs TFLite built-ins with
    1 thread, each after 3 warm-up calls over `n` images, plus their class agreement on 8 images: markdown."""
    from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite

    def per_image_ms(fn):
        for _ in range(3):
            fn(images[:1])
        t0 = time.perf_counter()
        for i in range(n):
            j = i % len(images)
            fn(images[j : j + 1])
        return (time.perf_counter() - t0) / n * 1000

    keras_ms = per_image_ms(tf.function(lambda t: inference(t, training=False)))
    runner = TFLiteRunner(convert_to_tflite(inference), num_threads=1)
    tflite_ms = per_image_ms(runner)
    same_classes = float(np.mean(runner(images[:8])["classes"] == np.asarray(inference(images[:8])["classes"])))
    return f"""
| CPU latency per image (batch 1, {inside} inside) | ms |
|---|---|
| Keras (`tf.function`) | {keras_ms:.{digits}f} |
| TFLite built-ins (ai_edge_litert, 1 thread) | {tflite_ms:.{digits}f} |

TFLite and Keras agree on {same_classes:.1%} of the detection class slots of 8 validation images.
"""
