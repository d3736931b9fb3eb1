"""The one image decoder and normaliser: files, upload bytes and in-memory arrays -> uint8 RGB (or gray).

Training loaders, `vras predict`, `vras evaluate`, the matching pairs and the demo all call these
functions, so an image means the same pixels everywhere:

| input                                   | result                                                          |
|-----------------------------------------|-----------------------------------------------------------------|
| JPEG / PNG / BMP / GIF / TIFF / WebP    | `(H, W, 3)` uint8 RGB (GIF/TIFF: first frame), EXIF orientation applied |
| grayscale (L), palette (P), CMYK, YCbCr | converted to RGB (`channels=1`: to luma, grayscale kept exactly) |
| RGBA / LA / palette with transparency   | composited over a white background                              |
| 16-bit PNG (I;16), 32-bit int / float   | rescaled to 0..255 (16-bit by its sensor range: 10, 12 or 16 bits) |
| more than `max_pixels` pixels           | refused from the header, before any pixel is decoded            |
| a side longer than `max_side`           | downscaled (aspect ratio kept) right after decoding             |
| empty, not an image, truncated          | `ImageDecodeError` naming the file and the problem              |

Arrays (`to_rgb`) follow the same rules: `(H, W)`, `(H, W, 1)`, `(H, W, 3)`, `(H, W, 4)` of uint8,
bool (0 / 255), other integers (0..255 kept, wider ranges rescaled as 16-bit files are) or floats
(0..1 scaled by 255, 0..255 rounded, other ranges min-max scaled); NaN or inf is refused.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # refuse above this, before decoding (a 40 Mpx photo is ~120 MB as RGB)
CHANNELS = (1, 3)
FORMATS = "JPEG, PNG, BMP, GIF, TIFF or WebP"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageDecodeError(ValueError):
    """Bytes or a file that cannot be turned into an image; the message names the file and the problem."""


def _check_channels(channels: int) -> None:
    if channels not in CHANNELS:
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), received {channels!r}")


def _rescale(array: np.ndarray) -> np.ndarray:
    """Rescale a numeric array of any range to uint8 0..255 (non-finite values become 0)."""
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(array.shape, np.uint8)
    values = array[finite]
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 255 and hi > 1 and np.all(values == np.round(values)):
        scaled = array  # 8-bit values stored in a wider type
    elif lo >= 0 and hi <= 1.0:
        scaled = array * 255.0  # float image in 0..1 (or a binary 0/1 image)
    elif lo >= 0 and hi <= 255:
        scaled = array  # float image in 0..255
    elif lo >= 0 and hi <= 65535:
        full_scale = 2.0 ** np.ceil(np.log2(hi + 1)) - 1  # 10-, 12- or 16-bit sensor range
        scaled = array * (255.0 / full_scale)
    else:
        scaled = (array - lo) * (255.0 / max(hi - lo, 1e-12))
    scaled = np.where(finite, scaled, 0)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def _gray_to(gray: np.ndarray, channels: int) -> np.ndarray:
    return gray[..., None] if channels == 1 else np.repeat(gray[..., None], 3, axis=-1)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as PIL's `convert("L")` and OpenCV's `COLOR_RGB2GRAY` compute it."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(rgb.astype(np.float64) @ weights), 0, 255).astype(np.uint8)


def to_rgb(image, *, channels: int = 3, what: str = "image") -> np.ndarray:
    """An in-memory image (array or PIL image) -> uint8 `(H, W, 3)` RGB, or `(H, W, 1)` with `channels=1`.

    See the module docstring for the rules (alpha over white, 16-bit rescale, float ranges).

    Raises:
        TypeError: not an array or PIL image, or not numeric.
        ValueError: a shape that is not an image, or NaN / inf values.
    """
    _check_channels(channels)
    if isinstance(image, Image.Image):
        return _pil_to_array(image, channels)
    try:
        array = np.asarray(image)
    except Exception as error:  # noqa: BLE001 - anything numpy cannot read is not an image
        raise TypeError(f"{what} must be an array (H, W[, C]); received {type(image).__name__}") from error
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{what} must be a numeric array (H, W[, C]); received dtype {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"{what} must be (H, W) grayscale, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; received shape {array.shape}"
        )
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise ValueError(f"{what} has non-finite values (NaN or inf)")
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        gray = array if array.dtype == np.uint8 else _rescale(array)
        return _gray_to(gray, channels)
    rgb = array[..., :3] if array.dtype == np.uint8 else _rescale(array[..., :3])
    if array.shape[-1] == 4:
        alpha = (array[..., 3:] if array.dtype == np.uint8 else _rescale(array[..., 3:])) / 255.0
        rgb = np.clip(np.round(rgb * alpha + 255.0 * (1.0 - alpha)), 0, 255).astype(np.uint8)
    return _luma(rgb)[..., None] if channels == 1 else np.ascontiguousarray(rgb)


def _pil_to_array(image: Image.Image, channels: int) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _gray_to(_rescale(np.asarray(image)), channels)
    if mode == "1":
        image, mode = image.convert("L"), "L"
    if mode == "L" and channels == 1:
        return np.asarray(image, dtype=np.uint8)[..., None].copy()
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return _luma(rgb)[..., None] if channels == 1 else rgb


def resize(image, size) -> np.ndarray:
    """The one resize to a model's input size `(height, width)`: bilinear with pixel centres at half
    integers, without antialiasing, i.e. exactly what `tf.image.resize(..., "bilinear")` (RESIZE_BILINEAR
    with half-pixel centres) computes inside exported SavedModel / TFLite graphs. Training, `vras predict`,
    `vras evaluate` and the demo all resize through it (or through that graph op), so one file gives the same
    pixels everywhere. Returns float32 `(height, width[, C])`, values not rounded; a single channel is kept.
    """
    import cv2

    array = np.asarray(image, np.float32)
    h, w = (int(v) for v in size)
    if array.shape[:2] == (h, w):
        return array
    out = cv2.resize(array, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[..., None] if array.ndim == 3 and out.ndim == 2 else out  # cv2 drops a single channel


def _check_pixels(name, width: int, height: int, max_pixels: int) -> None:
    """The one pixel limit, applied from the header before any pixel is decoded."""
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} Mpx); images up to "
            f"{max_pixels / 1e6:.0f} Mpx are accepted. Please downscale it first."
        )


def _resize_longer(array: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(array.shape[:2])
    size = (max(1, round(array.shape[1] * scale)), max(1, round(array.shape[0] * scale)))
    squeeze = array.shape[-1] == 1
    resized = Image.fromarray(array[..., 0] if squeeze else array).resize(size, Image.Resampling.LANCZOS)
    out = np.asarray(resized, dtype=np.uint8)
    return out[..., None] if squeeze else out


def decode_image(data: bytes, *, channels: int = 3, max_pixels: int = MAX_PIXELS, max_side: int | None = None,
                 name: str = "the image") -> np.ndarray:
    """Decode encoded image bytes into uint8 `(H, W, 3)` RGB (or `(H, W, 1)` with `channels=1`).

    Args:
        data: the file's bytes.
        channels: 3 (RGB) or 1 (grayscale).
        max_pixels: refuse images with more pixels than this (read from the header, before decoding).
        max_side: downscale so that the longer side is at most this (None: keep the size). JPEGs are
            decoded at a reduced size directly.
        name: how messages refer to the data (e.g. the file name).

    Raises:
        ImageDecodeError: empty data, not an image, a truncated or corrupt file, too many pixels.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image expects bytes, received {type(data).__name__}")
    _check_channels(channels)
    if len(data) == 0:
        raise ImageDecodeError(f"{name} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            width, height = image.size
            _check_pixels(name, width, height, max_pixels)
            if width < 1 or height < 1:
                raise ImageDecodeError(f"{name} has no pixels ({width}x{height}).")
            if max_side is not None and max(width, height) > max_side and image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # let libjpeg decode at a reduced size
            image.load()  # decode now: truncated files fail here, not later
            image = ImageOps.exif_transpose(image)
            array = _pil_to_array(image, channels)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name} is not an image file that can be read (expected {FORMATS}).") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"{name} has too many pixels to decode safely; please downscale it first.") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        reason = "truncated" if "truncated" in str(error).lower() else "damaged"
        raise ImageDecodeError(f"{name} looks {reason}: it could not be decoded ({error}).") from None
    if max_side is not None and max(array.shape[:2]) > max_side:
        array = _resize_longer(array, max_side)
    return array


def read_image(path, *, channels: int = 3, max_pixels: int = MAX_PIXELS, max_side: int | None = None,
               max_bytes: int = 512 * 1024 * 1024) -> np.ndarray:
    """Read and decode an image file (see `decode_image`); messages name the file.

    Raises:
        FileNotFoundError: no such file.
        ImageDecodeError: a directory, an unreadable, oversized or undecodable file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image {path} does not exist")
    if not os.path.isfile(path):
        raise ImageDecodeError(f"{path} is not a file (expected an image file: {FORMATS})")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ImageDecodeError(
            f"{path} is {size / 2**20:.0f} MiB; image files up to {max_bytes / 2**20:.0f} MiB are read"
        )
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ImageDecodeError(f"{path} cannot be read ({error.strerror or error})") from None
    return decode_image(data, channels=channels, max_pixels=max_pixels, max_side=max_side, name=path)


GRAY_MODES = ("1", "L", "LA", "La", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
# EXIF orientations that swap width and height (transposed or rotated by 90 degrees)
_SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


def open_unchecked(path):
    """`Image.open` (header only) without PIL's own bomb warning: callers apply `MAX_PIXELS` themselves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _check_png_complete(path) -> None:
    """A PNG cut short (an interrupted copy) ends before its IEND chunk: refused from the file's last bytes,
    so that lazy loaders report it when the data is read, not in the middle of training."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 1024))
        if b"IEND" not in f.read():
            raise ImageDecodeError(f"{path} looks truncated: the PNG file ends before its IEND chunk.")


def image_info(path, *, max_pixels: int = MAX_PIXELS) -> tuple[int, int, int]:
    """`(height, width, channels)` of an image file from its header, without decoding the pixels.

    The size is the one `read_image` returns (EXIF rotation applied); `channels` is 1 for grayscale files
    (L, 16-bit, LA, ...) and 3 for colour ones, i.e. what decoding keeps without losing information.
    A PNG that ends before its IEND chunk (truncated) is refused here too.

    Raises:
        FileNotFoundError: no such file.
        ImageDecodeError: not an image file that can be read, or more than `max_pixels` pixels (the limit
            `read_image` applies, checked here so that a lazy loader refuses the file before decoding).
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError:
        raise FileNotFoundError(f"image {path} does not exist") from None
    key = (path, st.st_mtime_ns, st.st_size, st.st_ino, max_pixels)
    known = _INFO_CACHE.get(key)
    if known is None:
        known = _image_info(path, max_pixels)
        if len(_INFO_CACHE) >= _INFO_CACHE_SIZE:
            _INFO_CACHE.clear()
        _INFO_CACHE[key] = known
    return known


# `image_info` of files already read in this process, by (path, mtime, size, inode): a training run lists its
# folder twice (the training split, then the held-out validation split), and a changed file is read again.
_INFO_CACHE: dict = {}
_INFO_CACHE_SIZE = 1 << 21


def _image_info(path: str, max_pixels: int) -> tuple[int, int, int]:
    try:
        with open_unchecked(path) as image:
            width, height = image.size
            _check_pixels(path, width, height, max_pixels)
            try:  # (a square's size does not depend on it, and a PNG's EXIF may need the whole file read)
                orientation = 1 if width == height else image.getexif().get(0x0112, 1)
            except Exception:  # a damaged EXIF block: read_image ignores it too
                orientation = 1
            mode = image.mode
            if image.format == "PNG":
                _check_png_complete(path)
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{path} is not an image file that can be read (expected {FORMATS}).") from None
    except Image.DecompressionBombError:
        raise ImageDecodeError(f"{path} has too many pixels to decode safely; please downscale it first.") from None
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"{path} looks damaged: its header could not be read ({error}).") from None
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return height, width, 1 if mode in GRAY_MODES else 3
