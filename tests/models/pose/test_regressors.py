"""pose_regression / pose_heatmap / pose_integral: harness at tiny size (incl. TFLite), training, bad input."""

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.layers import conv_norm_act, image_input
from vras_keras.losses.pose import keypoint_targets
from vras_keras.models.pose import regressors as R
from vras_keras.testing import check_model

K = 5
SHAPE = (32, 32, 3)


def tiny_backbone():
    """A 3-stage conv stack standing in for a truncated ResNet (stride 8, {"C3": map})."""
    inputs, x = image_input(SHAPE)
    for i in (1, 2, 3):
        x = conv_norm_act(x, 8, 3, strides=2, name=f"tiny{i}")
    return keras.Model(inputs, {"C3": x}, name="tiny_backbone")


def _build(name, **kwargs):
    extra = {} if name == "pose_regression" else {"num_upsample": 1, "head_filters": 16}
    return models.get(name, backbone=tiny_backbone(), num_joints=K, input_shape=SHAPE, level="C3", **extra, **kwargs)


def _data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n,) + SHAPE).astype("float32")
    kp = rng.uniform(2, 30, (n, K, 2)).astype("float32")
    vis = (rng.uniform(size=(n, K)) > 0.2).astype("float32")
    kp[vis == 0] = np.nan  # invisible joints may carry any value
    return images, kp, vis


@pytest.mark.parametrize("name", ["pose_regression", "pose_heatmap", "pose_integral"])
def test_pose_model_harness(name):
    images, kp, vis = _data()
    probe = _build(name)
    targets = {k: np.asarray(v) for k, v in R.training_targets(probe, kp, vis).items()}
    shapes = [(None, 8, 8, K), (None, K, 3)] if name != "pose_regression" else [(None, K, 3)]
    model = check_model(
        lambda: _build(name),
        images,
        targets=targets,
        compile_kwargs=R.compile_args(probe, optimizer=keras.optimizers.Adam(1e-2)),
        expected_output_shapes=shapes,
    )
    assert R.model_kind(model) == name.split("_")[1]
    out = R.keypoints_model(model)(images)
    assert tuple(out.shape) == (4, K, 3)
    conf = keras.ops.convert_to_numpy(out)[..., 2]
    assert np.all((conf > 0) & (conf <= 1))


def test_heatmap_and_integral_share_the_head_and_decode_in_image_pixels():
    heat, integ = _build("pose_heatmap"), _build("pose_integral")
    def heads(model):
        return [layer.name for layer in model.layers if "head" in layer.name]

    assert heads(heat) == heads(integ)
    assert R.heatmap_stride(heat) == 4.0
    # a heatmap peaked at grid (x=5, y=2) decodes to the centre of image pixels [20, 24) x [8, 12)
    h = np.full((1, 8, 8, K), -30.0, np.float32)
    h[0, 2, 5, :] = 30.0
    for model in (heat, integ):
        decoded = keras.ops.convert_to_numpy(model.get_layer("keypoints")(h))
        np.testing.assert_allclose(decoded[0, :, :2], np.tile([22.0, 10.0], (K, 1)), atol=1e-4)
        np.testing.assert_allclose(decoded[0, :, 2], 1.0, atol=1e-4)


def test_compile_args_per_kind():
    reg, heat, integ = (_build(n) for n in ("pose_regression", "pose_heatmap", "pose_integral"))
    assert set(R.compile_args(reg)["loss"]) == {"keypoints"}
    assert set(R.compile_args(heat)["loss"]) == {"heatmaps"}
    args = R.compile_args(integ, target="one_hot", coordinate_weight=0.5)
    assert set(args["loss"]) == {"heatmaps", "keypoints"} and args["loss_weights"]["keypoints"] == 0.5
    assert args["loss"]["heatmaps"].kind == "one_hot" and args["loss"]["heatmaps"].stride == 4.0


def test_bad_input():
    model = _build("pose_integral")
    _, kp, vis = _data()
    with pytest.raises(ValueError, match=r"shape \(4, 3, 2\) have 3 joints, but model 'pose_integral' predicts 5"):
        R.training_targets(model, kp[:, :3], vis[:, :3])
    with pytest.raises(ValueError, match=r"received shapes \(4, 5, 3\) and \(4, 5\)"):
        R.training_targets(model, np.zeros((4, K, 3), np.float32), vis)
    bad = np.nan_to_num(kp)
    bad[0, 0] = np.nan
    vis_all = np.ones_like(vis)
    with pytest.raises(ValueError, match=r"shape \(4, 5, 2\) has NaN"):
        keypoint_targets(bad, vis_all, num_joints=R.num_joints_of(model))
    # fit with targets for the wrong joint count: the loss names the shapes
    model.compile(**R.compile_args(model))
    wrong = keypoint_targets(np.zeros((2, 3, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"has 3 joints, but the model predicts 5"):
        model.fit(np.zeros((2,) + SHAPE, np.float32), {"heatmaps": wrong, "keypoints": wrong}, verbose=0)
    with pytest.raises(ValueError, match="weights"):
        _build("pose_heatmap", weights="imagenet")
    with pytest.raises(ValueError, match="input_shape"):
        R.pose_regression(backbone=tiny_backbone(), num_joints=K, input_shape=(64, 64, 3), level="C3")
    with pytest.raises(ValueError, match=r"no feature level\(s\) \['C5'\]"):
        R.pose_regression(backbone=tiny_backbone(), num_joints=K, input_shape=SHAPE, level="C5")


def test_training_dataset_from_stick_figures_fits():
    from vras_keras.data import datasets, shapes

    k = len(shapes.JOINT_NAMES)
    model = models.get("pose_integral", backbone=tiny_backbone(), num_joints=k, input_shape=SHAPE, level="C3",
                       num_upsample=1, head_filters=8)
    model.compile(**R.compile_args(model))
    ds = R.training_dataset(model, datasets.load("pose", num_samples=4, image_size=32, batch_size=2))
    images, targets = next(iter(ds))
    assert set(targets) == {"heatmaps", "keypoints"} and tuple(targets["keypoints"].shape) == (2, k, 3)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    wrong = models.get("pose_regression", backbone=tiny_backbone(), num_joints=k - 1, input_shape=SHAPE, level="C3")
    with pytest.raises(ValueError, match=f"have {k} joints, but model 'pose_regression' predicts {k - 1}"):
        R.training_dataset(wrong, datasets.load("pose", num_samples=2, image_size=32, batch_size=2))


def _resnet18_integral():
    return models.get("pose_integral", backbone="resnet18", width=0.125, level="C4", num_joints=K,
                      input_shape=SHAPE, num_upsample=1, head_filters=16)


def test_registry_backbone_resnet18_truncated_at_c4():
    """The documented use: a backbone by registry id, truncated (no C5 layers in the pose model)."""
    images, _, _ = _data(n=2)
    model = _resnet18_integral()
    names = [layer.name for layer in model.layers]
    assert any(n.startswith("stage4") for n in names) and not any(n.startswith("stage5") for n in names)
    assert R.heatmap_stride(model) == 8.0
    assert tuple(model(images)["heatmaps"].shape) == (2, 4, 4, K)
    reg = models.get("pose_regression", backbone="resnet18", width=0.125, level="C4", num_joints=K, input_shape=SHAPE)
    assert tuple(reg(images)["keypoints"].shape) == (2, K, 3)


@pytest.mark.slow
def test_resnet18_pose_integral_harness():
    images, kp, vis = _data(n=2)
    probe = _resnet18_integral()
    targets = {k: np.asarray(v) for k, v in R.training_targets(probe, kp, vis).items()}
    check_model(_resnet18_integral, images, targets=targets, compile_kwargs=R.compile_args(probe),
                expected_output_shapes=[(None, 4, 4, K), (None, K, 3)])
