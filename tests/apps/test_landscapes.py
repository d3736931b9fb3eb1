"""vras_keras.demo.landscapes: find, read, plot and summarise landscape files."""

import numpy as np
import pytest

from vras_keras.analysis import landscape
from vras_keras.demo import landscapes


def test_read_landscape_errors(tmp_path, landscape_dir):
    assert landscapes.read_landscape(str(landscape_dir / "landscape.npz")).losses.shape == (9, 9)
    data = (landscape_dir / "landscape.npz").read_bytes()
    assert landscapes.read_landscape(data).ndim == 2
    with pytest.raises(ValueError, match="not a readable landscape"):
        landscapes.read_landscape(b"plain text, not a zip")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="lacks 'alphas' or 'losses'"):
        landscapes.read_landscape(str(tmp_path / "other.npz"))
    assert landscapes.list_landscapes([landscape_dir, tmp_path / "none"]) == [landscape_dir / "landscape.npz"]
    stats = landscapes.landscape_stats(landscapes.read_landscape(str(landscape_dir / "landscape.npz")))
    assert stats["min loss"] == pytest.approx(0.1) and stats["at α"] == 0 and stats["grid"] == "9×9"


def test_landscape_dirs_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(landscapes.LANDSCAPES_ENV, f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert landscapes.landscape_dirs() == [tmp_path / "a", tmp_path / "b", landscapes.Path("runs")]


def test_demo_figures_for_1d_and_2d_landscapes():
    axis = np.linspace(-1, 1, 5)
    curve = landscape.Landscape(axis, None, axis**2)
    (fig,) = landscapes.landscape_figures(curve)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), axis**2)
    surface = landscape.Landscape(axis, axis, np.add.outer(axis**2, axis**2))
    assert len(landscapes.landscape_figures(surface)) == 2
