"""Loss-landscape files for the landscape page: find them (`vras landscape`, `vras demo`, the one shipped
with the demo), read a path or an upload, plot and summarise them.

Environment:
    VRAS_LANDSCAPES: extra folders (`os.pathsep`-separated) searched for `landscape*.npz` files, besides
        `runs/`.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from vras_keras.analysis import landscape
from vras_keras.analysis.landscape import Landscape
from vras_keras.visualization.figures import plt  # noqa: F401 - selects the Agg backend before plotting

LANDSCAPES_ENV = "VRAS_LANDSCAPES"
# What a landscape file may hold (as `analysis.landscape.save` writes it): these arrays, numbers only, and
# at most this many bytes once decompressed (a 201×201 float64 grid is 0.3 MB). Checked from the zip
# headers and each array's .npy header before anything is decompressed (an .npz is a zip: a small upload
# can otherwise inflate to gigabytes).
LANDSCAPE_ARRAYS = ("alphas", "betas", "losses", "accuracies", "meta")  # meta: a text scalar (`save` writes it)
LANDSCAPE_MAX_BYTES = 16 * 2**20


# A small landscape computed with `vras train` + `vras landscape` on a tiny classifier (how: shipped/README.md),
# so that the page has something to show before the demo classifier's own landscape exists.
SHIPPED_LANDSCAPE = Path(__file__).resolve().parent / "shipped" / "landscape.npz"
SHIPPED_ABOUT = ("shipped with the demo: a tiny, barely trained ResNet (depth 8, val accuracy 0.21) on synthetic "
                 "ShapesWorld images, 11×11 points at ±0.5 (vras_keras/demo/shipped/README.md)")


def landscape_dirs() -> list[Path]:
    """`$VRAS_LANDSCAPES` folders, then `runs/`, then the shipped landscape (`SHIPPED_LANDSCAPE`)."""
    extra = [Path(p) for p in os.environ.get(LANDSCAPES_ENV, "").split(os.pathsep) if p]
    return extra + [Path("runs"), SHIPPED_LANDSCAPE]


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


def check_landscape_npz(source, name: str = "upload", max_bytes: int | None = None) -> None:
    """Refuse an `.npz` (path or bytes) that is not a small landscape file, reading headers only.

    Every zip member must be one of `LANDSCAPE_ARRAYS` (`.npy`), stored or deflated, with a numeric, non-object dtype
    whose declared shape matches the member's declared size; the declared sizes must add up to at most `max_bytes`
    (default `LANDSCAPE_MAX_BYTES`). Nothing is decompressed beyond the `.npy` headers, and `zipfile` reads no more than
    a member's declared size, so a lying header cannot inflate either.

    Raises:
        ValueError: one line naming the file and what is wrong.
    """
    max_bytes = LANDSCAPE_MAX_BYTES if max_bytes is None else max_bytes
    opened = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray)) else source
    try:
        with zipfile.ZipFile(opened) as archive:
            members = archive.infolist()
            if not members:
                raise ValueError(
                    f"{name}: the .npz archive is empty (expected the arrays {', '.join(LANDSCAPE_ARRAYS)})"
                )
            total = 0
            for info in members:
                stem = info.filename[:-4] if info.filename.endswith(".npy") else None
                if stem not in LANDSCAPE_ARRAYS:
                    raise ValueError(f"{name}: unexpected member {info.filename!r}; a landscape .npz holds only "
                                     f"{', '.join(a + '.npy' for a in LANDSCAPE_ARRAYS)}")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ValueError(f"{name}: member {info.filename} uses an unsupported compression "
                                     f"({info.compress_type}); expected stored or deflated")
                total += info.file_size
                if total > max_bytes:
                    raise ValueError(f"{name}: the arrays would take {total / 2**20:.1f} MB or more once "
                                     f"decompressed; a landscape file holds at most {max_bytes / 2**20:.0f} MB")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    header_bytes = member.tell()
                allowed = "U" if stem == "meta" else "biuf"  # numbers; the meta member is text
                if dtype.hasobject or dtype.kind not in allowed:
                    raise ValueError(f"{name}: {info.filename} has dtype {dtype}; expected "
                                     + ("text" if stem == "meta" else "numbers (float or int)"))
                if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != info.file_size - header_bytes:
                    raise ValueError(f"{name}: {info.filename} declares shape {shape} of {dtype}, which does not "
                                     f"match its size in the archive ({info.file_size - header_bytes} bytes)")
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{name} is not a readable landscape .npz file ({error})") from None
    except ValueError as error:
        if str(error).startswith(name):
            raise
        raise ValueError(f"{name}: not a landscape .npz file ({error})") from None


def read_landscape(source, name: str | None = None) -> Landscape:
    """A `Landscape` from a path or the bytes of an uploaded `.npz` (checked by `check_landscape_npz`
    first; loaded with `allow_pickle=False`).

    Raises:
        ValueError: not a small `.npz` of the landscape layout (the message says what is wrong).
        FileNotFoundError: no file at that path.
    """
    is_bytes = isinstance(source, (bytes, bytearray))
    name = name or ("upload" if is_bytes else Path(str(source)).name)
    if not is_bytes and not Path(str(source)).is_file():
        raise FileNotFoundError(f"no landscape file at {source}")
    check_landscape_npz(source, name)
    try:
        with np.load(io.BytesIO(bytes(source)) if is_bytes else source, allow_pickle=False) as data:
            if "alphas" not in data or "losses" not in data:
                raise ValueError(f"{name} is not a landscape file: it lacks 'alphas' or 'losses'")
            return Landscape(data["alphas"], data["betas"] if "betas" in data else None, data["losses"],
                             data["accuracies"] if "accuracies" in data else None)
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:  # a damaged zip
        raise ValueError(f"{name} is not a readable landscape .npz file ({error})") from None
    except ValueError as error:
        if str(error).startswith(name):
            raise
        raise ValueError(f"{name} is not a readable landscape .npz file ({error})") from None


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
