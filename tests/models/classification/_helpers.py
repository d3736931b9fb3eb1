"""Shared by the classification model tests."""

import keras
import numpy as np


def count_trainable(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def images(n=4, size=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def labels(n=4, num_classes=5, seed=0):
    return np.random.default_rng(seed).integers(0, num_classes, n).astype("int32")


def classification_compile():
    return {
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    }
