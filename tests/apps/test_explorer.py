"""vras_keras.demo.explorer: registry listing, per-layer rows and counts (the page test builds a real model)."""

import keras

from vras_keras.analysis.summary import summary
from vras_keras.demo import explorer


def test_format_count():
    assert explorer.format_count(1_234_567) == "1.23 M"
    assert explorer.format_count(2_500_000_000) == "2.50 G"
    assert explorer.format_count(999) == "999"


def test_summary_rows_of_a_tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inputs)
    rows = explorer.summary_rows(summary(keras.Model(inputs, x, name="tiny")))
    conv = next(r for r in rows if r["layer"] == "conv")
    assert conv["params"] == 3 * 3 * 3 * 4 and conv["output shape"] == "(None, 8, 8, 4)"
    assert conv["receptive field"] == "3×3"


def test_registered_models_are_grouped_by_task():
    by_task = explorer.registered_models()
    assert "resnet18" in by_task["classification"] and all(by_task.values())
