"""vras_keras: the architectures of "Vision for Robotics and Autonomous Systems" as Keras 3 models.

Sub-packages (see docs/ARCHITECTURE.md):

- `vras_keras.ops`: pure tensor functions (keras.ops), e.g. `grid_sample`, `roi_align`.
- `vras_keras.layers`: serializable Keras layers over those ops.
- `vras_keras.models`: registered builders, `models.get(name, **kwargs)`.
- `vras_keras.data`: ShapesWorld and loaders for standard formats, as `tf.data`.
- `vras_keras.training`, `vras_keras.export`, `vras_keras.analysis`, `vras_keras.testing`.
"""

__version__ = "0.1.0"
