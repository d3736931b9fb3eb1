import numpy as np
import pytest

from vras_keras.layers import ZeroPadShortcut
from vras_keras.testing import check_layer


def test_zero_pad_shortcut_reference():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype("float32")
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, 5), "float32")], axis=-1)
    # no weights: gradient/fit steps would have nothing to train
    check_layer(ZeroPadShortcut, {"filters": 8, "strides": 2}, input_data=x, expected_output=expected,
                expected_output_shape=(2, 3, 3, 8), run_training=False)


def test_zero_pad_shortcut_odd_size_and_no_params():
    layer = ZeroPadShortcut(filters=4, strides=2)
    y = layer(np.ones((1, 5, 5, 4), "float32"))
    assert y.shape == (1, 3, 3, 4) and layer.count_params() == 0
    assert layer.compute_output_shape((None, 5, 5, 4)) == (None, 3, 3, 4)


def test_zero_pad_shortcut_rejects_fewer_filters():
    with pytest.raises(ValueError, match="filters"):
        ZeroPadShortcut(filters=2)(np.ones((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="strides"):
        ZeroPadShortcut(filters=2, strides=0)
