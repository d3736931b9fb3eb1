"""The harness itself: it passes a good small model and layer, and rejects broken ones."""

import keras
import numpy as np
import pytest

from vras_keras.layers import conv_norm_act, image_input
from vras_keras.testing import check_layer, check_model


def _small_cnn():
    inputs, x = image_input((16, 16, 3))
    x = conv_norm_act(x, 8, 3, strides=2, name="conv1")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def test_small_model_passes_every_step():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    model = check_model(_small_cnn, images, expected_output_shapes=(None, 4))
    assert [layer.name for layer in model.layers][:4] == ["image", "rescale", "conv1_conv", "conv1_bn"]
    assert model.get_layer("conv1_conv").use_bias is False


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class Scale(keras.layers.Layer):
    """y = x * factor with a trainable factor (a good layer)."""

    def __init__(self, init=2.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.init))

    def call(self, x):
        return x * self.factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init": self.init}


def test_good_layer_passes_with_reference_value():
    x = np.arange(6, dtype="float32").reshape(1, 2, 3)
    check_layer(Scale, {"init": 3.0}, input_data=x, expected_output=3.0 * x, expected_output_shape=(1, 2, 3))


class Unregistered(Scale):
    """Same as Scale but not registered for serialization: .keras files cannot load it."""


def test_rejects_unregistered_layer():
    with pytest.raises(AssertionError, match="not registered"):
        check_layer(Unregistered, {"init": 2.0}, input_shapes=(2, 3))


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class DropsConfig(Scale):
    """Registered, but get_config forgets a constructor argument."""

    def __init__(self, init=2.0, offset=0.0, **kwargs):
        super().__init__(init=init, **kwargs)
        self.offset = offset

    def call(self, x):
        return x * self.factor + self.offset


def test_rejects_config_missing_argument():
    with pytest.raises(AssertionError, match=r"drops constructor argument\(s\) \['offset'\]"):
        check_layer(DropsConfig, {"init": 2.0, "offset": 1.0}, input_shapes=(2, 3))


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class WrongShape(Scale):
    def compute_output_shape(self, input_shape):
        return input_shape[:-1]


def test_rejects_wrong_compute_output_shape():
    with pytest.raises(AssertionError, match="compute_output_shape"):
        check_layer(WrongShape, {}, input_shapes=(2, 3), expected_output_shape=(2, 3))


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class DeadWeight(Scale):
    """Has a weight that never influences the output: zero/no gradient must be caught."""

    def build(self, input_shape):
        super().build(input_shape)
        self.unused = self.add_weight(shape=(), initializer="ones")


def test_rejects_weight_without_gradient():
    with pytest.raises(AssertionError, match="gradient"):
        check_layer(DeadWeight, {}, input_shapes=(2, 3), run_saved_model=False, run_tflite=False)


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class NeedsFlex(keras.layers.Layer):
    """max_pool_with_argmax has no TFLite built-in: the TFLite step must fail and say so."""

    def call(self, x):
        import tensorflow as tf

        values, _ = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")
        return values

    def compute_output_shape(self, s):
        return (s[0], s[1] // 2, s[2] // 2, s[3])


def test_rejects_flex_op():
    with pytest.raises(ValueError, match="MaxPoolWithArgmax"):
        check_layer(NeedsFlex, {}, input_shapes=(2, 4, 4, 1), run_jit=False)


@keras.saving.register_keras_serializable(package="vras_keras_tests")
class SplitTwo(keras.layers.Layer):
    """Two outputs from one layer (Keras gives both the layer's name): the harness must keep them apart."""

    def call(self, x):
        return x * 2.0, x - 1.0

    def compute_output_shape(self, s):
        return (s, s)


def test_multi_output_layer_outputs_stay_paired_in_tflite():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    check_layer(SplitTwo, {}, input_data=x, expected_output=[2.0 * x, x - 1.0], expected_output_shape=[(2, 3), (2, 3)])


def test_tflite_step_feeds_inputs_by_name_not_alphabetical_order():
    # Inputs named so that alphabetical order ("a_scale" < "b_image") differs from the model's order.
    def build():
        image = keras.Input((3,), name="b_image")
        scale = keras.Input((1,), name="a_scale")
        out = keras.layers.Dense(2, name="fc")(keras.layers.Multiply()([image, scale]))
        return keras.Model([image, scale], out)

    rng = np.random.default_rng(0)
    check_model(build, [rng.standard_normal((3, 3)).astype("float32"), rng.uniform(1, 2, (3, 1)).astype("float32")],
                run_mixed_precision=False, run_jit=False)
