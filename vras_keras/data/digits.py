"""Distorted digits: scikit-learn's bundled 8×8 digits, upscaled, rotated / scaled / translated on a larger
canvas with clutter, the way Jaderberg et al. distort MNIST to test spatial transformers (arXiv:1506.02025).

No download: `sklearn.datasets.load_digits` ships with scikit-learn (1797 digits, ~180 per class).

Variants (`VARIANTS`), as in the paper:

- `"r"`: rotated by up to ±90°, centred;
- `"rts"`: rotated by up to ±45°, scaled by 0.7–1.2, placed anywhere on the canvas (default);
- `"t"`: translated only;
- `"tc"`: translated, with clutter (8 clutter pieces unless `clutter` is given).

Clutter pieces are random crops of other digits of the same split, pasted at random places (pixel-wise max).
The 1797 source digits are split once by a fixed permutation (`TEST_FRACTION` of them held out), so the
train and test sets never share a source digit, whatever `seed` each one uses. Every sample is a pure
function of `(seed, split, index)`.

Example:
>>> digits = DistortedDigits(split="train", variant="rts", canvas_size=48, seed=0)
>>> s = digits.sample(0)        # {"image": uint8 (48, 48, 1), "label": int, "angle", "scale", "center", ...}
>>> images, labels = digits.arrays(1000)
>>> ds = digits_dataset("test", num_samples=500, batch_size=64)   # (float32 (B,48,48,1) 0..255, int32 (B,))
"""

from __future__ import annotations

import functools

import numpy as np

VARIANTS = ("r", "rts", "t", "tc")
SPLITS = ("train", "test")
TEST_FRACTION = 0.25
_SPLIT_SEED = 20150605  # fixed: the source-digit split must not depend on the sampling seed
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(d) for d in range(10))


@functools.lru_cache(maxsize=None)
def _source_digits():
    """(images float32 (1797, 8, 8) in 0..1, labels int32, split {name: indices})."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")
    labels = digits.target.astype("int32")
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(labels))
    n_test = int(round(TEST_FRACTION * len(labels)))
    split = {"test": np.sort(order[:n_test]), "train": np.sort(order[n_test:])}
    return images, labels, split


def source_indices(split: str) -> np.ndarray:
    """Indices (into `sklearn.datasets.load_digits()`) of the source digits of `split`."""
    _check_choice("split", split, SPLITS)
    return _source_digits()[2][split].copy()


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; received {value!r}")


class DistortedDigits:
    """Deterministic generator of distorted digits (see the module docstring).

    Args:
        split: `"train"` or `"test"` (disjoint source digits).
        variant: one of `VARIANTS`.
        canvas_size: side of the square output image in pixels (>= digit_size).
        digit_size: side of the upscaled digit before distortion (8×8 sources, bicubic).
        clutter: number of clutter pieces (default: 8 for `"tc"`, 0 otherwise).
        clutter_size: side of a clutter piece (default `digit_size // 3`).
        seed: sampling seed.
    """

    def __init__(
        self,
        split: str = "train",
        variant: str = "rts",
        *,
        canvas_size: int = 48,
        digit_size: int = 24,
        clutter: int | None = None,
        clutter_size: int | None = None,
        seed: int = 0,
    ):
        _check_choice("split", split, SPLITS)
        _check_choice("variant", variant, VARIANTS)
        if not isinstance(digit_size, int) or digit_size < 8:
            raise ValueError(f"digit_size must be an int >= 8, received {digit_size!r}")
        if not isinstance(canvas_size, int) or canvas_size < digit_size:
            raise ValueError(f"canvas_size must be an int >= digit_size ({digit_size}), received {canvas_size!r}")
        clutter = (8 if variant == "tc" else 0) if clutter is None else clutter
        if not isinstance(clutter, int) or clutter < 0:
            raise ValueError(f"clutter must be an int >= 0, received {clutter!r}")
        clutter_size = max(2, digit_size // 3) if clutter_size is None else clutter_size
        if not isinstance(clutter_size, int) or not 1 <= clutter_size <= digit_size:
            raise ValueError(f"clutter_size must be an int in [1, digit_size={digit_size}], received {clutter_size!r}")
        self.split, self.variant, self.seed = split, variant, seed
        self.canvas_size, self.digit_size = canvas_size, digit_size
        self.clutter, self.clutter_size = clutter, clutter_size
        images, labels, split_indices = _source_digits()
        self._indices = split_indices[split]
        self._labels = labels
        self._digits = self._upscale(images[self._indices])

    def _upscale(self, images):
        import cv2

        size = (self.digit_size, self.digit_size)
        up = np.stack([cv2.resize(im, size, interpolation=cv2.INTER_CUBIC) for im in images])
        return np.clip(up, 0.0, 1.0)

    def _distortion(self, rng):
        """(angle in degrees, scale, centre (x, y) in canvas pixels)."""
        half = self.canvas_size / 2.0
        if self.variant == "r":
            return float(rng.uniform(-90, 90)), 1.0, (half, half)
        angle, scale = 0.0, 1.0
        if self.variant == "rts":
            angle, scale = float(rng.uniform(-45, 45)), float(rng.uniform(0.7, 1.2))
        # Keep the digit's core (60 % of its scaled extent) on the canvas.
        margin = min(half, 0.3 * self.digit_size * scale)
        cx, cy = rng.uniform(margin, self.canvas_size - margin, size=2)
        return angle, scale, (float(cx), float(cy))

    def sample(self, index: int) -> dict:
        """One sample: `image` uint8 `(S, S, 1)`, `label` int, `source_index` (into load_digits), and the
        distortion: `angle` (degrees, counter-clockwise on screen), `scale`, `center` (x, y) pixels."""
        import cv2

        if not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"index must be an int >= 0, received {index!r}")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), int(index)])
        k = int(rng.integers(len(self._indices)))
        angle, scale, center = self._distortion(rng)
        S, d = self.canvas_size, self.digit_size
        matrix = cv2.getRotationMatrix2D(((d - 1) / 2.0, (d - 1) / 2.0), angle, scale)
        matrix[:, 2] += np.array(center) - (d - 1) / 2.0 - 0.5
        canvas = cv2.warpAffine(self._digits[k], matrix, (S, S), flags=cv2.INTER_LINEAR, borderValue=0.0)
        c = self.clutter_size
        for _ in range(self.clutter):
            other = self._digits[int(rng.integers(len(self._indices)))]
            y0, x0 = rng.integers(0, d - c + 1, size=2)
            y1, x1 = rng.integers(0, S - c + 1, size=2)
            region = canvas[y1 : y1 + c, x1 : x1 + c]
            np.maximum(region, other[y0 : y0 + c, x0 : x0 + c], out=region)
        image = np.clip(np.round(canvas * 255.0), 0, 255).astype("uint8")[..., None]
        source = int(self._indices[k])
        return {
            "image": image,
            "label": int(self._labels[source]),
            "source_index": source,
            "angle": angle,
            "scale": scale,
            "center": center,
        }

    def arrays(self, num_samples: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """`(images uint8 (N, S, S, 1), labels int32 (N,))` of samples `start .. start + N - 1`."""
        if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be an int >= 1, received {num_samples!r}")
        samples = [self.sample(i) for i in range(start, start + num_samples)]
        return np.stack([s["image"] for s in samples]), np.array([s["label"] for s in samples], "int32")


def digits_dataset(
    split: str = "train",
    *,
    num_samples: int = 1000,
    batch_size: int | None = None,
    shuffle: bool | None = None,
    seed: int = 0,
    **kwargs,
):
    """A `tf.data.Dataset` of `(image float32 (S, S, 1) in 0..255, label int32)` distorted digits.

    Samples are generated once (NumPy, deterministic) and cached in memory.

    Args:
        split: `"train"` or `"test"`.
        num_samples: number of samples.
        batch_size: batch the dataset when given.
        shuffle: shuffle each epoch (default: True for `"train"`), seeded by `seed`.
        seed: sampling seed (and shuffle seed).
        **kwargs: `DistortedDigits` arguments (`variant`, `canvas_size`, `digit_size`, `clutter`, ...).
    """
    import tensorflow as tf

    images, labels = DistortedDigits(split, seed=seed, **kwargs).arrays(num_samples)
    ds = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels))
    if split == "train" if shuffle is None else shuffle:
        ds = ds.shuffle(num_samples, seed=seed, reshuffle_each_iteration=True)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
