"""Keras metrics, one module per task."""
