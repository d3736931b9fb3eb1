"""vras_keras.demo.landscapes: find, read, plot and summarise landscape files."""

from pathlib import Path

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
    with pytest.raises(ValueError, match="unexpected member 'x.npy'"):
        landscapes.read_landscape(str(tmp_path / "other.npz"))
    np.savez(tmp_path / "half.npz", betas=np.zeros(3))
    with pytest.raises(ValueError, match="lacks 'alphas' or 'losses'"):
        landscapes.read_landscape(str(tmp_path / "half.npz"))
    with pytest.raises(FileNotFoundError, match="no landscape file at"):
        landscapes.read_landscape(str(tmp_path / "missing.npz"))
    assert landscapes.list_landscapes([landscape_dir, tmp_path / "none"]) == [landscape_dir / "landscape.npz"]
    stats = landscapes.landscape_stats(landscapes.read_landscape(str(landscape_dir / "landscape.npz")))
    assert stats["min loss"] == pytest.approx(0.1) and stats["at α"] == 0 and stats["grid"] == "9×9"


def test_landscape_dirs_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(landscapes.LANDSCAPES_ENV, f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert landscapes.landscape_dirs() == [tmp_path / "a", tmp_path / "b", landscapes.Path("runs"),
                                           landscapes.SHIPPED_LANDSCAPE]


def test_demo_figures_for_1d_and_2d_landscapes():
    axis = np.linspace(-1, 1, 5)
    curve = landscape.Landscape(axis, None, axis**2)
    (fig,) = landscapes.landscape_figures(curve)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), axis**2)
    surface = landscape.Landscape(axis, axis, np.add.outer(axis**2, axis**2))
    assert len(landscapes.landscape_figures(surface)) == 2


def _npz_bytes(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_a_zip_bomb_upload_is_refused_from_its_headers(monkeypatch):
    """A 1 MB upload that inflates to 1 GB (issue #19): refused from the zip headers, nothing decompressed."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("losses.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (2**27,)})
            chunk = bytes(2**20)
            for _ in range(2**10):
                member.write(chunk)
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * 2**20
    decompressed = []
    monkeypatch.setattr(np, "load", lambda *a, **k: decompressed.append(1))  # must never be reached
    with pytest.raises(ValueError, match=r"upload: the arrays would take 1024.0 MB or more once decompressed"):
        landscapes.read_landscape(bomb)
    assert not decompressed


def test_a_file_written_by_landscape_save_is_accepted(tmp_path):
    """`analysis.landscape.save` (what `vras landscape` and the demo write) passes the header check."""
    axis = np.linspace(-1, 1, 5)
    result = landscape.Landscape(axis, axis, np.add.outer(axis**2, axis**2), np.ones((5, 5)), meta={"model": "x"})
    path = landscape.save(result, tmp_path, title="t")["npz"]
    landscapes.check_landscape_npz(Path(path).read_bytes(), "saved.npz")
    read = landscapes.read_landscape(str(path))
    np.testing.assert_array_equal(read.losses, result.losses)
    np.testing.assert_array_equal(read.accuracies, result.accuracies)
    with pytest.raises(ValueError, match="meta.npy has dtype float64; expected text"):
        landscapes.check_landscape_npz(_npz_bytes(alphas=axis, losses=axis, meta=axis), "m.npz")


def test_npz_headers_must_match_a_small_numeric_landscape(monkeypatch):
    axis = np.linspace(-1, 1, 5)
    good = _npz_bytes(alphas=axis, losses=axis**2)
    assert landscapes.read_landscape(good, name="mine.npz").ndim == 1
    with pytest.raises(ValueError, match="mine.npz: losses.npy has dtype object; expected numbers"):
        landscapes.check_landscape_npz(_npz_bytes(alphas=axis, losses=np.array([{"a": 1}], object)), "mine.npz")
    # the member claims a bigger array than it holds (numpy would allocate the declared shape first)
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("losses.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (10**9,)})
            member.write(bytes(80))
    with pytest.raises(ValueError, match=r"declares shape \(1000000000,\) of float64, which does not match"):
        landscapes.check_landscape_npz(buffer.getvalue(), "lying.npz")
    monkeypatch.setattr(landscapes, "LANDSCAPE_MAX_BYTES", 64)
    with pytest.raises(ValueError, match="at most 0 MB"):
        landscapes.read_landscape(good)


def test_the_shipped_landscape_is_a_real_small_result_the_page_shows_at_once(monkeypatch, tmp_path):
    """The landscape page works before any model is trained: the file computed with `vras landscape` on a tiny
    classifier (vras_keras/demo/shipped/README.md) is found, read and drawn."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    shipped = landscapes.SHIPPED_LANDSCAPE
    assert shipped.stat().st_size < 20_000
    result = landscapes.read_landscape(str(shipped))
    assert result.losses.shape == (11, 11) and np.allclose(result.alphas, np.linspace(-0.5, 0.5, 11))
    assert result.losses[5, 5] == pytest.approx(1.80, abs=0.01)  # the trained weights (README: 1.80)
    assert result.losses.min() == pytest.approx(1.78, abs=0.01) and result.losses.max() > 10
    assert (shipped.parent / "landscape_recipe.yaml").is_file() and "1.80" in (shipped.parent / "README.md").read_text()
    monkeypatch.delenv(landscapes.LANDSCAPES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # no runs/ here: only the shipped file
    assert landscapes.list_landscapes() == [shipped]
    page = Path(__file__).resolve().parents[2] / "apps" / "views" / "8_Loss_landscape.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert len(list(at.get("image"))) == 2 and any("shipped with the demo" in i.value for i in at.info)


def test_the_page_shows_the_demo_classifiers_landscape_in_progress(monkeypatch, tmp_path):
    import json
    import os
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "status.json").write_text(json.dumps({"pid": os.getpid(), "order": ["classification"],
        "families": {"classification": {"state": "ready", "landscape": {"done": 3, "total": 81, "eta_s": 400}}}}))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv(landscapes.LANDSCAPES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    page = Path(__file__).resolve().parents[2] / "apps" / "views" / "8_Loss_landscape.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any("computing its loss landscape: point 3 of 81, about 6 min 40 s left" in i.value for i in at.info)
