"""Real images for the own-data tests: scikit-learn's handwritten digits written as class-sorted PNG folders."""

from __future__ import annotations

import os

import numpy as np


def write_digit_folders(root, *, canvas: int = 12, train_copies: int = 7, test_copies: int = 3,
                        test_fraction: float = 0.2, seed: int = 0):
    """Write `root/my_photos/<digit>/NNNNN.png` (training, no val/) and `root/my_photos_test/<digit>/...`.

    Each 8x8 digit (0..16) is scaled to 0..255 and pasted at random offsets of a `canvas` px grayscale
    image: `train_copies` shifted copies of each training digit (~10,000 images from 1,437 digits),
    `test_copies` of each held-out digit (a test set training never sees). Returns the two folders.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.images))
    n_test = int(round(test_fraction * len(order)))
    parts = {"my_photos_test": (order[:n_test], test_copies), "my_photos": (order[n_test:], train_copies)}
    folders = {}
    for name, (indices, copies) in parts.items():
        folder = os.path.join(root, name)
        for c in range(10):
            os.makedirs(os.path.join(folder, str(c)), exist_ok=True)
        count = np.zeros(10, int)
        for i in sorted(indices):
            label = int(digits.target[i])
            glyph = np.round(digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            for _ in range(copies):
                dy, dx = rng.integers(0, canvas - 8 + 1, size=2)
                image = np.zeros((canvas, canvas), np.uint8)
                image[dy:dy + 8, dx:dx + 8] = glyph
                count[label] += 1
                Image.fromarray(image, mode="L").save(os.path.join(folder, str(label), f"{count[label]:05d}.png"))
        folders[name] = folder
    return folders["my_photos"], folders["my_photos_test"]
