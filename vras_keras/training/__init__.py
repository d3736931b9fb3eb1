"""Training with tf.distribute: configuration, strategies, the trainer and callbacks."""
