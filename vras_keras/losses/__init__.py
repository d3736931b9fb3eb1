"""Losses, one module per task (classification, segmentation, pose, detection, matching)."""
