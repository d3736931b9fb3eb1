import numpy as np
import pytest

from vras_keras.export.tflite import convert_to_tflite, tflite_op_names
from vras_keras.layers import LocalResponseNormalization
from vras_keras.testing import check_layer


def _reference(x, r, k, alpha, beta):
    c = x.shape[-1]
    out = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - r), min(c, i + r + 1)
        out[..., i] = x[..., i] / (k + alpha * np.sum(x[..., lo:hi] ** 2, axis=-1)) ** beta
    return out


def test_lrn_matches_paper_formula_and_harness():
    x = (3.0 * np.random.default_rng(0).standard_normal((2, 4, 4, 7))).astype("float32")
    # large alpha so that the normalisation is far from the identity
    kwargs = {"depth_radius": 2, "bias": 2.0, "alpha": 0.1, "beta": 0.75}
    expected = _reference(x.astype(np.float64), 2, 2.0, 0.1, 0.75)
    # no weights: nothing to train
    model = check_layer(LocalResponseNormalization, kwargs, input_data=x, expected_output=expected,
                        expected_output_shape=(2, 4, 4, 7), run_training=False)
    assert tflite_op_names(convert_to_tflite(model)) == ["LOCAL_RESPONSE_NORMALIZATION"]


def test_lrn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="depth_radius"):
        LocalResponseNormalization(depth_radius=-1)
    with pytest.raises(ValueError, match="bias"):
        LocalResponseNormalization(bias=0.0)
