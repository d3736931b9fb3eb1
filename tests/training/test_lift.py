"""LIFT's staged training (`vras_keras.training.lift`): one network per stage, scale jitter, per-keypoint scale,
augmentation, the rotation-consistency term, the options dataclass and the validation scorer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras import models
from vras_keras.training.lift import train_lift

TINY = {"patch_size": 24, "crop_size": 12.0, "descriptor_size": 8, "descriptor_dim": 16, "width": 0.25}


def test_staged_training_changes_one_network_per_stage():
    from vras_keras.data.pairs import quadruplet_dataset

    data = quadruplet_dataset("train", num_pairs=2, per_pair=6, patch_size=24, image_size=64, patch_dtype="uint8")
    model = models.get("lift", **TINY)
    names = ("detector", "orientation", "descriptor")
    for stage, steps in (("descriptor", (2, 0, 0)), ("orientation", (0, 2, 0)), ("detector", (0, 0, 2))):
        before = {n: [np.array(w) for w in model.get_layer(n).trainable_weights] for n in names}
        history = train_lift(model, data, descriptor_steps=steps[0], orientation_steps=steps[1],
                             detector_steps=steps[2], batch_size=6, log=None)
        assert np.isfinite(history[stage][-1][1])
        for n in names:
            changed = any(
                not np.array_equal(a, np.asarray(b)) for a, b in zip(before[n], model.get_layer(n).trainable_weights)
            )
            assert changed == (n == stage), (stage, n, changed)
    assert all(model.get_layer(n).trainable for n in names)  # trainable flags restored


def test_descriptor_stage_scale_jitter_zooms_the_second_crop():
    from vras_keras.training.lift import LiftStages, _centre_crops

    model = models.get("lift", **TINY)
    crop = model.get_layer("crop")
    patches = np.random.default_rng(3).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    angles = tf.constant([0.3, -1.0])
    plain = _centre_crops(patches, crop, angles)
    same = _centre_crops(patches, crop, angles, scales=tf.constant([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(same), np.asarray(plain), atol=1e-3)  # 0..255 values
    # A crop at scale 2 with support s is the crop of support 2 s.
    from vras_keras.ops.keypoints import oriented_patches

    wide = oriented_patches(patches, np.full((2, 1, 2), 11.5, "float32"), angles[:, None], output_size=crop.output_size,
                            support=2 * crop.support)[:, 0]
    np.testing.assert_allclose(np.asarray(_centre_crops(patches, crop, angles, scales=tf.constant([2.0, 2.0]))),
                               np.asarray(wide), atol=1e-3)
    stages = LiftStages(model, scale_jitter=0.25)
    scales = np.asarray(stages._extra("descriptor", 500, np.random.default_rng(0))[-1])
    assert scales.min() >= 1 / 1.25 - 1e-6 and scales.max() <= 1.25 + 1e-6 and scales.std() > 0.05
    with pytest.raises(ValueError, match="scale_jitter"):
        LiftStages(model, scale_jitter=-1.0)


def test_view2_positive_crops_follow_the_local_rotation_and_keep_the_foreshortening():
    """`positive_view="view2"`: the view-2 patch of a point, cropped at the rotation of the local affine map, is
    the view-1 crop when the views differ by a rotation (hand-made by cv2.warpAffine); with the rotation's sign
    flipped it is not. Under a foreshortening (x squeezed by cos 50 deg) it stays unlike the rectified crop
    (the descriptor must learn that change). Training runs with it."""
    import cv2
    from scipy import ndimage

    from vras_keras.training.lift import LiftTrainingOptions, _centre_crops, view2_crops

    model = models.get("lift", **TINY)
    crop = model.get_layer("crop")
    image = ndimage.gaussian_filter(np.random.default_rng(4).uniform(0, 255, (24, 24)), 1.0)
    image = np.repeat(image[..., None], 3, -1).astype("float32")
    c = 11.5

    def warp(matrix):  # view 2 = view 1 under `matrix` (2 x 2) about the patch centre
        m = np.concatenate([matrix, (np.array([c, c]) - matrix @ [c, c])[:, None]], 1)
        return cv2.warpAffine(image, m, (24, 24), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def corr(a, b):
        a, b = (np.asarray(t, np.float64).ravel() for t in (a, b))
        a, b = a - a.mean(), b - b.mean()
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    theta = np.deg2rad(35.0)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    p1, p2 = image[None], warp(rotation)[None]
    angles = tf.constant([0.4])
    reference = _centre_crops(p1, crop, angles)
    assert corr(view2_crops(p2, rotation[None], crop, angles), reference) > 0.97
    assert corr(view2_crops(p2, rotation.T[None], crop, angles), reference) < 0.8
    squeeze = np.diag([np.cos(np.deg2rad(50.0)), 1.0]).astype(np.float32)
    assert corr(view2_crops(warp(squeeze)[None], squeeze[None], crop, angles), reference) < 0.9
    with pytest.raises(ValueError, match="positive_view"):
        LiftTrainingOptions(positive_view="both")
    from vras_keras.data.pairs import quadruplet_dataset

    data = quadruplet_dataset("train", num_pairs=2, per_pair=6, patch_size=24, image_size=64, patch_dtype="uint8")
    history = train_lift(model, data, descriptor_steps=2, orientation_steps=0, detector_steps=0, batch_size=6,
                         positive_view="view2", log=None)
    assert np.isfinite(history["descriptor"][-1][1])


def test_shifted_negative_adds_a_hinge_on_the_positive_crop_moved_a_few_pixels():
    """`shift_negative`: the descriptor stage's extra draws keep the earlier stream (the same shared angle,
    jitters and scales) plus offsets of `shift_negative`-`2 shift_negative` px; its loss is the plain loss plus
    `shift_weight` x the hinge on P1's descriptor vs the view-2 crop moved by the offset, computed here by hand."""
    from vras_keras.data.pairs import quadruplet_dataset
    from vras_keras.losses.matching import negative_hinge_loss
    from vras_keras.training.lift import LiftStages, LiftTrainingOptions, _centre_crops, _tensors, view2_crops

    model = models.get("lift", **TINY)
    plain = LiftStages(model, positive_view="view2", scale_jitter=0.25)
    shifted = LiftStages(model, positive_view="view2", scale_jitter=0.25, shift_negative=3.0, shift_weight=0.5)
    extra = shifted._extra("descriptor", 400, np.random.default_rng(1))
    assert len(extra) == 5
    for a, b in zip(plain._extra("descriptor", 400, np.random.default_rng(1)), extra[:4]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    radius = np.linalg.norm(np.asarray(extra[4]), axis=1)
    assert radius.min() >= 3.0 - 1e-5 and radius.max() <= 6.0 + 1e-5 and radius.std() > 0.5

    data = quadruplet_dataset("train", num_pairs=2, per_pair=6, patch_size=24, image_size=64, patch_dtype="uint8")
    batch = _tensors({k: v[:6] for k, v in data.items()})
    extra = shifted._extra("descriptor", 6, np.random.default_rng(2))
    shared, relative, shift, scales, offset = extra
    crop, descriptor = model.get_layer("crop"), model.get_layer("descriptor")
    d1 = descriptor(_centre_crops(batch["p1"], crop, shared), training=False)
    moved = descriptor(view2_crops(batch["p2"], batch["affine"], crop, shared + relative, shift + offset, scales),
                       training=False)
    expected = (float(plain._descriptor_loss(batch, *extra[:4], training=False))
                + 0.5 * float(negative_hinge_loss(d1, moved, margin=1.0)))
    assert float(shifted._descriptor_loss(batch, *extra, training=False)) == pytest.approx(expected, rel=1e-4)
    assert float(negative_hinge_loss(d1, moved, margin=1.0)) > 0  # an untrained descriptor: the hinge is active
    for bad in ({"shift_negative": -1.0}, {"shift_weight": -0.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LiftTrainingOptions(**bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            LiftStages(model, **bad)
    history = train_lift(model, data, descriptor_steps=2, orientation_steps=0, detector_steps=0, batch_size=6,
                         positive_view="view2", shift_negative=3.0, log=None)
    assert np.isfinite(history["descriptor"][-1][1])


def test_training_with_per_keypoint_scale():
    from vras_keras.data.pairs import quadruplet_dataset
    from vras_keras.training.lift import centre_scales, keypoint_scale_factors

    model = models.get("lift", **dict(TINY, patch_size=32))
    detector = model.get_layer("detector")
    ys, xs = np.mgrid[0:32, 0:32].astype(float)
    blobs = np.stack(
        [
            np.repeat((60 + 150 * np.exp(-((xs - 15.5) ** 2 + (ys - 15.5) ** 2) / (2 * s**2)))[..., None], 3, -1)
            for s in (1.0, 2.0, 4.0)
        ]
    )
    index = centre_scales(detector, blobs)
    assert index[0] < index[1] < index[2], index  # larger blobs respond at coarser DoG channels
    with pytest.raises(ValueError, match="too small"):
        centre_scales(detector, blobs[:, :20, :20])
    data = quadruplet_dataset("train", num_pairs=2, per_pair=6, patch_size=32, image_size=96, patch_dtype="uint8")
    factors = keypoint_scale_factors(detector, data, reference_sigma=2.0, scale_limits=(0.7, 1.4))
    assert set(factors) == {"scale1", "scale2", "scale2r", "scale3"}
    for v in factors.values():
        assert v.shape == (len(data["p1"]),) and v.min() >= 0.7 - 1e-6 and v.max() <= 1.4 + 1e-6
    before = [np.array(w) for w in model.get_layer("descriptor").trainable_weights]
    history = train_lift(model, data, descriptor_steps=2, orientation_steps=1, detector_steps=0, batch_size=6,
                         reference_sigma=2.0, log=None)
    assert np.isfinite(history["descriptor"][-1][1]) and np.isfinite(history["orientation"][-1][1])
    assert any(
        not np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.get_layer("descriptor").trainable_weights)
    )


def test_training_with_augmentation(monkeypatch):
    from vras_keras.data.pairs import quadruplet_dataset
    from vras_keras.training import lift as training_lift

    data = quadruplet_dataset("train", num_pairs=2, per_pair=6, patch_size=24, image_size=64, patch_dtype="uint8")
    model = models.get("lift", **TINY)
    before = [np.array(w) for w in model.get_layer("descriptor").trainable_weights]
    calls = []
    original = training_lift.augment_patches
    monkeypatch.setattr(
        training_lift, "augment_patches", lambda patches, *a, **k: calls.append(1) or original(patches, *a, **k)
    )
    history = train_lift(model, data, descriptor_steps=2, orientation_steps=1, detector_steps=1, batch_size=6,
                         augment=1.0, log=None)
    # every patch array a stage reads: P1, rectified P2, P3 per descriptor step; P1, P2 and (consistency
    # term) rectified P2 per orientation step; none in the detector stage
    assert len(calls) == 2 * 3 + 1 * 3
    assert all(np.isfinite(history[s][-1][1]) for s in ("descriptor", "orientation", "detector"))
    assert any(
        not np.array_equal(a, np.asarray(b)) for a, b in zip(before, model.get_layer("descriptor").trainable_weights)
    )
    with pytest.raises(ValueError, match="augment"):
        train_lift(model, data, descriptor_steps=1, orientation_steps=0, detector_steps=0, augment=-1.0, log=None)


def test_orientation_consistency_term_teaches_rotation_equivariance():
    # The supervised term of the orientation stage: crops of the same pixels at angles a1, a2 must give
    # canonical angles a + estimate that agree. With it the estimates follow the rotation of the crop much
    # better than with the paper's term alone after the same steps.
    from vras_keras.data.pairs import quadruplet_dataset
    from vras_keras.training.lift import LiftStages, _centre_crops

    small = dict(TINY, patch_size=32, crop_size=16.0, descriptor_size=16, width=0.5)
    data = quadruplet_dataset("train", num_pairs=2, per_pair=16, patch_size=32, image_size=80, patch_dtype="uint8")
    p1 = tf.constant(data["p1"].astype("float32"))
    angles = np.random.default_rng(3).uniform(-np.pi, np.pi, len(p1)).astype("float32")

    def equivariance_error(model):  # mean 1 - cos of the canonical-angle disagreement, upright vs rotated crop
        ori, crop = model.get_layer("orientation"), model.get_layer("crop")
        v0 = ori(_centre_crops(p1, crop), training=False)
        va = ori(_centre_crops(p1, crop, tf.constant(angles)), training=False)
        t0 = np.arctan2(v0[:, 1], v0[:, 0])
        ta = np.arctan2(va[:, 1], va[:, 0]) + angles
        return float(np.mean(1 - np.cos(t0 - ta)))

    errors = {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        model = models.get("lift", **small)
        before = equivariance_error(model)
        history = train_lift(model, data, descriptor_steps=0, orientation_steps=300, detector_steps=0, batch_size=16,
                             consistency_weight=weight, scale_jitter=0.0, log=None)
        assert np.isfinite(history["orientation"][-1][1])
        errors[weight] = (before, equivariance_error(model))
    assert errors[1.0][0] > 0.5  # untrained: estimates ignore the rotation (uniform disagreement gives 1)
    assert errors[1.0][1] < 0.5 * errors[1.0][0], errors
    assert errors[1.0][1] < errors[0.0][1], errors
    stages = LiftStages(models.get("lift", **TINY), consistency_weight=1.0)
    assert len(stages._extra("orientation", 4, np.random.default_rng(0))) == 2
    with pytest.raises(ValueError, match="consistency_weight"):
        LiftStages(models.get("lift", **TINY), consistency_weight=-1.0)


def test_options_are_written_once_and_checked():
    from vras_keras.training.lift import LiftStages, LiftTrainingOptions

    options = LiftTrainingOptions.from_dict({"augment": 1.0, "scale_limits": [0.8, 1.2]})
    assert options.augment == 1.0 and options.scale_limits == (0.8, 1.2)
    # every LiftStages argument among the options is a LiftStages keyword
    LiftStages(models.get("lift", **TINY), **options.stage_kwargs())
    with pytest.raises(ValueError, match=r"unknown keys \['augmnt'\]"):
        LiftTrainingOptions.from_dict({"augmnt": 1.0})
    with pytest.raises(ValueError, match="scale_limits"):
        LiftTrainingOptions(scale_limits=(1.4, 0.7))
    with pytest.raises(ValueError, match="reference_sigma"):
        LiftTrainingOptions(reference_sigma=0)
    with pytest.raises(ValueError, match="hardest_in_batch"):
        LiftTrainingOptions(hardest_in_batch="yes")
    data = {k: np.zeros((4, 24, 24, 3), np.uint8) for k in ("p1", "p2", "p2_rectified", "p3", "p4")}
    data["affine"] = np.tile(np.eye(2, dtype=np.float32), (4, 1, 1))
    with pytest.raises(ValueError, match="not both"):
        train_lift(models.get("lift", **TINY), data, options=options, augment=1.0, log=None)
    with pytest.raises(ValueError, match="unknown keys"):
        train_lift(models.get("lift", **TINY), data, descriptor_steps=1, augmnt=1.0, log=None)


def test_evaluate_views_scores_identical_and_shifted_views():
    """Two identical views: every keypoint is found again and matched to itself (MMA@1 = repeatability = 1).
    View 2 = view 1 shifted by 4 px without telling the scorer: no match is within 3 px."""
    from scipy import ndimage

    from vras_keras.training.lift import evaluate_views

    model = models.get("lift", **TINY)
    noise = ndimage.gaussian_filter(np.random.default_rng(0).uniform(0, 255, (72, 96)), 2.0)
    image = np.repeat(np.clip((noise - noise.mean()) * 6 + 128, 0, 255).astype(np.uint8)[..., None], 3, -1)
    same = {"image1": image, "image2": image.copy(), "homography": np.eye(3)}
    scores = evaluate_views(model, [same, same], max_keypoints=40)
    assert scores["keypoints"] > 5
    assert scores["mma@1"] == 1.0 and scores["repeatability"] == 1.0 and scores["matches"] == scores["keypoints"]
    shifted = dict(same, image2=np.roll(image, 4, axis=1))
    assert evaluate_views(model, [shifted], max_keypoints=40)["mma@3"] < 0.2
    assert evaluate_views(model, [])["mma@3"] == 0.0
