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
        # a learnable target (the brightest of the first num_classes channels), so that a few fit steps
        # lower the loss also when evaluated with BatchNorm moving statistics
        masks = images[..., :num_classes].argmax(-1).astype(np.int32)
        masks[:, 0, :] = 255  # an ignored row
        compile_kwargs = {"optimizer": keras.optimizers.Adam(3e-3), "loss": PixelCrossEntropy()}
        return images, masks, compile_kwargs

    return make
