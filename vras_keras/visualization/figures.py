"""Matplotlib figures as PNG bytes (for pages and reports that show a plot as an image)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: figures are only ever rendered to files or bytes
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def figure_png(fig, *, dpi: int = 100) -> bytes:
    """PNG bytes of a Matplotlib figure (closed afterwards)."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()
