"""Differentiable image sampling: `affine_grid`, `grid_sample` (PyTorch semantics) and `bilinear_sample`.

TensorFlow has no `grid_sample`, and `keras.ops.image.affine_transform` passes no gradient to the
transformation, so spatial transformer networks (Jaderberg et al., arXiv:1506.02025) need their own
sampler. Everything here uses `keras.ops` only and samples with one `GATHER` on flattened indices, so
models built on it convert to TFLite built-in ops; gradients flow to the images, the sampling grid and
(through `affine_grid`) the transformation.

Conventions (channels-last, as the rest of vras_keras):

- images `(N, H, W, C)`, volumes `(N, D, H, W, C)`;
- a *grid* holds normalised coordinates in [-1, 1], last axis ordered `(x, y)` or `(x, y, z)`
  (x indexes W, y indexes H, z indexes D), exactly like PyTorch's `grid_sample` grid;
- *pixel coordinates* (`bilinear_sample`) have pixel centres at integers: `(x, y) = (j, i)` is the centre
  of `images[:, i, j]`.

Coordinate formulas (identical to PyTorch's `torch.nn.functional.grid_sample` / `affine_grid`):

- unnormalise: `align_corners=True`: `((g + 1) / 2) * (size - 1)` (-1 and 1 are the centres of the corner
  pixels); `align_corners=False`: `((g + 1) * size - 1) / 2` (-1 and 1 are the outer edges of the corner
  pixels);
- padding: `"zeros"` samples outside the image read 0; `"border"` clips the coordinate to
  `[0, size - 1]`; `"reflection"` reflects it about the corner-pixel centres (`align_corners=True`) or
  the image edges (`align_corners=False`), then clips;
- `"bilinear"` (trilinear for volumes) weights the 4 (8) neighbours; `"nearest"` rounds half to even
  (PyTorch's `nearbyint`) and has no gradient with respect to the grid.

Coordinates are always computed in float32 (float64 when the grid is float64), whatever the image dtype,
so that mixed precision does not quantise the sampling positions.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
from keras import ops

MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")

__all__ = [
    "MODES",
    "PADDING_MODES",
    "affine_grid",
    "bilinear_sample",
    "grid_sample",
    "normalize_coordinates",
    "unnormalize_coordinates",
]


# ------------------------------------------------------------------------------------------- validation
def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; received {value!r}")


def _static_shape(x) -> tuple:
    return tuple(getattr(x, "shape", np.shape(x)))


def _coordinate_dtype(x) -> str:
    return "float64" if keras.backend.standardize_dtype(x.dtype) == "float64" else "float32"


def _float_sizes(sizes, dtype) -> tuple:
    return tuple(s if isinstance(s, int) else ops.cast(s, dtype) for s in sizes)


def _spatial_sizes(images) -> tuple:
    """Spatial sizes (D, H, W) / (H, W) of `images`: Python ints when static, scalar tensors otherwise."""
    static = _static_shape(images)[1:-1]
    dynamic = ops.shape(images)[1:-1]
    return tuple(s if s is not None else d for s, d in zip(static, dynamic))


def _check_images_and_points(images, points, what: str) -> int:
    """Validate `images` (rank 4/5) against sample points `(N, ..., r)`; returns r (2 or 3)."""
    image_shape = _static_shape(images)
    if len(image_shape) not in (4, 5):
        raise ValueError(
            f"images must be (N, H, W, C) or (N, D, H, W, C), received shape {image_shape} (rank {len(image_shape)})"
        )
    r = len(image_shape) - 2
    point_shape = _static_shape(points)
    axes = "(x, y)" if r == 2 else "(x, y, z)"
    if len(point_shape) < 3 or point_shape[-1] != r:
        raise ValueError(
            f"{what} must have shape (N, ..., {r}) with last axis {axes} for images of shape {image_shape}; "
            f"received shape {point_shape}"
        )
    if what == "grid" and len(point_shape) != len(image_shape):
        expected = "(N, H_out, W_out, 2)" if r == 2 else "(N, D_out, H_out, W_out, 3)"
        raise ValueError(f"grid must have shape {expected} for images of shape {image_shape}; received {point_shape}")
    if image_shape[0] is not None and point_shape[0] is not None and image_shape[0] != point_shape[0]:
        raise ValueError(
            f"images and {what} must have the same batch size, received {image_shape[0]} and {point_shape[0]}"
        )
    return r


# ----------------------------------------------------------------------------------- coordinate helpers
def unnormalize_coordinates(coords, size, align_corners: bool = False):
    """Normalised coordinates in [-1, 1] → pixel coordinates along an axis of `size` pixels.

    `align_corners=True`: `((coords + 1) / 2) * (size - 1)`; `False`: `((coords + 1) * size - 1) / 2`
    (PyTorch's `grid_sampler_unnormalize`).
    """
    if align_corners:
        return (coords + 1.0) / 2.0 * (size - 1)
    return ((coords + 1.0) * size - 1.0) / 2.0


def normalize_coordinates(pixels, size, align_corners: bool = False):
    """Pixel coordinates → normalised [-1, 1] coordinates (inverse of `unnormalize_coordinates`).

    `align_corners=True` needs `size > 1`.
    """
    if align_corners:
        return pixels * 2.0 / (size - 1) - 1.0
    return (pixels * 2.0 + 1.0) / size - 1.0


def _reflect(coords, twice_low: int, twice_high):
    """PyTorch's `reflect_coordinates`: reflect about `twice_low / 2` and `twice_high / 2`."""
    if isinstance(twice_high, (int, float)) and twice_low == twice_high:
        return ops.zeros_like(coords)
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    degenerate = None
    if not isinstance(span, (int, float)):  # dynamic size: guard the size-1 case (span 0) at run time
        degenerate = ops.less_equal(span, 0.0)
        span = ops.maximum(span, 1.0)
    coords = coords - low
    coords = ops.where(coords < 0, -coords, coords)  # abs with PyTorch's gradient (+1) at 0
    extra = ops.mod(coords, span)  # coords >= 0, so floor-mod == PyTorch's fmod
    flips = ops.floor(coords / span)
    even = ops.equal(ops.mod(flips, 2.0), 0.0)
    out = ops.where(even, extra + low, span - extra + low)
    return out if degenerate is None else ops.where(degenerate, ops.zeros_like(out), out)


def _clip(coords, size):
    """Clip to [0, size - 1]; like PyTorch's `clip_coordinates_set_grad`, the bounds themselves count as
    outside (zero gradient there)."""
    high = ops.cast(size - 1, coords.dtype)
    return ops.where(coords > 0, ops.where(coords < high, coords, high), ops.zeros_like(coords))


def _pad_coordinates(coords, size, padding_mode: str, align_corners: bool):
    """PyTorch's `compute_coordinates`: apply border / reflection padding to pixel coordinates."""
    if padding_mode == "border":
        return _clip(coords, size)
    if padding_mode == "reflection":
        if align_corners:
            coords = _reflect(coords, 0, 2 * (size - 1))
        else:
            coords = _reflect(coords, -1, 2 * size - 1)
        return _clip(coords, size)
    return coords


# -------------------------------------------------------------------------------------------- sampling
def _gather_points(images, pixel_coords, mode: str):
    """Sample `images` `(N, *spatial, C)` at pixel coordinates (one `(N, P)` tensor per axis, ordered
    like the spatial axes, i.e. (z,) y, x); samples outside the image read 0. Returns `(N, P, C)`."""
    sizes = _spatial_sizes(images)
    n = ops.shape(images)[0]
    channels = _static_shape(images)[-1] or ops.shape(images)[-1]
    # Flattened (N * prod(spatial), C) table: one GATHER on row indices converts to a TFLite built-in.
    table = ops.reshape(images, (-1, channels))
    strides = [1] * len(sizes)
    for axis in range(len(sizes) - 2, -1, -1):
        strides[axis] = strides[axis + 1] * sizes[axis + 1]
    batch_stride = strides[0] * sizes[0]
    batch_offset = ops.expand_dims(ops.arange(n, dtype="int32") * batch_stride, 1)  # (N, 1)

    if mode == "nearest":
        corner_sets = [[(ops.round(c), None)] for c in pixel_coords]  # round half to even (nearbyint)
    else:
        corner_sets = []
        for c in pixel_coords:
            lower = ops.floor(c)
            frac = c - lower
            corner_sets.append([(lower, 1.0 - frac), (lower + 1.0, frac)])

    indices, weights = [], []
    for corner in itertools.product(*corner_sets):
        index = batch_offset
        valid = None
        weight = None
        for (position, w), size, stride in zip(corner, sizes, strides):
            # Clip before the int cast so that huge / non-finite coordinates stay defined.
            limit = size if isinstance(size, int) else ops.cast(size, position.dtype)
            position = ops.cast(ops.clip(position, -1.0, limit), "int32")
            inside = ops.logical_and(ops.greater_equal(position, 0), ops.less(position, size))
            valid = inside if valid is None else ops.logical_and(valid, inside)
            index = index + ops.clip(position, 0, size - 1) * stride
            if w is not None:
                weight = w if weight is None else weight * w
        mask = ops.cast(valid, pixel_coords[0].dtype)
        indices.append(index)
        weights.append(mask if weight is None else weight * mask)

    values = ops.take(table, ops.stack(indices, axis=0), axis=0)  # (K, N, P, C)
    weights = ops.cast(ops.expand_dims(ops.stack(weights, axis=0), -1), values.dtype)  # (K, N, P, 1)
    return ops.sum(values * weights, axis=0)


def _sample(images, pixel_xyz, point_shape, mode):
    """`pixel_xyz`: list of `(N, *S)` pixel coordinates ordered (x, y[, z]); returns `(N, *S, C)`."""
    flat = [ops.reshape(c, (ops.shape(c)[0], -1)) for c in pixel_xyz]
    out = _gather_points(images, flat[::-1], mode)  # spatial axes are ordered (z,) y, x
    channels = _static_shape(images)[-1] or ops.shape(images)[-1]
    spatial = tuple(s if s is not None else d for s, d in zip(point_shape[1:-1], ops.shape(pixel_xyz[0])[1:]))
    return ops.reshape(out, (-1,) + spatial + (channels,))


def grid_sample(images, grid, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False):
    """Sample `images` at the normalised coordinates of `grid` (PyTorch's `F.grid_sample`, channels-last).

    Reference: Jaderberg et al., Spatial Transformer Networks, NeurIPS 2015 (arXiv:1506.02025).

    Args:
        images: `(N, H, W, C)` images or `(N, D, H, W, C)` volumes (any float dtype).
        grid: `(N, H_out, W_out, 2)` (images) or `(N, D_out, H_out, W_out, 3)` (volumes): normalised
            coordinates, last axis `(x, y[, z])`; -1 / 1 are the left / right (top / bottom, front / back)
            corner pixels (`align_corners=True`) or image edges (`align_corners=False`).
        mode: `"bilinear"` (trilinear for volumes) or `"nearest"`.
        padding_mode: `"zeros"`, `"border"` or `"reflection"` for samples outside the image.
        align_corners: coordinate convention, as in PyTorch.

    Returns:
        `(N, H_out, W_out, C)` / `(N, D_out, H_out, W_out, C)` in the dtype of `images`. Differentiable
        with respect to `images` and (bilinear only, as PyTorch) `grid`.

    Example:
    >>> theta = np.array([[[1, 0, 0], [0, 1, 0]]], "float32")        # identity
    >>> images = np.random.rand(1, 8, 8, 3).astype("float32")
    >>> out = grid_sample(images, affine_grid(theta, (8, 8)))          # == images
    """
    _check_choice("mode", mode, MODES)
    _check_choice("padding_mode", padding_mode, PADDING_MODES)
    images = ops.convert_to_tensor(images)
    grid = ops.convert_to_tensor(grid)
    r = _check_images_and_points(images, grid, "grid")
    grid = ops.cast(grid, _coordinate_dtype(grid))
    sizes = _float_sizes(_spatial_sizes(images)[::-1], grid.dtype)  # W, H(, D): the grid's axis order
    pixel_xyz = []
    for axis in range(r):
        c = unnormalize_coordinates(grid[..., axis], sizes[axis], align_corners)
        pixel_xyz.append(_pad_coordinates(c, sizes[axis], padding_mode, align_corners))
    return _sample(images, pixel_xyz, _static_shape(grid), mode)


def bilinear_sample(images, coords, padding_mode: str = "zeros"):
    """Bilinear (trilinear) samples of `images` at pixel coordinates: the gather-based building block
    for RoIAlign, descriptor patch extraction (LIFT) and other resamplers.

    Args:
        images: `(N, H, W, C)` or `(N, D, H, W, C)`.
        coords: `(N, ..., 2)` pixel coordinates `(x, y)` (volumes: `(N, ..., 3)`, `(x, y, z)`); pixel
            centres are at integers, so `(x, y) = (j, i)` reads exactly `images[n, i, j]`. Any number of
            point axes `...` (e.g. `(N, K, h, w, 2)` for K patches of h×w samples).
        padding_mode: `"zeros"` (neighbours outside the image read 0, so a sample half a pixel outside
            the edge gets half the edge value) or `"border"` (coordinates clipped to `[0, size - 1]`).

    Returns:
        `(N, ..., C)` in the dtype of `images`; differentiable with respect to `images` and `coords`.

    Example:
    >>> images = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> bilinear_sample(images, np.array([[[1.5, 2.0]]], "float32"))   # (x=1.5, y=2) -> [[[9.5]]]
    """
    _check_choice("padding_mode", padding_mode, ("zeros", "border"))
    images = ops.convert_to_tensor(images)
    coords = ops.convert_to_tensor(coords)
    r = _check_images_and_points(images, coords, "coords")
    coords = ops.cast(coords, _coordinate_dtype(coords))
    sizes = _float_sizes(_spatial_sizes(images)[::-1], coords.dtype)
    pixel_xyz = []
    for axis in range(r):
        c = coords[..., axis]
        pixel_xyz.append(_pad_coordinates(c, sizes[axis], padding_mode, False))
    return _sample(images, pixel_xyz, _static_shape(coords), "bilinear")


# ---------------------------------------------------------------------------------------------- grids
def _base_grid(output_shape, align_corners: bool) -> np.ndarray:
    """Homogeneous base grid `(prod(output_shape), r + 1)`, columns (x, y[, z], 1) (PyTorch's order)."""
    axes = []
    for size in output_shape:
        if size == 1:  # PyTorch: a single sample sits at the centre, 0, with either align_corners
            axes.append(np.zeros(1))
            continue
        steps = np.linspace(-1.0, 1.0, size)
        if not align_corners:
            steps = steps * (size - 1) / size
        axes.append(steps)
    mesh = np.meshgrid(*axes, indexing="ij")  # each (D,) H, W
    columns = [m.reshape(-1) for m in mesh[::-1]]  # x, y(, z)
    columns.append(np.ones_like(columns[0]))
    return np.stack(columns, axis=-1)


def affine_grid(theta, output_shape, align_corners: bool = False):
    """Sampling grid of an affine transformation (PyTorch's `F.affine_grid`, channels-last).

    Each output location with normalised coordinates `p = (x, y[, z])` samples the input at `theta @ [p, 1]`.

    Args:
        theta: `(N, 2, 3)` for a 2-D `output_shape` `(H, W)`, `(N, 3, 4)` for a 3-D `(D, H, W)`.
        output_shape: spatial size of the output, `(H, W)` or `(D, H, W)` (positive ints).
        align_corners: as in `grid_sample` (use the same value for both). An axis of size 1 is at
            coordinate 0 either way, as in PyTorch (not at -1, which `linspace(-1, 1, 1)` would give).

    Returns:
        `(N, H, W, 2)` / `(N, D, H, W, 3)` grid, last axis `(x, y[, z])`, float32 (float64 for a float64
        theta); differentiable with respect to `theta`.

    Example:
    >>> shift = np.array([[[1, 0, 0.5], [0, 1, 0]]], "float32")  # reads a quarter of the width to the right
    >>> affine_grid(shift, (4, 4)).shape
    (1, 4, 4, 2)
    """
    output_shape = tuple(output_shape)
    if len(output_shape) not in (2, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in output_shape):
        raise ValueError(
            f"output_shape must be (H, W) or (D, H, W) with positive ints, received {output_shape!r}"
        )
    r = len(output_shape)
    theta = ops.convert_to_tensor(theta)
    expected = (2, 3) if r == 2 else (3, 4)
    shape = _static_shape(theta)
    if len(shape) != 3 or tuple(shape[1:]) != expected:
        names = "(H, W)" if r == 2 else "(D, H, W)"
        raise ValueError(
            f"theta must have shape (N, {expected[0]}, {expected[1]}) for output_shape {names} = {output_shape}; "
            f"received shape {shape} (allowed: (N, 2, 3) with (H, W), (N, 3, 4) with (D, H, W))"
        )
    dtype = _coordinate_dtype(theta)
    theta = ops.cast(theta, dtype)
    base = ops.convert_to_tensor(_base_grid(output_shape, align_corners).T.astype(dtype))  # (r + 1, P)
    grid = ops.matmul(theta, base)  # (N, r, P)
    grid = ops.transpose(grid, (0, 2, 1))
    return ops.reshape(grid, (-1,) + output_shape + (r,))

