"""ShapesWorld, distorted digits, image pairs and loaders for standard formats, as tf.data.

Importing this package (or `data.shapes` / `data.datasets`) does not import TensorFlow or Keras: the
worker processes that generate synthetic samples (`data.workers`) start in about a second.
"""
