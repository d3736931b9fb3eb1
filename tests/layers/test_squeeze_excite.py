import keras
import numpy as np
import pytest

from vras_keras.layers import SqueezeExcite
from vras_keras.testing import check_layer


def _reference(x, w1, b1, w2, b2):
    s = x.mean(axis=(1, 2))
    h = np.maximum(s @ w1 + b1, 0.0)
    g = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
    return x * g[:, None, None, :]


def test_squeeze_excite_harness_and_reference():
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 8)).astype("float32")
    layer = SqueezeExcite(ratio=4)
    y = layer(x)
    w1, b1, w2, b2 = [
        w.numpy() for w in (layer.reduce_kernel, layer.reduce_bias, layer.expand_kernel, layer.expand_bias)
    ]
    assert w1.shape == (8, 2) and w2.shape == (2, 8)
    np.testing.assert_allclose(y, _reference(x, w1, b1, w2, b2), rtol=1e-5, atol=1e-6)
    check_layer(SqueezeExcite, {"ratio": 4}, input_data=x, expected_output_shape=(2, 4, 4, 8))


def test_squeeze_excite_parameter_count_has_biases():
    layer = SqueezeExcite(ratio=16)
    layer.build((None, 7, 7, 256))
    # 2 C C/r weights + C/r + C biases
    assert layer.count_params() == 2 * 256 * 16 + 16 + 256


def test_squeeze_excite_gate_bounds_output():
    x = np.abs(np.random.default_rng(1).standard_normal((1, 3, 3, 4))).astype("float32")
    y = keras.ops.convert_to_numpy(SqueezeExcite(ratio=2)(x))
    assert np.all(y <= x + 1e-7) and np.all(y >= 0)


@pytest.mark.parametrize("ratio", [0, 1.5, True, "16"])
def test_squeeze_excite_rejects_bad_ratio(ratio):
    with pytest.raises(ValueError, match="ratio"):
        SqueezeExcite(ratio=ratio)
