"""Shared pieces of the format readers: errors, the bad-sample policy, image and PNG-mask I/O.

A reader returns `Records`: a list of samples in the numpy form of the task's targets
(`vras_keras.data.datasets` turns them into `tf.data`):

- classification: `{"image", "label": int}`
- segmentation: `{"image", "mask": int32 (H, W)}` (0 background, class + 1, 255 ignore)
- detection: `{"image", "boxes": float32 (K, 4) xyxy, "classes": int32 (K,), "masks": uint8 (K, H, W)}`
- pose: `{"image", "keypoints": float32 (J, 2), "visibility": float32 (J,)}`

`image` is uint8 `(H, W, 3)` RGB; `file` names the image file (for messages).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings

import numpy as np
from PIL import Image

from vras_keras.data import images

logger = logging.getLogger("vras_keras.data")

# Segmentation masks: 0 background, class + 1 for objects, IGNORE for "don't care" pixels (VOC's void).
IGNORE = 255


class DataFormatError(ValueError):
    """A sample or annotation file does not follow its format. Names the file and the field."""

    def __init__(self, file, field: str, message: str):
        self.file = str(file)
        self.field = field
        super().__init__(f"{self.file}: field {field!r}: {message}")


@dataclasses.dataclass
class Records:
    """What a reader returns: the samples, the class names, and the samples it skipped (with why)."""

    samples: list
    class_names: tuple
    skipped: list = dataclasses.field(default_factory=list)  # list of DataFormatError

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)


class BadSamplePolicy:
    """`skip_bad=False`: raise the error. `skip_bad=True`: record it, skip the sample, warn at the end."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = bool(skip_bad)
        self.skipped: list[DataFormatError] = []

    def bad(self, error: DataFormatError) -> None:
        if not self.skip_bad:
            raise error
        self.skipped.append(error)
        logger.debug("skipping bad sample: %s", error)

    def report(self, source) -> None:
        if self.skipped:
            first = "; ".join(str(e) for e in self.skipped[:3])
            more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
            message = f"skip_bad: skipped {len(self.skipped)} bad sample(s) in {source}: {first}{more}"
            logger.warning(message)
            warnings.warn(message, stacklevel=3)


def read_image(path, field: str = "file_name", *, channels: int = 3) -> np.ndarray:
    """Decode an image file with the one decoder (`vras_keras.data.images`) into uint8 `(H, W, channels)`;
    `DataFormatError` naming the file and `field` if it is missing or cannot be decoded."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, field, "image file not found")
    try:
        return images.read_image(path, channels=channels)
    except (images.ImageDecodeError, OSError) as error:
        raise DataFormatError(path, field, f"cannot decode image ({error})") from None


def image_shape(path, field: str = "file_name") -> tuple[int, int, int]:
    """`(height, width, 3)` of an image file from its header (EXIF rotation applied), nothing decoded: the
    COCO / VOC / masks readers keep records lazy (`{"file", "shape", ...}` without `"image"`) and the
    pipeline decodes each image with the one decoder after the per-epoch shuffle. These formats train on
    RGB (3 channels) unless `channels` says otherwise, as when they were decoded at load time.
    `DataFormatError` naming the file and `field` if it is missing or its header cannot be read."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, field, "image file not found")
    try:
        h, w, _ = images.image_info(path)
    except (images.ImageDecodeError, OSError) as error:
        raise DataFormatError(path, field, f"cannot decode image ({error})") from None
    return (h, w, 3)


def write_image(path, image: np.ndarray, quality: int = 95) -> None:

    path = os.fspath(path)
    kwargs = {"quality": quality, "subsampling": 0} if path.lower().endswith((".jpg", ".jpeg")) else {}
    Image.fromarray(np.asarray(image, np.uint8)).save(path, **kwargs)


def voc_palette() -> list[int]:
    """The Pascal VOC colour map (256 RGB entries, flattened), as used by its PNG masks."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def write_index_png(path, mask: np.ndarray) -> None:
    """Save a (H, W) array of indices 0..255 as a palette PNG (VOC colours; values are the indices)."""

    im = Image.fromarray(np.asarray(mask, np.uint8), mode="P")
    im.putpalette(voc_palette())
    im.save(os.fspath(path))


def read_index_png(path, field: str, shape=None) -> np.ndarray:
    """Read a palette or grayscale PNG of indices as uint8 (H, W); checks its size against `shape`."""

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(path, field, "mask file not found")
    try:
        with images.open_unchecked(path) as im:
            w, h = im.size
            if w * h > images.MAX_PIXELS:  # the one pixel limit, from the header, before decoding
                raise DataFormatError(path, field, f"{w}x{h} pixels ({w * h / 1e6:.0f} Mpx); masks up to "
                                                   f"{images.MAX_PIXELS / 1e6:.0f} Mpx are read")
            im.load()
            if im.mode not in ("P", "L"):
                raise DataFormatError(path, field, f"expected a palette (P) or grayscale (L) PNG, got mode {im.mode}")
            mask = np.asarray(im, dtype=np.uint8)
    except DataFormatError:
        raise
    except Exception as error:
        raise DataFormatError(path, field, f"cannot decode mask ({type(error).__name__}: {error})") from None
    if shape is not None and mask.shape != tuple(shape):
        raise DataFormatError(path, field, f"mask size {mask.shape[1]}x{mask.shape[0]} (WxH) does not match "
                                           f"its image, {shape[1]}x{shape[0]}")
    return mask


def check_box(file, field: str, box, width: int, height: int, tolerance: float = 0.5) -> None:
    """A xyxy box must have positive area and lie inside the image (within `tolerance` pixels)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise DataFormatError(file, field, f"box {box} has non-finite coordinates")
    if x2 <= x1 or y2 <= y1:
        raise DataFormatError(file, field, f"box {[x1, y1, x2, y2]} (xyxy) has zero or negative area")
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        raise DataFormatError(
            file, field, f"box {[x1, y1, x2, y2]} (xyxy) lies outside the {width}x{height} (WxH) image"
        )


def read_class_list(path) -> tuple | None:
    """One class name per line (blank lines ignored), or None if the file does not exist."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        names = tuple(line.strip() for line in f if line.strip())
    if len(set(names)) != len(names):
        raise DataFormatError(path, "class names", f"duplicate class names in {names}")
    return names


def write_class_list(path, names) -> None:
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write("".join(f"{n}\n" for n in names))
