"""vras_keras.demo.samples: sample inputs per task."""

import numpy as np
import pytest

from vras_keras.demo import samples


def test_samples_per_task():
    assert samples.sample_names("pose")[0].startswith("stick figure")
    assert samples.sample_names("stn")[0].startswith("distorted digit")
    assert all(n.startswith("photo: ") for n in samples.sample_names("matching"))
    for name in ("ShapesWorld #1", "stick figure #0", "distorted digit #2"):
        image = samples.load_sample(name, 40)
        assert image.shape == (40, 40, 3) and image.dtype == np.uint8
    assert samples.load_sample("photo: coffee").shape == (400, 600, 3)
    with pytest.raises(ValueError, match="unknown"):
        samples.load_sample("photo: moon")
    with pytest.raises(ValueError, match="unknown sample"):
        samples.load_sample("ShapesWorld one")
