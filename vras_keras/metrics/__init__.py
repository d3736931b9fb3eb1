"""Keras metrics, one module per task."""
from vras_keras.metrics import detection, pose
