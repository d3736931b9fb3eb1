"""Pure tensor functions on `keras.ops` (shapes and formats in each docstring)."""
from vras_keras.ops import soft_argmax
from vras_keras.ops.normalization import local_response_normalization
