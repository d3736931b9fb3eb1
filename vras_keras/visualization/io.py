"""Decode untrusted image bytes (uploads) into a uint8 RGB array, or fail with a message a person can read.

`decode_image(data)` is what the Streamlit demo calls on every upload. It converts what can be converted
and rejects the rest with an `ImageDecodeError` (a `ValueError`) whose text is meant for the page:

| input                                   | result                                                          |
|-----------------------------------------|-----------------------------------------------------------------|
| JPEG / PNG / BMP / GIF / TIFF / WebP    | `(H, W, 3)` uint8 RGB (GIF/TIFF: first frame), EXIF orientation applied |
| grayscale (L), palette (P), CMYK, YCbCr | converted to RGB                                                |
| RGBA / LA / palette with transparency   | composited over a white background                              |
| 16-bit PNG (I;16), 32-bit int / float   | rescaled to 0..255 from the image's own value range             |
| more than `max_pixels` pixels           | refused (decompression-bomb guard, checked before decoding)     |
| a side longer than `max_side`           | downscaled (aspect ratio kept) to `max_side`                     |
| empty, not an image, truncated          | `ImageDecodeError` naming the problem                           |
"""

from __future__ import annotations

import io
import warnings

import numpy as np

MAX_PIXELS = 40_000_000  # refuse above this (a 40 Mpx photo is ~120 MB as RGB)
MAX_SIDE = 2048  # downscale larger images: the models run at a few hundred pixels anyway


class ImageDecodeError(ValueError):
    """Bytes that cannot be turned into an RGB image; the message is written for the person uploading."""


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Rescale an integer or float single-channel array of any range to uint8 0..255."""
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(array.shape, np.uint8)
    lo, hi = float(array[finite].min()), float(array[finite].max())
    if lo >= 0 and hi <= 255 and np.all(array[finite] == np.round(array[finite])) and hi > 1:
        scaled = array  # already 8-bit values stored in a wider type
    elif lo >= 0 and hi <= 1.0:
        scaled = array * 255.0  # float image in 0..1
    elif lo >= 0 and hi <= 65535 and hi > 255:
        full_scale = 2.0 ** np.ceil(np.log2(hi + 1)) - 1  # 10-, 12- or 16-bit sensor range
        scaled = array * (255.0 / full_scale)
    else:
        scaled = (array - lo) * (255.0 / max(hi - lo, 1e-12))
    scaled = np.where(finite, scaled, 0)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def image_to_rgb(image) -> np.ndarray:
    """A PIL image of any mode -> `(H, W, 3)` uint8 RGB (see the module table for the conversions)."""
    from PIL import Image

    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        gray = _to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int | None = MAX_SIDE,
                 name: str = "the upload") -> np.ndarray:
    """Decode encoded image bytes into a `(H, W, 3)` uint8 RGB array.

    Args:
        data: the file's bytes.
        max_pixels: refuse images with more pixels than this (read from the header, before decoding).
        max_side: downscale so that the longer side is at most this (None: keep the size).
        name: how the message refers to the file (e.g. its file name).

    Raises:
        ImageDecodeError: empty data, not an image, a truncated or corrupt file, too many pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image expects bytes, received {type(data).__name__}")
    if len(data) == 0:
        raise ImageDecodeError(f"{name} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} Mpx); the demo accepts images "
                    f"up to {max_pixels / 1e6:.0f} Mpx. Please downscale it first."
                )
            if width < 1 or height < 1:
                raise ImageDecodeError(f"{name} has no pixels ({width}x{height}).")
            if max_side is not None and max(width, height) > max_side and image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # let libjpeg decode at a reduced size
            image.load()  # decode now: truncated files fail here, not later
            image = ImageOps.exif_transpose(image)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"{name} is not an image file the demo can read (expected JPEG, PNG, BMP, GIF, TIFF or WebP)."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"{name} has too many pixels to decode safely; please downscale it first.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        reason = "truncated" if "truncated" in str(error).lower() else "damaged"
        raise ImageDecodeError(f"{name} looks {reason}: it could not be decoded ({error}). Try saving it again.") from None
    rgb = image_to_rgb(image)
    if max_side is not None and max(rgb.shape[:2]) > max_side:
        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    return rgb


def as_rgb_array(image) -> np.ndarray:
    """An in-memory image array of any common layout -> `(H, W, 3)` uint8 RGB.

    Accepts `(H, W)`, `(H, W, 1)`, `(H, W, 3)` and `(H, W, 4)` (alpha composited over white) arrays of
    uint8, other integer types (16-bit rescaled) or floats (0..1 or 0..255).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        gray = array if array.dtype == np.uint8 else _to_uint8(array)
        return np.repeat(gray[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), received {array.shape}")
    rgb = array[..., :3] if array.dtype == np.uint8 else _to_uint8(array[..., :3])
    alpha = None
    if array.shape[-1] == 4:
        alpha = (array[..., 3:] if array.dtype == np.uint8 else _to_uint8(array[..., 3:])) / 255.0
    if alpha is not None:
        rgb = np.round(rgb * alpha + 255.0 * (1.0 - alpha))
    return np.clip(rgb, 0, 255).astype(np.uint8)
