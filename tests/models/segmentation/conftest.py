import keras
import numpy as np
import pytest

from vras_keras.losses.segmentation import PixelCrossEntropy


@pytest.fixture
def seg_batch():
    """`(images, masks, compile_kwargs)` for a tiny segmentation harness run."""

    def make(size, num_classes, batch=2):
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        masks = rng.integers(0, num_classes, (batch, size, size)).astype(np.int32)
        masks[:, 0, :] = 255  # an ignored row
        compile_kwargs = {"optimizer": keras.optimizers.Adam(1e-3), "loss": PixelCrossEntropy()}
        return images, masks, compile_kwargs

    return make
