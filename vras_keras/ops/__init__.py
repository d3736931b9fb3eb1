"""Pure tensor functions on `keras.ops` (shapes and formats in each docstring)."""
from vras_keras.ops import boxes  # noqa: F401
from vras_keras.ops import anchors  # noqa: F401
from vras_keras.ops import nms  # noqa: F401
from vras_keras.ops import roi_align  # noqa: F401
