"""The one image decoder: every input becomes RGB (or gray) uint8, or an ImageDecodeError naming the file."""

import io

import numpy as np
import pytest
from PIL import Image

from vras_keras.data.images import ImageDecodeError, decode_image, read_image, to_rgb


def encode(array, fmt="PNG", mode=None, **kwargs) -> bytes:
    image = Image.fromarray(array, mode=mode) if mode else Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_rgb_png_and_jpeg_round_trip():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encode(rgb)), rgb)
    jpeg = decode_image(encode(rgb, "JPEG", quality=95))
    assert jpeg.shape == (20, 30, 3) and jpeg.dtype == np.uint8


def test_grayscale_becomes_three_equal_channels():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = decode_image(encode(gray))
    assert out.shape == (8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_rgba_is_composited_over_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish
    rgba[:, :2, 3] = 255  # left half opaque, right half fully transparent
    rgba[0, 3, 3] = 128  # half transparent
    out = decode_image(encode(rgba))
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out[1, 3], [255, 255, 255])
    np.testing.assert_allclose(out[0, 3], [200 * 128 / 255 + 255 * 127 / 255, 255 * 127 / 255, 255 * 127 / 255], atol=1)


def test_16_bit_png_is_rescaled_to_8_bit():
    values = np.array([[0, 1000], [32768, 65535]], np.uint16)
    data = encode(values)  # uint16 -> PNG mode I;16
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode_image(data)
    np.testing.assert_array_equal(out[..., 0], np.round(values / 65535 * 255).astype(np.uint8))
    twelve_bit = np.array([[0, 4095]], np.uint16)  # a 12-bit sensor: 4095 is white
    np.testing.assert_array_equal(decode_image(encode(twelve_bit))[0, :, 0], [0, 255])


def test_palette_gif_and_first_frame():
    frames = [Image.fromarray(np.full((6, 6, 3), v, np.uint8)).convert("P") for v in (0, 255)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buffer.getvalue())
    assert out.shape == (6, 6, 3) and (out == 0).all()  # the first frame


def test_exif_orientation_is_applied():
    rgb = np.zeros((10, 20, 3), np.uint8)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).shape == (20, 10, 3)


def test_not_an_image_and_empty():
    with pytest.raises(ImageDecodeError, match="notes.txt is not an image file"):
        decode_image(b"hello, this is a text file\n" * 10, name="notes.txt")
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")
    with pytest.raises(TypeError, match="bytes"):
        decode_image("a string")


def test_truncated_jpeg_gives_a_message():
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(rgb, "JPEG")
    with pytest.raises(ImageDecodeError, match="truncated|damaged") as info:
        decode_image(data[: len(data) // 2], name="photo.jpg")
    assert "photo.jpg" in str(info.value)


def test_huge_image_refused_before_decoding_and_large_one_downscaled():
    big = encode(np.zeros((300, 400), np.uint8))
    with pytest.raises(ImageDecodeError, match="0 Mpx|Mpx"):
        decode_image(big, max_pixels=100_000)
    out = decode_image(big, max_side=100)
    assert out.shape == (75, 100, 3)
    jpeg = encode(np.full((300, 400, 3), 90, np.uint8), "JPEG")
    assert decode_image(jpeg, max_side=100).shape == (75, 100, 3)


def test_to_rgb_layouts():
    np.testing.assert_array_equal(to_rgb(np.full((2, 2), 7, np.uint8)), np.full((2, 2, 3), 7, np.uint8))
    np.testing.assert_array_equal(to_rgb(np.full((2, 2, 1), 0.5, np.float32)), np.full((2, 2, 3), 128, np.uint8))
    floats = np.zeros((1, 2, 3), np.float32)
    floats[0, 1] = [0.2, 0.4, 1.0]  # one colour image in 0..1: channels scaled together
    np.testing.assert_array_equal(to_rgb(floats)[0, 1], [51, 102, 255])
    with pytest.raises(ValueError, match=r"\(H, W"):
        to_rgb(np.zeros((2, 2, 5)))


def test_to_rgb_other_types_and_refusals():
    assert to_rgb(np.ones((2, 2), bool)).max() == 255
    np.testing.assert_array_equal(to_rgb(np.full((2, 2, 3), 0.5))[0, 0], [128, 128, 128])
    np.testing.assert_array_equal(to_rgb(np.full((1, 1, 3), 200.0))[0, 0], [200, 200, 200])  # float 0..255 kept
    np.testing.assert_array_equal(to_rgb(np.array([[0, 4095]], np.uint16))[0, :, 0], [0, 255])  # 12-bit, as files
    opaque_black = np.zeros((3, 4, 4), np.uint8)
    opaque_black[..., 3] = 255
    assert to_rgb(opaque_black).max() == 0  # opaque: the colour itself
    assert to_rgb(np.zeros((3, 4, 4), np.uint8)).min() == 255  # transparent: white, as decoded files
    with pytest.raises(ValueError, match="non-finite"):
        to_rgb(np.array([[np.nan, 1.0]]))
    with pytest.raises(TypeError, match="numeric"):
        to_rgb("image.png")


def test_channels_one_keeps_gray_and_converts_colour():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = decode_image(encode(gray), channels=1)
    assert out.shape == (8, 8, 1)
    np.testing.assert_array_equal(out[..., 0], gray)
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0], rgb[0, 1], rgb[0, 2] = [255, 0, 0], [0, 255, 0], [0, 0, 255]
    # ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B
    np.testing.assert_array_equal(decode_image(encode(rgb), channels=1)[0, :, 0], [76, 150, 29])
    np.testing.assert_array_equal(to_rgb(rgb, channels=1)[0, :, 0], [76, 150, 29])
    with pytest.raises(ValueError, match="channels"):
        decode_image(encode(rgb), channels=2)


def test_read_image_names_the_file(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(encode(np.full((4, 5, 3), 9, np.uint8)))
    assert read_image(path).shape == (4, 5, 3)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.png is empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(ImageDecodeError, match="is not a file"):
        read_image(tmp_path)


def test_image_info_reads_each_unchanged_file_once(tmp_path, monkeypatch):
    # A training run lists its folder twice (training split, then the held-out validation split): the
    # second listing reuses the headers read by the first, and a file rewritten in between is read again.
    from vras_keras.data import images

    path = tmp_path / "a.png"
    path.write_bytes(encode(np.zeros((6, 9), np.uint8)))
    opened = []
    real_open = images.open_unchecked
    monkeypatch.setattr(images, "open_unchecked", lambda p: opened.append(p) or real_open(p))
    assert images.image_info(path) == (6, 9, 1)
    assert images.image_info(str(path)) == (6, 9, 1)
    assert len(opened) == 1
    path.write_bytes(encode(np.zeros((5, 7, 3), np.uint8)))
    assert images.image_info(path) == (5, 7, 3)
    assert len(opened) == 2
    path.unlink()
    with pytest.raises(FileNotFoundError, match="a.png does not exist"):
        images.image_info(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(encode(np.zeros((6, 9), np.uint8))[:-20])  # truncated: refused each time, never cached
    for _ in range(2):
        with pytest.raises(ImageDecodeError, match="truncated"):
            images.image_info(bad)
