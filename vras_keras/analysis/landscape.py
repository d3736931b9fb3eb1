"""Loss landscapes with filter-normalised random directions (Li et al., NeurIPS 2018, arXiv:1712.09913).

f(α) = L(w* + αu) (1-D) and f(α, β) = L(w* + αu + βv) (2-D) around trained weights w*, where u and v
are random Gaussian directions rescaled filter by filter: for every weight tensor with two or more axes
(conv and dense kernels) and every filter j along the LAST axis (Keras' output-channel axis),
u[..., j] ← u[..., j] · ‖w[..., j]‖ / ‖u[..., j]‖.

Conventions (as the paper's reference code):
- Bias and BatchNorm parameters (1-D weights) are left out by default (their direction is zero);
  with `include_bias_and_bn=True` their direction equals the weights themselves (u = w), the paper's
  choice for parameters that have no filter structure.
- BatchNorm moving statistics are not trainable: they stay at their trained values during the scan, and
  the loss is evaluated in inference mode (`training=False`), so each grid point sees the same
  normalisation the trained network uses.
- The model's variables are restored bit for bit afterwards (also on error or Ctrl-C).

Example:
    >>> result = surface_2d(model, (x, y), loss=None, grid=21)
    >>> save(result, "runs/landscape")          # landscape.npz, contour.png, surface.png
    >>> curvature_stats(result)                # convexity numbers of the surface
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np
from tqdm import tqdm


@dataclasses.dataclass
class Landscape:
    """A scanned landscape: `losses[i, j] = f(alphas[i], betas[j])` (2-D) or `losses[i] = f(alphas[i])`."""

    alphas: np.ndarray
    betas: np.ndarray | None
    losses: np.ndarray
    accuracies: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return 1 if self.betas is None else 2


def _is_filtered(variable) -> bool:
    return len(variable.shape) >= 2


def random_direction(
    model: keras.Model, *, seed: int = 0, include_bias_and_bn: bool = False, normalization: str | None = "filter"
) -> list[np.ndarray]:
    """A random direction in the space of `model.trainable_variables` (one array per variable).

    Args:
        model: a built Keras model (its current weights are w*).
        seed: NumPy seed of the Gaussian draw.
        include_bias_and_bn: give 1-D weights (biases, BN gamma/beta) the direction u = w instead of 0.
        normalization: `"filter"` (filter-wise, the paper's choice) or None (raw Gaussian).
    """
    if normalization not in ("filter", None):
        raise ValueError(f"normalization must be 'filter' or None, received {normalization!r}")
    rng = np.random.default_rng(seed)
    direction = []
    for variable in model.trainable_variables:
        w = np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)
        if not _is_filtered(variable):
            direction.append(w.copy() if include_bias_and_bn else np.zeros_like(w))
            continue
        d = rng.standard_normal(w.shape)
        if normalization == "filter":
            axes = tuple(range(w.ndim - 1))
            w_norm = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
            d_norm = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
            d = d * w_norm / np.maximum(d_norm, 1e-12)
        direction.append(d)
    return direction


def _batches(data, batch_size):
    x, y = data
    n = len(keras.tree.flatten(x)[0])
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        yield keras.tree.map_structure(lambda a: a[sl], x), keras.tree.map_structure(lambda a: a[sl], y)


def _make_evaluator(model, loss, batch_size):
    if loss is None:  # vras_keras classifiers output logits
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss

    def evaluate(data):
        total, correct, count, classified = 0.0, 0, 0, True
        for x, y in _batches(data, batch_size):
            pred = model(x, training=False)
            n = len(keras.tree.flatten(x)[0])
            total += float(keras.ops.convert_to_numpy(keras.ops.mean(loss_fn(y, pred)))) * n
            p = keras.ops.convert_to_numpy(pred)
            y_np = np.asarray(y)
            if p.ndim == 2 and y_np.ndim == 1 and np.issubdtype(y_np.dtype, np.integer):
                correct += int(np.sum(np.argmax(p, axis=-1) == y_np))
            else:
                classified = False
            count += n
        return total / count, (correct / count if classified else float("nan"))

    return evaluate


def _scan(model, data, loss, directions, coords, *, batch_size, progress):
    """Evaluate L(w* + Σ c_k d_k) for each tuple of coefficients in `coords`; restore w* exactly."""
    variables = list(model.trainable_variables)
    originals = [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in model.variables]
    base = [np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64) for v in variables]
    evaluate = _make_evaluator(model, loss, batch_size)
    losses, accs = np.empty(len(coords)), np.empty(len(coords))
    iterator = coords
    report = progress if callable(progress) else None  # progress(points done, points in all), e.g. an ETA
    if progress is True:

        iterator = tqdm(coords, desc="loss landscape", unit="pt")
    try:
        for index, coefficients in enumerate(iterator):
            for k, variable in enumerate(variables):
                w = base[k] + sum(c * d[k] for c, d in zip(coefficients, directions))
                variable.assign(w.astype(variable.dtype))
            losses[index], accs[index] = evaluate(data)
            if report is not None:
                report(index + 1, len(coords))
    finally:
        for variable, value in zip(model.variables, originals):
            variable.assign(value)
    return losses, accs


def _check_data(data):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"data must be a pair (x, y) of arrays, received {type(data).__name__}")


def curve_1d(
    model: keras.Model,
    data,
    loss=None,
    *,
    direction: Sequence[np.ndarray] | None = None,
    points: int = 51,
    range_: float = 1.0,
    seed: int = 0,
    include_bias_and_bn: bool = False,
    batch_size: int = 128,
    progress: bool | Callable[[int, int], None] = True,
) -> Landscape:
    """f(α) = L(w* + αu) for α in linspace(-range_, range_, points)."""
    _check_data(data)
    u = (
        direction
        if direction is not None
        else random_direction(model, seed=seed, include_bias_and_bn=include_bias_and_bn)
    )
    alphas = np.linspace(-range_, range_, points)
    losses, accs = _scan(model, data, loss, [u], [(a,) for a in alphas], batch_size=batch_size, progress=progress)
    return Landscape(alphas, None, losses, accs, {"seed": seed, "include_bias_and_bn": include_bias_and_bn})


def surface_2d(
    model: keras.Model,
    data,
    loss=None,
    *,
    directions: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
    grid: int = 31,
    range_: float = 1.0,
    seed: int = 0,
    include_bias_and_bn: bool = False,
    batch_size: int = 128,
    progress: bool | Callable[[int, int], None] = True,
) -> Landscape:
    """f(α, β) = L(w* + αu + βv) over a `grid`×`grid` square of half-width `range_`.

    Args:
        model: trained Keras model (weights w*); restored exactly afterwards.
        data: `(x, y)` arrays, a fixed subset of the data.
        loss: a Keras loss (name or callable `loss(y_true, y_pred)`); None: sparse categorical
            cross-entropy from logits (what vras_keras classifiers output).
        directions: `(u, v)`, each a list aligned with `model.trainable_variables`; default: two
            filter-normalised random directions drawn with `seed` and `seed + 1`.
        grid: points per axis (odd puts w* on a grid point).
        range_: α and β run over [-range_, range_].
        progress: True: a tqdm bar; a callable: called with (points done, points in all) after each point.
    """
    _check_data(data)
    if grid < 2:
        raise ValueError(f"grid must be >= 2 points per axis, received {grid}")
    if directions is None:
        directions = (
            random_direction(model, seed=seed, include_bias_and_bn=include_bias_and_bn),
            random_direction(model, seed=seed + 1, include_bias_and_bn=include_bias_and_bn),
        )
    axis = np.linspace(-range_, range_, grid)
    coords = [(a, b) for a in axis for b in axis]
    losses, accs = _scan(model, data, loss, list(directions), coords, batch_size=batch_size, progress=progress)
    meta = {"seed": seed, "include_bias_and_bn": include_bias_and_bn, "range": range_}
    return Landscape(axis, axis.copy(), losses.reshape(grid, grid), accs.reshape(grid, grid), meta)


def curvature_stats(result: Landscape, threshold: float = 0.1) -> dict:
    """Convexity numbers of a 2-D surface from its finite-difference Hessian in (α, β).

    At every interior grid point the 2×2 Hessian is estimated with central differences and its
    eigenvalues λmin ≤ λmax taken (Li et al. §6 plot |λmin/λmax|). Returns:
    `negative_share`: share of points with λmin < 0 and |λmin/λmax| > `threshold` (markedly non-convex);
    `mean_abs_ratio`: mean of |λmin/λmax| over points with λmin < 0 (0 where the surface is convex);
    `center_ratio`: |λmin/λmax| at the centre (w*).
    """
    if result.ndim != 2:
        raise ValueError("curvature_stats needs a 2-D landscape (surface_2d)")
    f = result.losses
    ha = result.alphas[1] - result.alphas[0]
    hb = result.betas[1] - result.betas[0]
    faa = (f[2:, 1:-1] - 2 * f[1:-1, 1:-1] + f[:-2, 1:-1]) / ha**2
    fbb = (f[1:-1, 2:] - 2 * f[1:-1, 1:-1] + f[1:-1, :-2]) / hb**2
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * ha * hb)
    mean, diff = (faa + fbb) / 2, np.sqrt(((faa - fbb) / 2) ** 2 + fab**2)
    lmin, lmax = mean - diff, mean + diff
    scale = np.maximum(np.abs(lmax), np.abs(lmin))
    ratio = np.where(lmin < 0, np.abs(lmin) / np.maximum(scale, 1e-12), 0.0)
    c = tuple(s // 2 for s in ratio.shape)
    return {
        "negative_share": float(np.mean(ratio > threshold)),
        "mean_abs_ratio": float(np.mean(ratio)),
        "center_ratio": float(ratio[c]),
    }


def save(result: Landscape, out_dir: str | os.PathLike, *, title: str | None = None) -> dict[str, Path]:
    """Write `landscape.npz` (+ `contour.png` and `surface.png` for 2-D, `curve.png` for 1-D)."""
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"alphas": result.alphas, "losses": result.losses}
    if result.betas is not None:
        arrays["betas"] = result.betas
    if result.accuracies is not None:
        arrays["accuracies"] = result.accuracies
    paths = {"npz": out / "landscape.npz"}
    np.savez(paths["npz"], **arrays, meta=np.array(repr(result.meta)))
    title = title or "loss landscape"
    if result.ndim == 1:
        paths["curve"] = out / "curve.png"
        plot_curve(result, paths["curve"], title=title)
        return paths
    plot_contour(result, out / "contour.png", title=title)
    plot_surface(result, out / "surface.png", title=title)
    paths["contour"], paths["surface"] = out / "contour.png", out / "surface.png"
    return paths


def load(path: str | os.PathLike) -> Landscape:
    """Read a `landscape.npz` written by `save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no landscape file at {path}")
    with np.load(path) as data:
        if "alphas" not in data or "losses" not in data:
            raise ValueError(f"{path} is not a landscape file: it lacks 'alphas' or 'losses'")
        return Landscape(
            data["alphas"],
            data["betas"] if "betas" in data else None,
            data["losses"],
            data["accuracies"] if "accuracies" in data else None,
        )


def plot_curve(result: Landscape, path=None, *, title="loss landscape"):
    """Loss along the direction of a 1-D landscape (to `path` if given); returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(result.alphas, result.losses)
    ax.set_xlabel("α")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return fig


def plot_contour(result: Landscape, path=None, *, title="loss landscape", levels=30, ax=None):
    """Contour plot of a 2-D landscape (to `path` if given); returns the figure."""
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    a, b = np.meshgrid(result.alphas, result.betas, indexing="ij")
    cs = ax.contour(a, b, result.losses, levels=levels, cmap="viridis")
    ax.clabel(cs, inline=True, fontsize=6, fmt="%.2g")
    ax.plot([0], [0], "r+", markersize=10)
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.set_title(title)
    fig = fig or ax.figure
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return fig


def plot_surface(result: Landscape, path=None, *, title="loss landscape"):
    """3-D surface plot of a 2-D landscape (to `path` if given); returns the figure."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(projection="3d")
    a, b = np.meshgrid(result.alphas, result.betas, indexing="ij")
    ax.plot_surface(a, b, result.losses, cmap="viridis", linewidth=0, antialiased=True)
    ax.set_xlabel("α")
    ax.set_ylabel("β")
    ax.set_zlabel("loss")
    ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
    return fig
