"""Tiny hand-built models for the export tests (the registered models are tested in their own areas)."""

import keras
import numpy as np
import pytest


def tiny_classifier(size=32, num_classes=5, activation="softmax", name="tiny_classifier"):
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture
def classifier():
    return tiny_classifier()


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
