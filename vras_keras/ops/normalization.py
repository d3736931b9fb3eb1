"""Normalisation functions that Keras does not provide."""

from __future__ import annotations

import tensorflow as tf
from keras import ops


def local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75):
    """Local response normalisation across channels (AlexNet, Krizhevsky et al. 2012, section 3.3).

    `y[..., c] = x[..., c] / (bias + alpha * sum_{|d - c| <= depth_radius} x[..., d]**2) ** beta`

    This is the paper's formula (n = 2 * depth_radius + 1 = 5, k = 2, alpha = 1e-4, beta = 0.75) and
    TensorFlow's: alpha is *not* divided by n, unlike `torch.nn.LocalResponseNorm`.

    Args:
        x: `(N, H, W, C)` float tensor.
        depth_radius, bias, alpha, beta: as above.

    Returns:
        A tensor of the shape and dtype of `x`.
    """
    # Keras has no LRN op; tf.nn's lowers to the TFLite built-in LOCAL_RESPONSE_NORMALIZATION and XLA.
    dtype = x.dtype
    compute = x if dtype in (tf.float32, tf.float16) else ops.cast(x, "float32")  # no bfloat16 CPU kernel
    y = tf.nn.local_response_normalization(compute, depth_radius=depth_radius, bias=bias, alpha=alpha, beta=beta)
    return ops.cast(y, dtype)
