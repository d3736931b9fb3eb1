"""`FusedBatchNormalization`: Keras 3's `BatchNormalization` running TensorFlow's fused kernel.

Keras 3 computes batch normalisation from primitive ops (`moments`, then `(x - mean) * rsqrt(var + eps) *
gamma + beta`), on every backend. With the TensorFlow backend, tf.keras 2 used the single
`FusedBatchNormV3` kernel instead, whose forward and backward passes read the activations fewer times; on
a CPU that makes a ResNet-50 training step about 10 % faster (`benchmarks/classification_throughput.py`).
This layer restores that path and keeps everything else of `keras.layers.BatchNormalization`: the same
weights (gamma, beta, moving_mean, moving_variance), config, momentum convention and the *biased* batch
variance in the moving average, so results agree with the unfused layer to float32 rounding (tested).

The fused path is taken for 4-D channels-last inputs on the TensorFlow backend without mask or
renormalisation and when op determinism is off; anything else falls back to the parent's code.
At inference `FusedBatchNormV3(is_training=False)` converts to TFLite built-in ops (MUL/ADD, or folded
into the preceding convolution by the converter).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="vras_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed with TensorFlow's fused kernel where possible.

    Reference: Ioffe & Szegedy, "Batch Normalization", arXiv:1502.03167.

    Args: exactly those of `keras.layers.BatchNormalization`.

    Call arguments:
        inputs: a tensor; the fused kernel is used for `(N, H, W, C)` with `axis=-1`.
        training: batch statistics (and moving-average update) when True, moving statistics otherwise.
        mask: supported through the unfused path.

    Example:
        >>> bn = FusedBatchNormalization(epsilon=1e-5, momentum=0.9)
        >>> bn(keras.ops.ones((2, 4, 4, 3)), training=True).shape
        TensorShape([2, 4, 4, 3])
    """

    def _fused_ok(self, inputs, mask) -> bool:
        if keras.backend.backend() != "tensorflow" or mask is not None or self.renorm:
            return False
        if len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return False
        # No public getter for op determinism in TF 2.21; the framework module has one. The fused kernel's
        # gradient is not on TF's list of deterministic ops: keep the exact path there.
        from tensorflow.python.framework import config as tf_framework_config

        return not tf_framework_config.is_op_determinism_enabled()

    def call(self, inputs, training=None, mask=None):
        if not self._fused_ok(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # Keras has no fused batch-norm op

        x = tf.cast(inputs, "float32")  # as the parent: statistics in float32 whatever the policy
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, "float32") if self.scale else tf.ones((channels,), "float32")
        beta = tf.cast(self.beta, "float32") if self.center else tf.zeros((channels,), "float32")
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True, data_format="NHWC"
            )[:3]
            # The kernel returns the unbiased (n / (n - 1)) variance; Keras keeps the biased one, which is
            # 0 for a single value per channel (where the kernel's correction is 0 * inf).
            n = tf.cast(tf.size(x) // channels, "float32")
            variance = tf.where(n > 1.0, variance * (n - 1.0) / tf.maximum(n, 1.0), tf.zeros_like(variance))
            momentum = self.momentum
            self.moving_mean.assign(
                self.moving_mean * momentum + tf.cast(mean, self.moving_mean.dtype) * (1.0 - momentum)
            )
            self.moving_variance.assign(
                self.moving_variance * momentum + tf.cast(variance, self.moving_variance.dtype) * (1.0 - momentum)
            )
        else:
            y = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False,
                data_format="NHWC",
            )[0]
        return tf.cast(y, self.compute_dtype)
