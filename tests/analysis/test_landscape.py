import keras
import numpy as np
import pytest

from vras_keras.analysis import landscape


def _linear_model(w):
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(1, use_bias=False, name="w")
    model = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(np.asarray(w, "float32").reshape(3, 1))
    return model


def test_surface_equals_analytic_quadratic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype("float32")
    w_star = np.array([0.5, -1.0, 2.0])
    y = (x @ w_star + 0.1 * rng.standard_normal(40)).astype("float32")[:, None]
    model = _linear_model(w_star)
    u = [np.array([[1.0], [0.0], [0.5]])]
    v = [np.array([[0.0], [2.0], [-1.0]])]
    result = landscape.surface_2d(model, (x, y), "mse", directions=(u, v), grid=5, range_=1.0, progress=False)
    # MSE of a linear model is a quadratic in (α, β): compute it in closed form.
    for i, a in enumerate(result.alphas):
        for j, b in enumerate(result.betas):
            w = w_star + a * u[0][:, 0] + b * v[0][:, 0]
            expected = np.mean((x.astype(np.float64) @ w - y[:, 0]) ** 2)
            np.testing.assert_allclose(result.losses[i, j], expected, rtol=1e-5)
    assert result.losses.shape == (5, 5)
    # the surface is a convex quadratic: no negative curvature anywhere
    stats = landscape.curvature_stats(result)
    assert stats["negative_share"] == 0.0 and stats["mean_abs_ratio"] == 0.0


def test_curvature_detects_saddle():
    axis = np.linspace(-1, 1, 9)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    saddle = landscape.Landscape(axis, axis, a**2 - b**2)
    stats = landscape.curvature_stats(saddle)
    assert stats["negative_share"] == 1.0 and stats["center_ratio"] == pytest.approx(1.0)
    bowl = landscape.Landscape(axis, axis, a**2 + 4 * b**2)
    assert landscape.curvature_stats(bowl)["negative_share"] == 0.0


def _small_cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="fc")(x))


def test_filter_normalisation_matches_weight_filter_norms():
    model = _small_cnn()
    direction = landscape.random_direction(model, seed=3)
    for variable, d in zip(model.trainable_variables, direction):
        w = np.asarray(variable)
        if w.ndim >= 2:
            axes = tuple(range(w.ndim - 1))
            np.testing.assert_allclose(
                np.sqrt((d**2).sum(axis=axes)), np.sqrt((w.astype(np.float64) ** 2).sum(axis=axes)), rtol=1e-10
            )
        else:  # biases and BN gamma/beta are left out by default
            assert not np.any(d)
    with_bn = landscape.random_direction(model, seed=3, include_bias_and_bn=True)
    gamma_index = [v.path for v in model.trainable_variables].index("bn/gamma")
    np.testing.assert_array_equal(with_bn[gamma_index], np.asarray(model.trainable_variables[gamma_index]))


def test_weights_bit_identical_after_scan_and_after_error():
    model = _small_cnn()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, 16)
    before = [np.array(v, copy=True) for v in model.variables]
    result = landscape.surface_2d(model, (x, y), "sparse_categorical_crossentropy", grid=3, progress=False)
    assert result.losses.shape == (3, 3) and np.all(np.isfinite(result.losses))
    assert np.all((result.accuracies >= 0) & (result.accuracies <= 1))
    for b, v in zip(before, model.variables):
        assert np.array_equal(b, np.asarray(v)), v.path

    def exploding_loss(y_true, y_pred):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        landscape.curve_1d(model, (x, y), exploding_loss, points=3, progress=False)
    for b, v in zip(before, model.variables):
        assert np.array_equal(b, np.asarray(v)), v.path


def test_centre_of_scan_is_the_trained_loss_and_files_round_trip(tmp_path):
    model = _small_cnn()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (8, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, 8)
    loss = keras.losses.SparseCategoricalCrossentropy()
    reference = float(loss(y, model(x, training=False)))
    curve = landscape.curve_1d(model, (x, y), loss, points=5, progress=False)
    assert curve.losses[2] == pytest.approx(reference, rel=1e-5)
    surface = landscape.surface_2d(model, (x, y), loss, grid=3, progress=False)
    assert surface.losses[1, 1] == pytest.approx(reference, rel=1e-5)
    paths = landscape.save(surface, tmp_path)
    assert paths["contour"].stat().st_size > 1000 and paths["surface"].stat().st_size > 1000
    loaded = landscape.load(paths["npz"])
    np.testing.assert_array_equal(loaded.losses, surface.losses)
    assert landscape.save(curve, tmp_path / "c")["curve"].is_file()


def test_bad_arguments():
    model = _small_cnn()
    with pytest.raises(ValueError, match="pair"):
        landscape.surface_2d(model, np.zeros((2, 8, 8, 3)), progress=False)
    with pytest.raises(ValueError, match="grid must be >= 2"):
        landscape.surface_2d(model, (np.zeros((2, 8, 8, 3)), np.zeros(2, int)), grid=1, progress=False)
    with pytest.raises(FileNotFoundError, match="no landscape file"):
        landscape.load("/nonexistent/landscape.npz")
