import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a cleared Keras session and a fixed seed; the dtype policy is checked."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
    assert keras.config.dtype_policy().name == "float32", "a test leaked a global dtype policy"
