"""Losses, one module per task (classification, segmentation, pose, detection, matching)."""
from vras_keras.losses import matching, pose
