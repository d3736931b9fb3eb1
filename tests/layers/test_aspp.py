"""ASPP: default rates per output stride, branch structure, harness incl. TFLite."""

import keras
import numpy as np
import pytest

from vras_keras.layers import ASPP, BN_EPSILON
from vras_keras.testing import check_layer


def _dilations(layer):
    layer.build((None, 8, 8, 4))
    return [conv.dilation_rate[0] for conv, _ in layer.branches]


def test_default_rates_follow_output_stride():
    assert ASPP(8).rates == (6, 12, 18)
    assert ASPP(8, output_stride=8).rates == (12, 24, 36)
    assert _dilations(ASPP(8)) == [1, 6, 12, 18]
    assert _dilations(ASPP(8, rates=(2, 3), output_stride=8)) == [1, 2, 3]
    layer = ASPP(8)
    assert layer.branches[1][0].kernel_size == (3, 3) and layer.branches[0][0].kernel_size == (1, 1)
    assert layer.branches[0][1].epsilon == BN_EPSILON and not layer.branches[0][0].use_bias


def test_image_pooling_branch_changes_output_with_global_context():
    """With only the 1x1 and pooling branches, a pixel's output depends on pixels far away iff pooling is on."""
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 4)).astype(np.float32)
    far = x.copy()
    far[0, 7, 7] += 5.0
    for pooling, changes in ((True, True), (False, False)):
        keras.utils.set_random_seed(1)
        layer = ASPP(4, rates=(1,), image_pooling=pooling)
        a, b = (keras.ops.convert_to_numpy(layer(v, training=False)) for v in (x, far))
        assert np.any(np.abs(a[0, 0, 0] - b[0, 0, 0]) > 1e-6) == changes


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="output_stride must be one of"):
        ASPP(8, output_stride=32)
    with pytest.raises(ValueError, match="rates"):
        ASPP(8, rates=(0, 6))
    with pytest.raises(ValueError, match="filters"):
        ASPP(0)


def test_aspp_harness():
    check_layer(ASPP, {"filters": 4, "rates": (1, 2), "dropout": 0.1}, input_shapes=(2, 6, 6, 3),
                expected_output_shape=(2, 6, 6, 4))
