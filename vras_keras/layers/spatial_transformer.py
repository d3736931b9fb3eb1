"""Spatial transformer layers: `AffineGrid`, `GridSample` and `SpatialTransformer` (2-D and 3-D).

Thin wrappers over `vras_keras.ops.sampling` (PyTorch semantics, gather-based, TFLite built-ins) and
`vras_keras.ops.transforms` (parametrised thetas).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from vras_keras.ops.sampling import MODES, PADDING_MODES, _check_choice, affine_grid, grid_sample
from vras_keras.ops.transforms import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta


def _check_size(output_size, allow_none: bool):
    if output_size is None and allow_none:
        return None
    size = tuple(output_size) if isinstance(output_size, (list, tuple)) else output_size
    if not isinstance(size, tuple) or len(size) not in (2, 3) or not all(isinstance(s, int) and s > 0 for s in size):
        allowed = "(H, W) or (D, H, W) of positive ints" + (" or None (the input size)" if allow_none else "")
        raise ValueError(f"output_size must be {allowed}; received {output_size!r}")
    return size


@keras.saving.register_keras_serializable(package="vras_keras")
class AffineGrid(keras.layers.Layer):
    """Sampling grid of affine transformations (PyTorch's `F.affine_grid`, channels-last).

    Reference: Jaderberg et al., Spatial Transformer Networks, NeurIPS 2015 (arXiv:1506.02025).

    Args:
        output_size: `(H, W)` or `(D, H, W)`: the spatial size of the grid.
        align_corners: coordinate convention (as `grid_sample`; use the same value for both).

    Call arguments:
        theta: `(N, 2, 3)` for an `(H, W)` output size, `(N, 3, 4)` for `(D, H, W)`.

    Returns:
        `(N, H, W, 2)` / `(N, D, H, W, 3)` normalised coordinates `(x, y[, z])`, float32.

    Example:
    >>> grid = AffineGrid((8, 8))(np.eye(2, 3, dtype="float32")[None])   # identity grid (1, 8, 8, 2)
    """

    def __init__(self, output_size, align_corners=False, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _check_size(output_size, allow_none=False)
        self.align_corners = bool(align_corners)
        # Sampling coordinates stay float32 under mixed precision (bfloat16 would move samples by pixels).
        self._convert_input_args = False

    def call(self, theta):
        theta = ops.convert_to_tensor(theta)
        if keras.backend.standardize_dtype(theta.dtype) not in ("float32", "float64"):
            theta = ops.cast(theta, "float32")
        return affine_grid(theta, self.output_size, align_corners=self.align_corners)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.output_size + (len(self.output_size),)

    def compute_output_spec(self, theta):
        dtype = "float64" if keras.backend.standardize_dtype(theta.dtype) == "float64" else "float32"
        return keras.KerasTensor(self.compute_output_shape(theta.shape), dtype=dtype)

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "align_corners": self.align_corners}


@keras.saving.register_keras_serializable(package="vras_keras")
class GridSample(keras.layers.Layer):
    """Sample images (volumes) at normalised grid coordinates (PyTorch's `F.grid_sample`, channels-last).

    Reference: Jaderberg et al., Spatial Transformer Networks, NeurIPS 2015 (arXiv:1506.02025).

    Args:
        mode: `"bilinear"` (trilinear for volumes) or `"nearest"`.
        padding_mode: `"zeros"`, `"border"` or `"reflection"`.
        align_corners: coordinate convention, as in PyTorch.

    Call arguments:
        inputs: `[images, grid]`: images `(N, H, W, C)` with grid `(N, H_out, W_out, 2)`, or volumes
            `(N, D, H, W, C)` with grid `(N, D_out, H_out, W_out, 3)`.

    Returns:
        `(N, H_out, W_out, C)` / `(N, D_out, H_out, W_out, C)` in the layer's compute dtype.

    Example:
    >>> grid = AffineGrid((4, 4))(theta)
    >>> crops = GridSample()([images, grid])
    """

    def __init__(self, mode="bilinear", padding_mode="zeros", align_corners=False, **kwargs):
        super().__init__(**kwargs)
        _check_choice("mode", mode, MODES)
        _check_choice("padding_mode", padding_mode, PADDING_MODES)
        self.mode = mode
        self.padding_mode = padding_mode
        self.align_corners = bool(align_corners)
        # The grid keeps its float32 precision under mixed precision; only the images are cast below.
        self._convert_input_args = False

    def call(self, inputs):
        images, grid = inputs
        images = ops.cast(images, self.compute_dtype)
        return grid_sample(images, grid, self.mode, self.padding_mode, self.align_corners)

    def compute_output_shape(self, input_shape):
        images_shape, grid_shape = input_shape
        return (images_shape[0],) + tuple(grid_shape[1:-1]) + (images_shape[-1],)

    def compute_output_spec(self, inputs):
        images, grid = inputs
        return keras.KerasTensor(self.compute_output_shape([images.shape, grid.shape]), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "padding_mode": self.padding_mode,
            "align_corners": self.align_corners,
        }


def default_localization(rank: int = 2, name: str = "localization") -> keras.Sequential:
    """The default localisation network: two conv → max-pool → ReLU stages and a 32-unit dense layer
    (the PyTorch STN tutorial's, with "same" padding so that it fits any input of 4 px or more)."""
    conv, pool = (
        (keras.layers.Conv2D, keras.layers.MaxPooling2D)
        if rank == 2
        else (keras.layers.Conv3D, keras.layers.MaxPooling3D)
    )
    return keras.Sequential(
        [
            conv(8, 5, padding="same", name=f"{name}_conv1"),
            pool(2, name=f"{name}_pool1"),
            keras.layers.ReLU(name=f"{name}_relu1"),
            conv(16, 3, padding="same", name=f"{name}_conv2"),
            pool(2, name=f"{name}_pool2"),
            keras.layers.ReLU(name=f"{name}_relu2"),
            keras.layers.Flatten(name=f"{name}_flatten"),
            keras.layers.Dense(32, activation="relu", name=f"{name}_fc"),
        ],
        name=name,
    )


@keras.saving.register_keras_serializable(package="vras_keras")
class SpatialTransformer(keras.layers.Layer):
    """Spatial transformer: a localisation network predicts a transformation, the input is resampled.

    `localization(images)` gives features `(N, F)`; a dense head (named `"theta"`, float32, kernel
    `head_kernel_initializer`, bias the identity parameters) maps them to the parameters of `transform`,
    `vras_keras.ops.transform_to_theta` to theta, and `affine_grid` + `grid_sample` resample the input.
    With the default zero kernel the untrained layer is exactly the identity transform.

    Reference: Jaderberg et al., Spatial Transformer Networks, NeurIPS 2015 (arXiv:1506.02025).

    Args:
        localization: the localisation network: `None` (`default_localization(rank)`), a Keras layer or
            model (e.g. `keras.Sequential`), a list of layers (stacked in a `Sequential`), or the dict of
            `keras.saving.serialize_keras_object(layer)`. Its output is flattened to `(N, F)`.
        transform: `"affine"`, `"similarity"`, `"rotation_translation"` or `"translation_scale"`
            (see `vras_keras.ops.transforms`).
        output_size: `(H, W)` / `(D, H, W)` of the output, or `None` for the input size.
        mode, padding_mode, align_corners: as `grid_sample`.
        head_kernel_initializer: initializer of the head kernel (`"zeros"`: start at the identity).

    Call arguments:
        images: `(N, H, W, C)` or `(N, D, H, W, C)`.

    Returns:
        `(N, *output_size, C)`. `layer.theta(images)` gives the predicted `(N, r, r + 1)` transforms.

    Example:
    >>> stn = SpatialTransformer(transform="similarity", output_size=(32, 32))
    >>> warped = stn(np.random.rand(2, 48, 48, 1).astype("float32"))   # (2, 32, 32, 1)
    """

    def __init__(
        self,
        localization=None,
        transform="affine",
        output_size=None,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
        head_kernel_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_choice("transform", transform, TRANSFORMS)
        _check_choice("mode", mode, MODES)
        _check_choice("padding_mode", padding_mode, PADDING_MODES)
        self.transform = transform
        self.output_size = _check_size(output_size, allow_none=True)
        self.mode = mode
        self.padding_mode = padding_mode
        self.align_corners = bool(align_corners)
        self.head_kernel_initializer = keras.initializers.get(head_kernel_initializer)
        self._custom_localization = localization is not None
        if localization is None:
            self.localization = None  # made in build(), when the rank is known
        elif isinstance(localization, dict):
            self.localization = keras.saving.deserialize_keras_object(localization)
        elif isinstance(localization, (list, tuple)):
            self.localization = keras.Sequential(list(localization), name="localization")
        elif isinstance(localization, keras.layers.Layer):
            self.localization = localization
        else:
            raise ValueError(
                "localization must be None, a keras Layer/Model, a list of layers or a serialized layer dict; "
                f"received {type(localization).__name__}"
            )
        if self.localization is not None and not isinstance(self.localization, keras.layers.Layer):
            raise ValueError(f"localization deserialized to {type(self.localization).__name__}, expected a keras Layer")

    def build(self, input_shape):
        rank = len(input_shape) - 2
        if rank not in (2, 3):
            raise ValueError(
                f"SpatialTransformer expects (N, H, W, C) or (N, D, H, W, C) inputs, received {input_shape}"
            )
        if self.output_size is not None and len(self.output_size) != rank:
            raise ValueError(f"output_size {self.output_size} has {len(self.output_size)} axes, the input {rank}")
        self.rank = rank
        if self.localization is None:
            self.localization = default_localization(rank)
        if not self.localization.built:
            self.localization.build(tuple(input_shape))
        features = self.localization.compute_output_shape(tuple(input_shape))
        num_features = math.prod(features[1:])
        self.head = keras.layers.Dense(
            num_transform_parameters(self.transform, rank),
            kernel_initializer=self.head_kernel_initializer,
            bias_initializer=keras.initializers.Constant(identity_parameters(self.transform, rank)),
            dtype="float32",  # transformation parameters in full precision under mixed precision
            name="theta",
        )
        self.head.build((None, num_features))
        self.affine_grid = AffineGrid(self._output_size(input_shape), self.align_corners, name="affine_grid")
        self.grid_sample = GridSample(
            self.mode, self.padding_mode, self.align_corners, name="grid_sample", dtype=self.dtype_policy
        )

    def _output_size(self, input_shape):
        size = self.output_size or tuple(input_shape[1:-1])
        if any(s is None for s in size):
            raise ValueError(
                f"SpatialTransformer needs a static input size or output_size, received input {input_shape}"
            )
        return tuple(size)

    def theta(self, images, training=None):
        """The predicted transforms `(N, r, r + 1)` (float32) for `images`."""
        features = self.localization(images, training=training)
        features = ops.reshape(features, (ops.shape(features)[0], -1))
        return transform_to_theta(self.head(features), self.transform, self.rank)

    def call(self, images, training=None):
        grid = self.affine_grid(self.theta(images, training=training))
        return self.grid_sample([images, grid])

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._output_size(input_shape) + (input_shape[-1],)

    def get_config(self):
        localization = keras.saving.serialize_keras_object(self.localization) if self._custom_localization else None
        return {
            **super().get_config(),
            "localization": localization,
            "transform": self.transform,
            "output_size": self.output_size,
            "mode": self.mode,
            "padding_mode": self.padding_mode,
            "align_corners": self.align_corners,
            "head_kernel_initializer": keras.initializers.serialize(self.head_kernel_initializer),
        }
