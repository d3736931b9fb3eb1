"""affine_grid / grid_sample / bilinear_sample: PyTorch parity, hand-computed cases, gradients, errors."""

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from vras_keras.ops import affine_grid, bilinear_sample, grid_sample

DATA = Path(__file__).parent / "data"
REFERENCE = np.load(DATA / "sampling_reference.npz")
_spec = importlib.util.spec_from_file_location("make_sampling_reference", DATA / "make_sampling_reference.py")
_generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_generator)
reference_inputs = _generator.reference_inputs  # the NumPy inputs the stored PyTorch outputs were made from
COMBOS = list(itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True)))


def _np(x):
    return np.asarray(x)


def _theta(a, b, c, d, e, f, n=1):
    return np.tile(np.array([[[a, b, c], [d, e, f]]], "float32"), (n, 1, 1))


# ------------------------------------------------------------------------------ parity with PyTorch 2.13
@pytest.mark.parametrize("rank", [2, 3])
def test_grid_sample_matches_pytorch_values_and_gradients(rank):
    """Stored outputs and gradients of torch.nn.functional.grid_sample (see data/make_sampling_reference.py),
    on points inside, on the corners and up to ~2 image sizes outside, for every mode / padding / align."""
    x = reference_inputs()
    image = tf.constant(x[f"image{rank}d"])
    grid = tf.constant(x[f"grid{rank}d"])
    upstream = tf.constant(x[f"upstream{rank}d"])
    for mode, pad, ac in COMBOS:
        key = f"{rank}d_{mode}_{pad}_{int(ac)}"
        with tf.GradientTape() as tape:
            tape.watch([image, grid])
            out = grid_sample(image, grid, mode=mode, padding_mode=pad, align_corners=ac)
            loss = tf.reduce_sum(out * upstream)
        d_image, d_grid = tape.gradient(loss, [image, grid])
        np.testing.assert_allclose(_np(out), REFERENCE[f"out_{key}"], atol=2e-5, err_msg=key)
        np.testing.assert_allclose(_np(d_image), REFERENCE[f"dimage_{key}"], atol=2e-5, err_msg=key)
        d_grid = np.zeros_like(x[f"grid{rank}d"]) if d_grid is None else _np(d_grid)
        np.testing.assert_allclose(d_grid, REFERENCE[f"dgrid_{key}"], atol=2e-4, rtol=1e-4, err_msg=key)


@pytest.mark.parametrize("rank", [2, 3])
def test_affine_grid_matches_pytorch(rank):
    x = reference_inputs()
    size = (5, 6) if rank == 2 else (3, 4, 5)
    for ac in (False, True):
        grid = affine_grid(x[f"theta{rank}d"], size, align_corners=ac)
        assert grid.shape == (2,) + size + (rank,)
        np.testing.assert_allclose(_np(grid), REFERENCE[f"affine_grid_{rank}d_{int(ac)}"], atol=1e-6)


@pytest.mark.parametrize("rank", [2, 3])
def test_affine_grid_size_one_axes_match_pytorch(rank):
    """Issue #20: PyTorch puts a size-1 axis at 0 (recorded references), also with align_corners=True."""
    x = reference_inputs()
    for ac in (False, True):
        for shape in _generator.UNIT_SIZES[rank]:
            grid = _np(affine_grid(x[f"theta{rank}d"], shape, align_corners=ac))
            key = f"affine_grid_{rank}d_{int(ac)}_" + "x".join(map(str, shape))
            np.testing.assert_allclose(grid, REFERENCE[key], atol=1e-6, err_msg=key)
    # hand case: the identity on a (1, 3) output gives y = 0 (and x = -1, 0, 1 with align_corners)
    identity = np.eye(2, 3, dtype="float32")[None] if rank == 2 else np.eye(3, 4, dtype="float32")[None]
    shape = (1, 3) if rank == 2 else (1, 1, 3)
    grid = _np(affine_grid(identity, shape, align_corners=True)).reshape(3, rank)
    np.testing.assert_allclose(grid[:, 0], [-1, 0, 1])
    np.testing.assert_allclose(grid[:, 1:], 0)


# ------------------------------------------------------------------------------------ course test cases
@pytest.mark.parametrize("align_corners", [False, True])
def test_identity_returns_input(align_corners):
    image = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    grid = affine_grid(_theta(1, 0, 0, 0, 1, 0, n=2), (5, 7), align_corners=align_corners)
    for mode in ("bilinear", "nearest"):
        out = grid_sample(image, grid, mode=mode, align_corners=align_corners)
        np.testing.assert_allclose(_np(out), image, atol=1e-4)


def test_translation_by_one_pixel_shifts_the_image():
    image = np.random.default_rng(1).uniform(0, 1, (1, 6, 8, 2)).astype("float32")
    # One pixel is 2 / size in normalised coordinates (align_corners=False): reading one row lower moves
    # the content one pixel up; the row that enters from below is zero padding.
    up = grid_sample(image, affine_grid(_theta(1, 0, 0, 0, 1, 2 / 6), (6, 8)))
    expected = np.zeros_like(image)
    expected[:, :-1] = image[:, 1:]
    np.testing.assert_allclose(_np(up), expected, atol=1e-6)
    left = grid_sample(image, affine_grid(_theta(1, 0, 2 / 8, 0, 1, 0), (6, 8)))
    expected = np.zeros_like(image)
    expected[:, :, :-1] = image[:, :, 1:]
    np.testing.assert_allclose(_np(left), expected, atol=1e-6)


def test_translation_by_half_a_pixel_averages_neighbours():
    image = np.random.default_rng(2).uniform(0, 1, (1, 5, 6, 1)).astype("float32")
    out = _np(grid_sample(image, affine_grid(_theta(1, 0, 1 / 6, 0, 1, 0), (5, 6)), padding_mode="border"))
    np.testing.assert_allclose(out[:, :, :-1], (image[:, :, :-1] + image[:, :, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, :, -1], image[:, :, -1], atol=1e-6)  # border: edge value


@pytest.mark.parametrize("align_corners", [False, True])
def test_scaled_theta_crops_the_sub_image(align_corners):
    H, W, h, w, r0, c0 = 9, 10, 4, 5, 2, 3
    image = np.random.default_rng(3).uniform(0, 1, (1, H, W, 2)).astype("float32")
    if align_corners:  # pixel j sits at -1 + 2 j / (W - 1)
        sx, sy = (w - 1) / (W - 1), (h - 1) / (H - 1)
        tx, ty = -1 + 2 * c0 / (W - 1) + sx, -1 + 2 * r0 / (H - 1) + sy
    else:  # pixel j sits at (2 j + 1) / W - 1
        sx, sy = w / W, h / H
        tx, ty = (2 * c0 + 1) / W - 1 - sx * (1 / w - 1), (2 * r0 + 1) / H - 1 - sy * (1 / h - 1)
    grid = affine_grid(_theta(sx, 0, tx, 0, sy, ty), (h, w), align_corners=align_corners)
    out = grid_sample(image, grid, align_corners=align_corners)
    np.testing.assert_allclose(_np(out), image[:, r0 : r0 + h, c0 : c0 + w], atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
def test_rotation_by_90_degrees_equals_rot90(align_corners):
    image = np.random.default_rng(4).uniform(0, 1, (1, 7, 7, 3)).astype("float32")
    # Output (x, y) reads input (-y, x): a counter-clockwise quarter turn, as np.rot90.
    out = grid_sample(image, affine_grid(_theta(0, -1, 0, 1, 0, 0), (7, 7), align_corners), align_corners=align_corners)
    np.testing.assert_allclose(_np(out), np.rot90(image, axes=(1, 2)), atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
def test_3d_identity_and_translation(align_corners):
    volume = np.random.default_rng(5).uniform(0, 1, (2, 4, 5, 6, 2)).astype("float32")
    identity = np.tile(np.eye(3, 4, dtype="float32")[None], (2, 1, 1))
    out = grid_sample(volume, affine_grid(identity, (4, 5, 6), align_corners), align_corners=align_corners)
    np.testing.assert_allclose(_np(out), volume, atol=1e-5)
    shift = identity.copy()
    shift[:, 2, 3] = 2 / 3 if align_corners else 2 / 4  # one voxel along depth (z)
    out = _np(grid_sample(volume, affine_grid(shift, (4, 5, 6), align_corners), align_corners=align_corners))
    np.testing.assert_allclose(out[:, :-1], volume[:, 1:], atol=1e-5)
    np.testing.assert_allclose(out[:, -1], 0.0, atol=1e-6)
    half = identity.copy()
    half[:, 0, 3] = 1 / 5 if align_corners else 1 / 6  # half a voxel along x: trilinear average
    out = _np(grid_sample(volume, affine_grid(half, (4, 5, 6), align_corners), align_corners=align_corners))
    np.testing.assert_allclose(out[:, :, :, :-1], (volume[:, :, :, :-1] + volume[:, :, :, 1:]) / 2, atol=1e-5)


# A 1 x 4 image [1, 2, 3, 4]; samples at pixel x coordinates -> hand-computed values per padding mode.
# align_corners=False reflects about the outer edges -0.5 and 3.5; True about the centres 0 and 3.
PADDING_CASES = {
    (False, "zeros"): {-0.5: 0.5, -1.0: 0.0, 3.5: 2.0, 4.5: 0.0, 1.25: 2.25},
    (False, "border"): {-0.5: 1.0, -1.0: 1.0, 3.5: 4.0, 4.5: 4.0, -7.0: 1.0},
    (False, "reflection"): {-0.5: 1.0, -1.0: 1.0, -0.75: 1.0, 4.5: 3.5, -2.5: 2.5, 9.0: 2.0},
    (True, "zeros"): {0.0: 1.0, -0.5: 0.5, 3.0: 4.0, 3.25: 3.0, 4.0: 0.0},
    (True, "border"): {0.0: 1.0, -0.5: 1.0, 3.0: 4.0, 5.0: 4.0},
    (True, "reflection"): {-1.0: 2.0, 4.0: 3.0, -0.5: 1.5, 7.5: 2.5, 6.0: 1.0},
}


@pytest.mark.parametrize("align_corners,padding_mode", list(PADDING_CASES))
def test_padding_modes_at_and_beyond_the_border(align_corners, padding_mode):
    cases = PADDING_CASES[(align_corners, padding_mode)]
    image = np.array([1, 2, 3, 4], "float32").reshape(1, 1, 4, 1)
    x = np.array(list(cases), "float32")
    gx = 2 * x / 3 - 1 if align_corners else (2 * x + 1) / 4 - 1
    grid = np.stack([gx, np.zeros_like(gx)], -1).reshape(1, 1, -1, 2)
    out = _np(grid_sample(image, grid, padding_mode=padding_mode, align_corners=align_corners)).reshape(-1)
    np.testing.assert_allclose(out, list(cases.values()), atol=1e-5)


def test_nearest_rounds_half_to_even_like_pytorch():
    image = np.array([1, 2, 3, 4], "float32").reshape(1, 1, 4, 1)
    x = np.array([0.5, 1.5, 2.5, 1.49, -0.5, -0.51, 3.5], "float32")
    grid = np.stack([(2 * x + 1) / 4 - 1, np.zeros_like(x)], -1).reshape(1, 1, -1, 2)
    out = _np(grid_sample(image, grid, mode="nearest")).reshape(-1)
    np.testing.assert_allclose(out, [1, 3, 3, 2, 1, 0, 0])  # -0.5 -> -0 (inside), 3.5 -> 4 (outside)


# ------------------------------------------------------------------------------------------- gradients
def _finite_difference(f, x, indices, eps=1e-6):
    grads = []
    for idx in indices:
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        grads.append((f(plus) - f(minus)) / (2 * eps))
    return np.array(grads)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflection"])
@pytest.mark.parametrize("rank", [2, 3])
def test_gradients_match_finite_differences(rank, padding_mode):
    rng = np.random.default_rng(6)
    shape = (2, 5, 6, 2) if rank == 2 else (2, 3, 4, 5, 2)
    image = rng.uniform(-1, 1, shape)
    theta = np.eye(rank, rank + 1) + rng.normal(0, 0.3, (2, rank, rank + 1))
    out_size = (4, 5) if rank == 2 else (3, 3, 4)
    weights = rng.normal(0, 1, (2,) + out_size + (2,))

    def loss(image, theta):
        grid = affine_grid(theta, out_size)
        return tf.reduce_sum(grid_sample(image, grid, padding_mode=padding_mode) * weights)

    image_t, theta_t = tf.constant(image), tf.constant(theta)
    grid_t = affine_grid(theta_t, out_size)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([image_t, theta_t, grid_t])
        value = loss(image_t, theta_t)
        value_from_grid = tf.reduce_sum(grid_sample(image_t, grid_t, padding_mode=padding_mode) * weights)
    d_image, d_theta = (_np(g) for g in tape.gradient(value, [image_t, theta_t]))
    d_grid = _np(tape.gradient(value_from_grid, grid_t))

    def some(a, k):
        return [tuple(i) for i in np.argwhere(np.ones_like(a, bool))[rng.choice(a.size, k, replace=False)]]

    idx = some(image, 12)
    fd = _finite_difference(lambda v: float(loss(v, theta)), image, idx)
    np.testing.assert_allclose([d_image[i] for i in idx], fd, atol=1e-6)
    idx = [tuple(i) for i in np.argwhere(np.ones_like(theta, bool))]
    fd = _finite_difference(lambda v: float(loss(image, v)), theta, idx)
    np.testing.assert_allclose([d_theta[i] for i in idx], fd, atol=1e-5, rtol=1e-5)
    grid = _np(grid_t)
    idx = some(grid, 12)
    def f(g):
        return float(tf.reduce_sum(grid_sample(image, g, padding_mode=padding_mode) * weights))

    np.testing.assert_allclose([d_grid[i] for i in idx], _finite_difference(f, grid, idx), atol=1e-5, rtol=1e-5)
    assert np.abs(d_theta).max() > 0 and np.abs(d_grid).max() > 0


# ----------------------------------------------------------------------------------- bilinear_sample
def test_bilinear_sample_in_pixel_coordinates():
    image = np.arange(20, dtype="float32").reshape(1, 4, 5, 1)
    coords = np.array([[[[1.5, 2.0], [0, 0]], [[4, 3], [-0.5, 0]]]], "float32")  # (1, 2, 2, 2) points
    out = _np(bilinear_sample(image, coords))
    assert out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out.reshape(-1), [11.5, 0.0, 19.0, 0.0])
    out = _np(bilinear_sample(image, np.array([[[-3.0, 1.0], [7.0, 9.0]]], "float32"), padding_mode="border"))
    np.testing.assert_allclose(out.reshape(-1), [5.0, 19.0])
    volume = np.arange(24, dtype="float32").reshape(1, 2, 3, 4, 1)  # index = 12 z + 4 y + x
    out = _np(bilinear_sample(volume, np.array([[[0.5, 1.0, 0.25]]], "float32")))
    np.testing.assert_allclose(out.reshape(-1), [12 * 0.25 + 4 + 0.5])


def test_mixed_precision_images_keep_float32_coordinates():
    image = tf.cast(np.random.default_rng(8).uniform(0, 1, (1, 6, 6, 2)), tf.bfloat16)
    grid = affine_grid(_theta(1, 0, 0, 0, 1, 0), (6, 6))
    out = grid_sample(image, grid)
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(_np(tf.cast(out, tf.float32)), _np(tf.cast(image, tf.float32)), atol=1e-2)


# ------------------------------------------------------------------------------------------- bad input
def test_bad_input_raises_value_error_naming_received_and_allowed():
    image = np.zeros((1, 4, 4, 1), "float32")
    grid = np.zeros((1, 3, 3, 2), "float32")
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 2, 3\).*received shape \(1, 3, 3\)"):
        affine_grid(np.zeros((1, 3, 3), "float32"), (4, 4))
    with pytest.raises(ValueError, match=r"theta must have shape \(N, 3, 4\).*received shape \(1, 2, 3\)"):
        affine_grid(np.zeros((1, 2, 3), "float32"), (2, 4, 4))
    with pytest.raises(ValueError, match=r"output_shape must be .*received \(4,\)"):
        affine_grid(np.zeros((1, 2, 3), "float32"), (4,))
    with pytest.raises(ValueError, match=r"grid must have shape \(N, \.\.\., 2\).*received shape \(1, 3, 3, 3\)"):
        grid_sample(image, np.zeros((1, 3, 3, 3), "float32"))
    with pytest.raises(ValueError, match=r"grid must have shape \(N, \.\.\., 3\).*received shape \(1, 2, 3, 3, 2\)"):
        grid_sample(np.zeros((1, 2, 4, 4, 1), "float32"), np.zeros((1, 2, 3, 3, 2), "float32"))
    with pytest.raises(ValueError, match=r"mode must be one of 'bilinear', 'nearest'; received 'bicubic'"):
        grid_sample(image, grid, mode="bicubic")
    with pytest.raises(
        ValueError, match=r"padding_mode must be one of 'zeros', 'border', 'reflection'; received 'wrap'"
    ):
        grid_sample(image, grid, padding_mode="wrap")
    with pytest.raises(
        ValueError, match=r"images must be \(N, H, W, C\) or \(N, D, H, W, C\), received shape \(4, 4\)"
    ):
        grid_sample(np.zeros((4, 4), "float32"), grid)
    with pytest.raises(ValueError, match="same batch size, received 2 and 1"):
        grid_sample(np.zeros((2, 4, 4, 1), "float32"), grid)
    with pytest.raises(ValueError, match=r"padding_mode must be one of 'zeros', 'border'; received 'reflection'"):
        bilinear_sample(image, grid, padding_mode="reflection")


@pytest.mark.parametrize("align_corners", [False, True])
def test_dynamic_spatial_sizes_give_the_same_result(align_corners):
    image = np.random.default_rng(9).uniform(0, 1, (2, 5, 6, 3)).astype("float32")
    grid = np.random.default_rng(10).uniform(-2.5, 2.5, (2, 4, 4, 2)).astype("float32")
    spec = [tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None, 2))]
    for pad in ("zeros", "border", "reflection"):
        dynamic = tf.function(
            lambda i, g: grid_sample(i, g, padding_mode=pad, align_corners=align_corners), input_signature=spec
        )
        static = grid_sample(image, grid, padding_mode=pad, align_corners=align_corners)
        np.testing.assert_allclose(_np(dynamic(image, grid)), _np(static), atol=1e-6, err_msg=pad)
    one_column = np.arange(5, dtype="float32").reshape(1, 5, 1, 1)  # W = 1: reflection maps every x to 0
    dynamic = tf.function(
        lambda i, g: grid_sample(i, g, padding_mode="reflection", align_corners=True),
        input_signature=[tf.TensorSpec((None, None, None, 1)), spec[1]],
    )
    out = _np(dynamic(one_column, np.array([[[[0.7, 0.0], [-3.0, 1.0]]]], "float32")))
    np.testing.assert_allclose(out.reshape(-1), [2.0, 4.0])
