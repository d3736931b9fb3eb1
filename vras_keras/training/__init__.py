"""Training with tf.distribute: configuration, strategies, the trainer and callbacks."""
from vras_keras.training.config import TrainConfig, load_config
from vras_keras.training.strategy import make_strategy
from vras_keras.training.trainer import train
