"""The model-free parts of the demo pages: the ConvCRF on any image from a colour-cluster unary."""

from pathlib import Path

import numpy as np
import pytest

from vras_keras.demo import playground
from vras_keras.export import present

ROOT = Path(__file__).resolve().parents[2]
RED, BLUE = (200, 30, 30), (30, 30, 200)


def two_colour_image(size=32):
    image = np.zeros((size, size, 3), np.uint8)
    image[:, : size // 2] = RED
    image[:, size // 2:] = BLUE
    return image


def test_colour_clusters_find_the_colours_and_the_unary_follows_them():
    image = two_colour_image()
    centres = playground.colour_clusters(image, 2)
    assert sorted(map(tuple, np.round(centres).astype(int))) == sorted([BLUE, RED])
    p = playground.colour_unary(image, centres, sigma=40.0)
    assert p.shape == (32, 32, 2) and np.allclose(p.sum(-1), 1.0, atol=1e-5)
    red = int(np.argmin(np.abs(centres - RED).sum(-1)))
    # |red - blue|^2 = 2 * 170^2 = 57800; exp(-57800 / 3200) ~ 1.4e-8: certain
    assert np.all(p[:, :16, red] > 0.999) and np.all(p[:, 16:, red] < 0.001)
    with pytest.raises(ValueError, match="2..16"):
        playground.colour_clusters(image, 1)
    with pytest.raises(ValueError, match="sigma"):
        playground.colour_unary(image, centres, sigma=0)


def test_the_crf_repairs_a_noisy_unary_along_the_image():
    image = two_colour_image()
    truth = (np.arange(32)[None, :] >= 16).repeat(32, 0).astype(int)  # class 1 = right half
    p = np.stack([1.0 - truth, truth], -1).astype(np.float32) * 0.6 + 0.2  # 0.8 / 0.2, the right class
    flipped = np.random.default_rng(0).random((32, 32)) < 0.1  # 10 % of the pixels wrong (0.2 / 0.8)
    p[flipped] = p[flipped][:, ::-1]
    before = np.argmax(p, -1)
    after = np.argmax(present.crf_refine(image, p, iterations=5), -1)
    assert np.mean(before != truth) > 0.08
    assert np.mean(after != truth) < 0.01


def test_fit_side_shrinks_only_large_images():
    small = np.zeros((40, 30, 3), np.uint8)
    assert playground.fit_side(small, 160) is small
    big = np.full((400, 200, 3), 77, np.uint8)
    out = playground.fit_side(big, 160)
    assert out.shape == (160, 80, 3) and out.dtype == np.uint8 and np.all(out == 77)


def test_the_segmentation_page_runs_the_crf_without_any_model(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "none"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "apps" / "views" / "2_Segmentation.py"), default_timeout=120).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any("no segmentation model" in i.value for i in at.info)
    assert len(list(at.get("image"))) == 2  # the unary and the CRF's labelling
    assert any("The CRF changed" in m.value for m in at.markdown)
    at.selectbox(key="crf_image_sample").set_value("photo: coffee").run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any("(160×107)" in m.value for m in at.markdown)  # the 600×400 photo, shrunk to CRF_SIDE
