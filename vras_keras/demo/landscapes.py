"""Loss-landscape files for the landscape page: find them (`vras landscape`, `vras demo`), read a path or
an upload, plot and summarise them.

Environment:
    VRAS_LANDSCAPES: extra folders (`os.pathsep`-separated) searched for `landscape*.npz` files, besides
        `runs/`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from vras_keras.analysis import landscape
from vras_keras.analysis.landscape import Landscape
from vras_keras.visualization.figures import plt  # noqa: F401 - selects the Agg backend before plotting

LANDSCAPES_ENV = "VRAS_LANDSCAPES"


def landscape_dirs() -> list[Path]:
    """`$VRAS_LANDSCAPES` folders, then `runs/`."""
    extra = [Path(p) for p in os.environ.get(LANDSCAPES_ENV, "").split(os.pathsep) if p]
    return extra + [Path("runs")]


def list_landscapes(dirs: Sequence | None = None) -> list[Path]:
    """Every `landscape*.npz` file (as written by `vras landscape`) under the given folders (default:
    `landscape_dirs()`), sorted, without duplicates."""
    found = []
    for d in dirs if dirs is not None else landscape_dirs():
        d = Path(d)
        if d.is_file() and d.suffix == ".npz":
            found.append(d)
        elif d.is_dir():
            found.extend(sorted(d.rglob("landscape*.npz")))
    return list(dict.fromkeys(found))


def read_landscape(source) -> Landscape:
    """A `Landscape` from a path or the bytes of an uploaded `.npz`.

    Raises:
        ValueError: not an `.npz` of the landscape layout (the message says what is missing).
    """
    if isinstance(source, (bytes, bytearray)):
        with tempfile.NamedTemporaryFile(suffix=".npz") as f:
            f.write(bytes(source))
            f.flush()
            return read_landscape(f.name)
    try:
        return landscape.load(source)
    except (OSError, EOFError, KeyError) as error:  # np.load on a non-npz / damaged zip
        raise ValueError(f"{Path(str(source)).name} is not a readable landscape .npz file ({error})") from None
    except ValueError as error:
        if "landscape" in str(error):
            raise
        raise ValueError(f"{Path(str(source)).name} is not a readable landscape .npz file ({error})") from None


def landscape_figures(result: Landscape, title: str = "loss landscape") -> list:
    """`[figure, ...]`: contour and surface for a 2-D landscape, the curve for a 1-D one."""
    if result.ndim == 1:
        return [landscape.plot_curve(result, title=title)]
    return [landscape.plot_contour(result, title=title), landscape.plot_surface(result, title=title)]


def landscape_stats(result: Landscape) -> dict:
    """Grid size, minimum loss and where it is, loss at the centre."""
    losses = np.asarray(result.losses, np.float64)
    idx = np.unravel_index(np.nanargmin(losses), losses.shape)
    stats = {"grid": "×".join(str(s) for s in losses.shape), "min loss": float(losses[idx]),
             "at α": float(result.alphas[idx[0]])}
    if result.ndim == 2:
        stats["at β"] = float(result.betas[idx[1]])
    axes = [result.alphas] if result.ndim == 1 else [result.alphas, result.betas]
    centre = tuple(int(np.argmin(np.abs(ax))) for ax in axes)
    stats["loss at the trained weights"] = float(losses[centre])
    return stats
