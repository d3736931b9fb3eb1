"""Pure tensor functions on `keras.ops` (shapes and formats in each docstring)."""
