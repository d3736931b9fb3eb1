"""Distorted digits: determinism, disjoint splits, labels, distortion geometry, clutter, tf.data, errors."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from vras_keras.data.digits import VARIANTS, DistortedDigits, digits_dataset, source_indices


def test_deterministic_by_seed_and_seeds_differ():
    a = DistortedDigits("train", "rts", seed=3).arrays(6)
    b = DistortedDigits("train", "rts", seed=3).arrays(6)
    c = DistortedDigits("train", "rts", seed=4).arrays(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # Random access: sample i does not depend on what was generated before.
    np.testing.assert_array_equal(DistortedDigits("train", "rts", seed=3).sample(4)["image"], a[0][4])


def test_splits_use_disjoint_source_digits_and_correct_labels():
    train, test = source_indices("train"), source_indices("test")
    assert not set(train) & set(test)
    assert len(train) + len(test) == 1797 and len(test) == 449
    targets = load_digits().target
    for split, allowed in (("train", set(train)), ("test", set(test))):
        gen = DistortedDigits(split, "t", seed=0)
        for i in range(20):
            s = gen.sample(i)
            assert s["source_index"] in allowed
            assert s["label"] == targets[s["source_index"]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_images_and_distortion_ranges(variant):
    gen = DistortedDigits("test", variant, canvas_size=40, digit_size=16, seed=1)
    for i in range(8):
        s = gen.sample(i)
        assert s["image"].shape == (40, 40, 1) and s["image"].dtype == np.uint8
        assert s["image"].max() > 100  # a visible digit
        limit = {"r": 90, "rts": 45}.get(variant, 0)
        assert abs(s["angle"]) <= limit and (0.7 <= s["scale"] <= 1.2 if variant == "rts" else s["scale"] == 1.0)
        if variant == "r":
            assert s["center"] == (20.0, 20.0)


def test_digit_is_placed_at_its_center_without_distortion():
    gen = DistortedDigits("train", "t", canvas_size=48, digit_size=24, seed=2)
    for i in range(5):
        s = gen.sample(i)
        image = s["image"][..., 0].astype("float64")
        ys, xs = np.mgrid[:48, :48] + 0.5  # pixel centres in continuous coordinates
        cx, cy = (image * xs).sum() / image.sum(), (image * ys).sum() / image.sum()
        # The ink centroid of an 8x8 digit is within a few pixels of its box centre.
        assert abs(cx - s["center"][0]) < 5 and abs(cy - s["center"][1]) < 5


def test_clutter_adds_ink_outside_the_digit():
    plain = DistortedDigits("train", "t", clutter=0, seed=5).arrays(10)[0]
    cluttered = DistortedDigits("train", "t", clutter=6, seed=5).arrays(10)[0]
    assert np.all(cluttered >= plain)  # clutter is pasted with a pixel-wise max
    assert (cluttered > 0).sum() > (plain > 0).sum()


def test_tf_dataset():
    ds = digits_dataset("test", num_samples=10, batch_size=4, canvas_size=40, digit_size=16)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert images.shape[1:] == (40, 40, 1) and images.dtype.name == "float32" and labels.dtype.name == "int32"
    ref_images, ref_labels = DistortedDigits("test", canvas_size=40, digit_size=16).arrays(4)
    np.testing.assert_array_equal(images.numpy(), ref_images.astype("float32"))  # test split is not shuffled
    np.testing.assert_array_equal(labels.numpy(), ref_labels)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"variant must be one of 'r', 'rts', 't', 'tc'; received 'p'"):
        DistortedDigits(variant="p")
    with pytest.raises(ValueError, match=r"split must be one of 'train', 'test'; received 'val'"):
        DistortedDigits(split="val")
    with pytest.raises(ValueError, match=r"canvas_size must be an int >= digit_size \(24\), received 16"):
        DistortedDigits(canvas_size=16)
    with pytest.raises(ValueError, match="num_samples must be an int >= 1, received 0"):
        DistortedDigits().arrays(0)
