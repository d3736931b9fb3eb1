"""ShapesWorld, distorted digits, image pairs and loaders for standard formats, as tf.data."""
from vras_keras.data import detection_targets  # noqa: F401
