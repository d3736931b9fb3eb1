"""Keras metrics, one module per task."""
from vras_keras.metrics import pose
from vras_keras.metrics import detection  # noqa: F401
