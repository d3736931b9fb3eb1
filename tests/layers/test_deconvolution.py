"""The course's deconvolution (transposed convolution) example, computed by hand."""

import keras
import numpy as np


def test_course_transposed_convolution_example():
    image = np.array([[1, 3, 0], [2, 0, 1], [0, 3, 1]], np.float32)
    kernel = np.array([[1, 1], [2, 0]], np.float32)
    # Each input pixel v at (i, j) writes v * kernel into the output block (2i:2i+2, 2j:2j+2).
    expected = np.array(
        [
            [1, 1, 3, 3, 0, 0],
            [2, 0, 6, 0, 0, 0],
            [2, 2, 0, 0, 1, 1],
            [4, 0, 0, 0, 2, 0],
            [0, 0, 3, 3, 1, 1],
            [0, 0, 6, 0, 2, 0],
        ],
        np.float32,
    )
    layer = keras.layers.Conv2DTranspose(1, 2, strides=2, padding="valid", use_bias=False)
    layer.build((1, 3, 3, 1))
    layer.kernel.assign(kernel.reshape(2, 2, 1, 1))
    out = keras.ops.convert_to_numpy(layer(image[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_array_equal(out, expected)
