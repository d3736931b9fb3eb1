"""benchmarks/finetune.py measures what it claims: its source/target split follows its stated rule, and the
fine-tuning runs see exactly the inputs and statistics the backbone was pretrained with (the class folders
read by `vras train` hold `to_rgb32`'s pixels, and the safetensors round trip gives the same logits)."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.layers import set_input_normalization
from vras_keras.models import pretrained

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_finetune", ROOT / "benchmarks/finetune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_fashion(seed=0, per_class=12):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    x = rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8)
    return x, y, x[:10], y[:10]


def test_split_puts_every_kind_on_both_sides(bench):
    assert set(bench.SOURCE_CLASSES).isdisjoint(bench.TARGET_CLASSES)
    assert sorted(bench.SOURCE_CLASSES + bench.TARGET_CLASSES) == list(range(10))
    assert len(bench.SOURCE_CLASSES) == len(bench.TARGET_CLASSES) == 5
    for kind in bench.KINDS:
        assert set(kind) & set(bench.SOURCE_CLASSES) and set(kind) & set(bench.TARGET_CLASSES), kind
    assert bench.SOURCE_CLASSES == (0, 3, 4, 5, 9)  # t-shirt, dress, coat, sandal, ankle boot


def test_target_split_is_seeded_and_disjoint(bench):
    _, y, _, _ = _fake_fashion()
    train, val = bench.target_split(y, 3, 4, seed=1)
    assert len(train) == 15 and len(val) == 20 and not set(train) & set(val)
    assert sorted(set(y[train])) == list(bench.TARGET_CLASSES)
    again = bench.target_split(y, 3, 4, seed=1)
    np.testing.assert_array_equal(train, again[0])
    assert not np.array_equal(train, bench.target_split(y, 3, 4, seed=2)[0])


def test_finetune_sees_the_pretraining_inputs_and_weights(bench, tmp_path):
    """The class folders, read by `vras train`'s pipeline, give `to_rgb32`'s 0..255 pixels; the backbone
    written by the benchmark and loaded with `weights=` as the trainer builds it gives the pretrained
    network's logits on them (ImageNet normalisation inside both, BN statistics kept)."""
    from vras_keras.training.config import load_config
    from vras_keras.training.data import load_train_val, make_pipeline
    from vras_keras.training.finetune import set_trainable_stages
    from vras_keras.training.trainer import resolve_model_args

    data = _fake_fashion()
    x, y = data[0], data[1]
    keras.utils.set_random_seed(0)
    source = models.get("resnet18", input_shape=(32, 32, 3), width=0.25, num_classes=5)
    set_input_normalization(source, pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)
    rng = np.random.default_rng(0)
    for layer in source.layers:  # non-trivial BN statistics, as after pretraining
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.5, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape))
    path = pretrained.save_safetensors(source, tmp_path / "source.safetensors")

    folders = bench.write_target(tmp_path, data, 2, 1, seed=0)
    config = load_config(ROOT / "configs/finetune.yaml", {
        "data.source": "path", "data.format": "folder", "data.path": str(folders), "data.image_size": 32,
        "data.options": {}, "model.args": {"width": 0.25}, "model.weights": str(path),
        "workdir": str(tmp_path / "run")})
    train_src, _ = load_train_val(config.data, "classification", 0, log=lambda line: None)
    dataset, _ = make_pipeline(train_src, 10, training=True, seed=0)
    images = np.asarray(next(iter(dataset))[0])
    train, _ = bench.target_split(y, 2, 1, seed=0)
    expected = bench.to_rgb32(x[train])
    assert images.shape == expected.shape and images.max() > 200
    order = [int(np.argmin(np.abs(expected - image).reshape(len(expected), -1).max(axis=1))) for image in images]
    np.testing.assert_array_equal(images, expected[order])  # same pixels, 0..255, gray repeated, zero padding

    loaded = models.get(config.model.id, **resolve_model_args(config, train_src.input_shape, train_src.labels))
    set_trainable_stages(loaded, 5, freeze_bn=True)
    want = keras.ops.convert_to_numpy(source(images, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images, training=False)), want, atol=1e-5)
    # frozen BN: a training-mode step still normalises with the pretrained statistics
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(images, training=True)), want, atol=1e-4)
