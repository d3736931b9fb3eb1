"""ShapesWorld, distorted digits, image pairs and loaders for standard formats, as tf.data."""
