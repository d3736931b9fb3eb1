"""Parametrised affine transformations for spatial transformers: parameters → `theta` for `affine_grid`.

`theta` maps normalised output coordinates `(x, y[, z], 1)` to normalised input coordinates (as
`vras_keras.ops.affine_grid`). Parametrisations (`TRANSFORMS`), with their parameters in order:

| transform | 2-D parameters | 3-D parameters |
|---|---|---|
| `"affine"` | the 6 entries of theta, row-major | the 12 entries of theta |
| `"similarity"` | angle, scale, tx, ty: `theta = [s·R(angle) | t]` | angles about x, y, z; scale; tx, ty, tz |
| `"rotation_translation"` | θ1 angle, θ2 tx, θ3 ty: `[R(θ1) | (θ2, θ3)]` | angles about x, y, z; tx, ty, tz |
| `"translation_scale"` | scale, tx, ty: `[[s, 0, tx], [0, s, ty]]` (attention / crop) | scale; tx, ty, tz |

Angles are radians; `R(a) = [[cos a, -sin a], [sin a, cos a]]` turns the sampling grid from the x axis
towards the y axis (with y pointing down that is clockwise on screen, so the content turns the other
way). 3-D rotations are `Rz(az) @ Ry(ay) @ Rx(ax)`. Scales are plain factors (not logs): `s < 1` zooms in.
"""

from __future__ import annotations

import numpy as np
from keras import ops

TRANSFORMS = ("affine", "similarity", "rotation_translation", "translation_scale")

_NUM_PARAMETERS = {
    2: {"affine": 6, "similarity": 4, "rotation_translation": 3, "translation_scale": 3},
    3: {"affine": 12, "similarity": 7, "rotation_translation": 6, "translation_scale": 4},
}

__all__ = ["TRANSFORMS", "identity_parameters", "num_transform_parameters", "transform_to_theta"]


def _check(transform: str, rank: int) -> None:
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {', '.join(map(repr, TRANSFORMS))}; received {transform!r}")
    if rank not in (2, 3):
        raise ValueError(f"rank must be 2 (images) or 3 (volumes); received {rank!r}")


def num_transform_parameters(transform: str, rank: int = 2) -> int:
    """Number of parameters of `transform` in `rank` dimensions."""
    _check(transform, rank)
    return _NUM_PARAMETERS[rank][transform]


def identity_parameters(transform: str, rank: int = 2) -> np.ndarray:
    """The parameters (float32 vector) for which `transform_to_theta` gives the identity transform."""
    _check(transform, rank)
    if transform == "affine":
        return np.eye(rank, rank + 1, dtype="float32").reshape(-1)
    params = np.zeros(_NUM_PARAMETERS[rank][transform], "float32")
    if transform == "similarity":
        params[1 if rank == 2 else 3] = 1.0
    elif transform == "translation_scale":
        params[0] = 1.0
    return params


def _rotation(angles, rank):
    """Rows of the rotation matrix as lists of `(N,)` tensors."""
    if rank == 2:
        c, s = ops.cos(angles[0]), ops.sin(angles[0])
        return [[c, -s], [s, c]]
    cx, sx = ops.cos(angles[0]), ops.sin(angles[0])
    cy, sy = ops.cos(angles[1]), ops.sin(angles[1])
    cz, sz = ops.cos(angles[2]), ops.sin(angles[2])
    return [
        [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
        [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
        [-sy, cy * sx, cy * cx],
    ]


def transform_to_theta(params, transform: str, rank: int = 2):
    """Parameters `(N, P)` → theta `(N, rank, rank + 1)` (see the module table); differentiable.

    Raises:
        ValueError: unknown transform or rank, or `P` not the transform's number of parameters.
    """
    _check(transform, rank)
    expected = _NUM_PARAMETERS[rank][transform]
    shape = tuple(params.shape)
    if len(shape) != 2 or shape[-1] != expected:
        raise ValueError(
            f"params for transform {transform!r} in {rank}-D must have shape (N, {expected}); received shape {shape}"
        )
    if transform == "affine":
        return ops.reshape(params, (-1, rank, rank + 1))
    p = [params[:, i] for i in range(expected)]
    zero = ops.zeros_like(p[0])
    n_angles = 1 if rank == 2 else 3
    if transform == "translation_scale":
        scale, translation = p[0], p[1:]
        rows = [[scale if i == j else zero for j in range(rank)] for i in range(rank)]
    else:
        rows = _rotation(p[:n_angles], rank)
        if transform == "similarity":
            scale, translation = p[n_angles], p[n_angles + 1 :]
            rows = [[scale * v for v in row] for row in rows]
        else:
            translation = p[n_angles:]
    matrix = [ops.stack(row + [t], axis=-1) for row, t in zip(rows, translation)]
    return ops.stack(matrix, axis=1)
