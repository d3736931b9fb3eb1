"""Shared detection test data."""

import numpy as np
import pytest


def _bad_detection_targets(masks=False):
    """Targets of 4 64x64 images with every kind of bad input of issue #6 (padded with class -1)."""
    boxes = np.array(
        [
            [[-1, -1, -1, -1]] * 4,  # image without objects
            [[5, 5, 5, 20], [10, 10, 10, 10], [-1, -1, -1, -1], [-1, -1, -1, -1]],  # zero-area boxes only
            [[-20, -20, 10, 10], [70, 70, 90, 90], [50, 50, 80, 80], [0, 0, np.nan, 5]],  # outside / NaN
            [[10, 10, 30, 30], [20, 20, 40, 40], [1, 1, 9, 9], [-1, -1, -1, -1]],  # class ids out of range
        ],
        "float32",
    )
    y = {"boxes": boxes, "classes": np.array([[-1] * 4, [0, 1, -1, -1], [0, 1, 2, 0], [5, -3, 1, -1]], "int32")}
    if masks:
        m = np.zeros((4, 4, 64, 64), "uint8")
        m[2, 0, :10, :10] = 1
        m[2, 2, 50:, 50:] = 1
        m[3, 2, 1:9, 1:9] = 1
        y["masks"] = m
    return y


@pytest.fixture
def bad_detection_targets():
    """Factory `bad_detection_targets(masks=False)` -> the bad-input targets above."""
    return _bad_detection_targets
