"""Testing utilities: the layer/model harness every vras_keras layer and model passes."""
from vras_keras.testing.harness import check_layer, check_model

__all__ = ["check_layer", "check_model"]
