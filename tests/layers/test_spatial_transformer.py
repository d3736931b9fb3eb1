"""AffineGrid / GridSample / SpatialTransformer through the harness (incl. TFLite), identity at init, errors."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from vras_keras.layers import AffineGrid, GridSample, SpatialTransformer
from vras_keras.ops import TRANSFORMS
from vras_keras.testing import check_layer

DATA = Path(__file__).parents[1] / "ops" / "data"
REFERENCE = np.load(DATA / "sampling_reference.npz")
_spec = importlib.util.spec_from_file_location("make_sampling_reference", DATA / "make_sampling_reference.py")
_generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_generator)
SMALL_RANDOM = {"class_name": "RandomNormal", "config": {"stddev": 0.05, "seed": 1}}


def _identity_grid(h, w):
    """PyTorch's identity grid for align_corners=False: pixel j at (2 j + 1) / W - 1."""
    xs, ys = (2 * np.arange(w) + 1) / w - 1, (2 * np.arange(h) + 1) / h - 1
    return np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).astype("float32")


def _localization(rank=2):
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    pool = keras.layers.GlobalAveragePooling2D if rank == 2 else keras.layers.GlobalAveragePooling3D
    return keras.Sequential(
        [conv(4, 3, strides=2, padding="same", activation="relu", name="loc_conv"), pool(name="loc_pool")], name="loc"
    )


def test_affine_grid_layer():
    theta = np.tile(np.eye(2, 3, dtype="float32")[None], (2, 1, 1))
    theta[1, 0, 2] = 0.5  # read half an image width to the right
    expected = np.stack([_identity_grid(4, 5)] * 2)
    expected[1, ..., 0] += 0.5
    check_layer(
        AffineGrid,
        {"output_size": (4, 5)},
        input_data=theta,
        expected_output=expected,
        expected_output_shape=(2, 4, 5, 2),
    )


@pytest.mark.parametrize("rank", [2, pytest.param(3, marks=pytest.mark.slow)])  # 3-D: ops tests + STN 3-D harness
def test_grid_sample_layer_matches_pytorch(rank):
    x = _generator.reference_inputs()
    images, grid = x[f"image{rank}d"], x[f"grid{rank}d"]
    expected = REFERENCE[f"out_{rank}d_bilinear_reflection_0"]
    check_layer(
        GridSample,
        {"padding_mode": "reflection"},
        input_data=[images, grid],
        expected_output=expected,
        expected_output_shape=expected.shape,
        reference_atol=2e-5,
    )


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("rank", [2, 3])
def test_untrained_spatial_transformer_is_the_identity(transform, rank):
    shape = (2, 9, 10, 2) if rank == 2 else (2, 4, 5, 6, 2)
    images = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    stn = SpatialTransformer(transform=transform)
    np.testing.assert_allclose(np.asarray(stn(images)), images, atol=1e-3)
    theta = np.asarray(stn.theta(images))
    np.testing.assert_allclose(theta, np.tile(np.eye(rank, rank + 1), (2, 1, 1)), atol=1e-7)


def test_spatial_transformer_2d_harness():
    check_layer(
        SpatialTransformer,
        {
            "localization": keras.saving.serialize_keras_object(_localization(2)),
            "transform": "similarity",
            "output_size": (6, 7),
            "head_kernel_initializer": SMALL_RANDOM,  # zeros (the default) would block the gradient check
        },
        input_shapes=(3, 12, 12, 2),
        expected_output_shape=(3, 6, 7, 2),
    )


def test_spatial_transformer_3d_harness():
    check_layer(
        SpatialTransformer,
        {
            "localization": keras.saving.serialize_keras_object(_localization(3)),
            "transform": "affine",
            "padding_mode": "border",
            "head_kernel_initializer": SMALL_RANDOM,
        },
        input_shapes=(2, 4, 6, 6, 1),
        expected_output_shape=(2, 4, 6, 6, 1),
        run_mixed_precision=False,  # covered in 2-D; saves ~2 s
    )


def test_localization_forms_and_crop_output():
    images = np.random.default_rng(1).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
    layers = [keras.layers.Flatten(name="flat"), keras.layers.Dense(8, name="fc")]
    stn = SpatialTransformer(localization=layers, transform="translation_scale", output_size=(8, 8))
    out = np.asarray(stn(images))
    assert out.shape == (2, 8, 8, 1)
    # translation_scale at scale 1 reads the whole image: output pixel (i, j) at input (2i + 0.5, 2j + 0.5).
    np.testing.assert_allclose(out, images.reshape(2, 8, 2, 8, 2, 1).mean(axis=(2, 4)), atol=1e-5)
    stn.head.bias.assign([0.5, 0.0, 0.0])  # zoom x2 on the centre: the central 8 x 8 pixels
    np.testing.assert_allclose(np.asarray(stn(images)), images[:, 4:12, 4:12], atol=1e-5)
    config = stn.get_config()
    assert config["localization"]["class_name"] == "Sequential"
    revived = SpatialTransformer.from_config(config)
    assert [layer.name for layer in revived.localization.layers] == ["flat", "fc"]
    default = SpatialTransformer().get_config()
    assert default["localization"] is None


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match=r"transform must be one of 'affine', .*received 'projective'"):
        SpatialTransformer(transform="projective")
    with pytest.raises(ValueError, match=r"output_size must be \(H, W\) or \(D, H, W\).*received \(0, 4\)"):
        SpatialTransformer(output_size=(0, 4))
    with pytest.raises(ValueError, match="localization must be None, a keras Layer.*received str"):
        SpatialTransformer(localization="resnet")
    with pytest.raises(ValueError, match="mode must be one of 'bilinear', 'nearest'; received 'cubic'"):
        GridSample(mode="cubic")
    with pytest.raises(ValueError, match="padding_mode must be one of .*received 'wrap'"):
        GridSample(padding_mode="wrap")
    with pytest.raises(ValueError, match="output_size must be"):
        AffineGrid(output_size=(4,))
    with pytest.raises(ValueError, match=r"output_size \(4, 4, 4\) has 3 axes, the input 2"):
        SpatialTransformer(output_size=(4, 4, 4))(np.zeros((1, 8, 8, 1), "float32"))


def test_default_localization_survives_keras_save_and_load(tmp_path):
    inputs = keras.Input((16, 16, 1))
    outputs = SpatialTransformer(transform="rotation_translation", head_kernel_initializer="random_normal", name="stn")(
        inputs
    )
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(2).uniform(0, 1, (2, 16, 16, 1)).astype("float32")
    assert np.abs(np.asarray(model(images)) - images).max() > 0.1  # random head: not the identity
    model.save(tmp_path / "stn.keras")
    loaded = keras.saving.load_model(tmp_path / "stn.keras")
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))
