"""Max pooling that remembers where the maxima were, and the matching (bed-of-nails) unpooling.

`tf.nn.max_pool_with_argmax` and its gradient are not TFLite built-ins (they need the Flex delegate), so
these functions use only strided slices, comparisons, selects and reshapes, which every TFLite runtime has.

Index convention (the one of `tf.nn.max_pool_with_argmax(..., include_batch_in_index=False)`): the index of
the maximum of output cell `(n, i, j, c)` is the flat position `(y * W + x) * C + c` of the winning input
pixel `(n, y, x, c)` inside its own image, with `W`, `C` the input width and channels. Within a window the
first maximum in row-major order wins (ties go to the top-left-most element). Windows do not overlap
(`strides == pool_size`) and the input height and width must be multiples of the pool size.

Example (the course's picture):

    x = [[1, 2, 6, 3],      pooled = [[5, 6],    indices = [[5, 2],     unpooled = [[0, 0, 6, 0],
         [3, 5, 2, 1],                [7, 8]]               [8, 11]]                [0, 5, 0, 0],
         [7, 2, 1, 8],                                                              [7, 0, 0, 8],
         [1, 0, 4, 3]]                                                              [0, 0, 0, 0]]

Copy-everywhere unpooling (`copy_unpool`) writes each value into every cell of its window instead: that
is exactly nearest-neighbour upsampling (`keras.layers.UpSampling2D(interpolation="nearest")`).
"""

from __future__ import annotations

import numpy as np
from keras import ops


def normalize_pool_size(pool_size) -> tuple[int, int]:
    """`2` or `(2, 2)` -> `(2, 2)`; raises `ValueError` for anything but positive ints."""
    size = (pool_size, pool_size) if isinstance(pool_size, (int, np.integer)) else tuple(pool_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in size):
        raise ValueError(f"pool_size must be a positive int or a pair of positive ints, received {pool_size!r}")
    return int(size[0]), int(size[1])


def _check_divisible(height, width, pool_size, what):
    ph, pw = pool_size
    if height is None or width is None:
        raise ValueError(f"{what} needs a static height and width, received ({height}, {width})")
    if height % ph or width % pw:
        raise ValueError(
            f"{what}: input height and width ({height}, {width}) must be multiples of pool_size {pool_size}"
        )


def _base_index(out_h: int, out_w: int, channels: int, pool_size) -> np.ndarray:
    """Flat index `(y * W + x) * C + c` of the top-left element of every window, shape `(h, w, C)`."""
    ph, pw = pool_size
    width = out_w * pw
    i = np.arange(out_h)[:, None, None]
    j = np.arange(out_w)[None, :, None]
    c = np.arange(channels)[None, None, :]
    return ((i * ph * width + j * pw) * channels + c).astype(np.int32)


def max_pool_with_argmax(x, pool_size=2):
    """Non-overlapping max pooling returning the values and the flat positions of the maxima.

    Args:
        x: `(N, H, W, C)` float tensor; `H`, `W` static multiples of the pool size.
        pool_size: int or `(ph, pw)`; the strides equal the pool size.

    Returns:
        `(pooled, indices)`: `(N, H/ph, W/pw, C)` float maxima and int32 flat indices `(y * W + x) * C + c`
        (the module docstring gives the convention). Gradients flow to the maxima only, as in max pooling.
    """
    ph, pw = normalize_pool_size(pool_size)
    _, height, width, channels = x.shape
    _check_divisible(height, width, (ph, pw), "max_pool_with_argmax")
    out_h, out_w = height // ph, width // pw
    base = ops.convert_to_tensor(_base_index(out_h, out_w, channels, (ph, pw)))
    best, best_index = None, None
    for dy in range(ph):
        for dx in range(pw):
            candidate = x[:, dy::ph, dx::pw, :]
            offset = (dy * width + dx) * channels
            if best is None:
                best = candidate
                best_index = ops.broadcast_to(base, ops.shape(candidate)) + offset
            else:
                better = ops.greater(candidate, best)  # strict: the first maximum in row-major order wins
                best = ops.where(better, candidate, best)
                best_index = ops.where(better, base + offset, best_index)
    return best, ops.cast(best_index, "int32")


def _interleave(pieces, pool_size, out_h: int, out_w: int, channels: int):
    """`pieces[dy][dx]` of shape `(N, h, w, C)` -> `(N, h*ph, w*pw, C)` with piece (dy, dx) at offset (dy, dx)."""
    ph, pw = pool_size
    width = out_w * pw
    rows = []
    for dy in range(ph):
        # (N, h, w, pw*C) ordered (dx, c) == (N, h, w*pw*C) ordered (x, c): one output row per window row
        row = ops.concatenate(pieces[dy], axis=-1) if pw > 1 else pieces[dy][0]
        rows.append(ops.reshape(row, (-1, out_h, width * channels)))
    stacked = ops.concatenate(rows, axis=-1) if ph > 1 else rows[0]
    return ops.reshape(stacked, (-1, out_h * ph, width, channels))


def max_unpool(pooled, indices, pool_size=2):
    """Bed-of-nails unpooling: every value goes back to its remembered position, zeros elsewhere.

    Args:
        pooled: `(N, h, w, C)` values (e.g. decoder features at the pooled resolution).
        indices: `(N, h, w, C)` integer flat indices from `max_pool_with_argmax` with the same `pool_size`.
        pool_size: int or `(ph, pw)`.

    Returns:
        `(N, h*ph, w*pw, C)`; differentiable with respect to `pooled`.
    """
    ph, pw = normalize_pool_size(pool_size)
    _, out_h, out_w, channels = pooled.shape
    if out_h is None or out_w is None or channels is None:
        raise ValueError(f"max_unpool needs static pooled height, width and channels, received {pooled.shape}")
    width = out_w * pw
    base = ops.convert_to_tensor(_base_index(out_h, out_w, channels, (ph, pw)))
    local = ops.cast(indices, "int32") - base  # (dy * W + dx) * C for the winning (dy, dx)
    zeros = ops.zeros_like(pooled)
    pieces = [
        [ops.where(ops.equal(local, (dy * width + dx) * channels), pooled, zeros) for dx in range(pw)]
        for dy in range(ph)
    ]
    return _interleave(pieces, (ph, pw), out_h, out_w, channels)


def copy_unpool(x, pool_size=2):
    """Copy-everywhere unpooling: each value fills its whole window (== nearest-neighbour upsampling).

    Args:
        x: `(N, h, w, C)` with static `h`, `w`, `C`.
        pool_size: int or `(ph, pw)`.

    Returns:
        `(N, h*ph, w*pw, C)`.
    """
    ph, pw = normalize_pool_size(pool_size)
    _, out_h, out_w, channels = x.shape
    return _interleave([[x] * pw for _ in range(ph)], (ph, pw), out_h, out_w, channels)
