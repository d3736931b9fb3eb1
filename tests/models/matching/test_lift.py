"""LIFT: the patch pipeline, sub-networks through the harness, end-to-end gradients, the detector stage keeping the DoG
front end, inference on whole images (bad inputs included), matching and the exportable inference model."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from vras_keras import models
from vras_keras.losses import matching as L
from vras_keras.models.matching import lift as M
from vras_keras.testing import check_layer, check_model
from vras_keras.training.lift import train_lift

TINY = {"patch_size": 24, "crop_size": 12.0, "descriptor_size": 8, "descriptor_dim": 16, "width": 0.25}


def _textured(h=48, w=48, seed=0):
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.uniform(0, 255, (h, w)), 1.5)
    return np.clip((noise - noise.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def test_registered_and_subnetworks_accessible():
    assert "lift" in models.list_models(task="matching")
    model = models.get("lift", **TINY)
    out = model(np.random.default_rng(0).uniform(0, 255, (3, 24, 24, 3)).astype("float32"))
    assert tuple(out["score_map"].shape) == (3, 24, 24, 1)
    assert tuple(out["keypoint"].shape) == (3, 2) and tuple(out["angle"].shape) == (3,)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out["descriptor"]), axis=1), 1.0, atol=1e-5)
    for name in ("detector", "orientation", "descriptor"):
        assert isinstance(model.get_layer(name), keras.Model)
    with pytest.raises(ValueError, match="divisible by 8"):
        models.get("lift", descriptor_size=12)


def test_full_model_keras_round_trip():
    model = models.get("lift", **TINY)
    x = np.random.default_rng(1).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lift.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    for key, value in model(x).items():
        np.testing.assert_allclose(np.asarray(loaded(x)[key]), np.asarray(value), atol=1e-5)
    assert loaded.get_layer("descriptor").count_params() == model.get_layer("descriptor").count_params()


@pytest.mark.parametrize("part", ["descriptor", "orientation"])
def test_subnetwork_harness_with_tflite(part):
    builder = {"descriptor": lambda: M.lift_descriptor(input_size=8, descriptor_dim=16, width=0.25),
               "orientation": lambda: M.lift_orientation(input_size=8, width=0.25)}[part]
    x = np.random.default_rng(2).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    check_model(builder, x, expected_output_shapes=(None, 16 if part == "descriptor" else 2),
                run_mixed_precision=False, run_saved_model=False)  # SavedModel: covered by the detector test


def test_detector_harness():
    x = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    # Adam 1e-3 (not the harness's 1e-2): the trainable 27 x 27 DoG front end overshoots at 1e-2.
    check_model(lambda: M.lift_detector(width=0.25), x, expected_output_shapes=(None, None, None, 1),
                run_jit=False, run_tflite=False,  # dynamic H, W: TFLite is checked on the inference model
                compile_kwargs={"optimizer": keras.optimizers.Adam(1e-3), "loss": "mse"})


def test_detector_dog_front_end_is_zero_on_flat_images():
    kernel = M.dog_kernel()
    assert kernel.shape == (27, 27, 3, 4)
    np.testing.assert_allclose(kernel.sum(axis=(0, 1, 2)), 0.0, atol=1e-5)  # differences of unit-sum Gaussians
    detector = M.lift_detector(width=0.25)
    np.testing.assert_allclose(detector.get_layer("det_dog").get_weights()[0], kernel)


def test_end_to_end_gradient_reaches_all_three_networks():
    """A loss on the descriptors only: the detector's gradient can only come through soft-argmax and the
    samplers, the orientation's through the rotating sampler."""
    model = models.get("lift", **TINY)
    rng = np.random.default_rng(4)
    x = tf.constant(rng.uniform(0, 255, (4, 24, 24, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        loss = L.orientation_loss(out["descriptor"][:2], out["descriptor"][2:])
    for name in ("detector", "orientation", "descriptor"):
        variables = model.get_layer(name).trainable_variables
        grads = tape.gradient(loss, variables)
        kernels = [g for v, g in zip(variables, grads) if "kernel" in v.path]
        assert kernels and all(g is not None for g in kernels), name
        assert all(np.isfinite(np.asarray(g)).all() for g in kernels), name
        assert any(np.abs(np.asarray(g)).max() > 0 for g in kernels), f"zero gradient for the {name}"


def test_detect_and_describe_and_bad_inputs():
    model = models.get("lift", **TINY)
    gray = _textured()
    features = M.detect_and_describe(model, gray, max_keypoints=10, min_score=None)
    assert (
        0 < len(features) <= 10
        and features.keypoints.shape[1] == 5
        and features.descriptors.shape == (len(features), 16)
    )
    assert "converted" in features.message  # grayscale → RGB
    xy = features.keypoints[:, :2]
    assert np.all(xy >= 6) and np.all(xy <= 48 - 1 - 6)  # half a crop from the border
    np.testing.assert_allclose(features.keypoints[:, 2], 12.0)
    # opaque RGBA and float [0, 1] versions of the same picture give the same features.
    rgba = np.concatenate([np.repeat(gray[..., None], 3, -1), np.full((48, 48, 1), 255, np.uint8)], -1)  # opaque
    same = M.detect_and_describe(model, rgba, max_keypoints=10, min_score=None)
    np.testing.assert_allclose(same.keypoints, features.keypoints, atol=1e-5)
    np.testing.assert_allclose(M.detect_and_describe(model, gray / 255.0, max_keypoints=10, min_score=None).descriptors,
                               features.descriptors, atol=1e-4)
    tiny = M.detect_and_describe(model, np.zeros((10, 10, 3), np.uint8))
    assert len(tiny) == 0 and "too small" in tiny.message and tiny.descriptors.shape == (0, 16)
    flat = M.detect_and_describe(model, np.full((40, 40, 3), 90, np.uint8), min_score=None)
    assert len(flat) == 0 and "textureless" in flat.message
    with pytest.raises(ValueError, match="received shape"):
        M.detect_and_describe(model, np.zeros((5,)))
    with pytest.raises(TypeError, match="numeric"):
        M.detect_and_describe(model, "picture.png")
    with pytest.raises(ValueError, match="not a LIFT model"):
        M.detect_and_describe(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), gray)


@pytest.mark.parametrize("selection", ["score", "scale_space", "scale_space_faint", "scale_space_octaves",
                                       "scale_space_no_presmooth"])
def test_inference_model_equals_detect_and_describe(selection):
    model = models.get("lift", **TINY)
    gray = _textured(seed=1) if selection == "score" else _blobs(centres=((16, 18), (30, 30), (18, 34)), sigma=2.0)
    kwargs = {"min_score": None} if selection == "score" else {"scale_space_threshold": 0.1}
    if selection == "scale_space_no_presmooth":
        kwargs, selection = {"scale_space_threshold": 0.1, "presmooth": 0}, "scale_space"
    if selection == "scale_space_faint":  # every blob below the threshold: the minimum count keeps them
        gray, kwargs, selection = _faint(gray), {}, "scale_space"
    if selection == "scale_space_octaves":  # 2 octaves (400 -> 200 px): keypoints of both, cropped from their own
        # (min_keypoints=0: the presmoothed small blob has a faint ring of four exactly tied extrema, which the
        # low-texture rule would add and the two paths may order differently within float rounding)
        gray, kwargs, selection = _octave_blobs(), {"min_keypoints": 0}, "scale_space"
        assert M.octave_count(gray.shape) == 2
    size = gray.shape[0]
    features = M.detect_and_describe(model, gray, max_keypoints=8, selection=selection, **kwargs)
    inference = M.lift_inference_model(model, image_size=(size, size), max_keypoints=8, selection=selection, **kwargs)
    out = inference(np.repeat(gray[None, ..., None], 3, -1).astype("float32"))
    valid = np.asarray(out["valid"])[0] > 0
    assert valid.sum() == len(features) and len(features) >= 2
    if size > 64:
        assert sorted(set(features.keypoints[:, 2].tolist())) == [12.0, 24.0]  # both octaves among the kept
    # detect_and_describe filters the DoG separably (float rounding ~1e-6, amplified by the sub-pixel fit)
    np.testing.assert_allclose(np.asarray(out["keypoints"])[0][valid], features.keypoints[:, :2], atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["scores"])[0][valid], features.keypoints[:, 4], atol=1e-5)
    np.testing.assert_allclose(np.asarray(out["angles"])[0][valid], features.keypoints[:, 3], atol=1e-4)
    np.testing.assert_allclose(np.asarray(out["descriptors"])[0][valid], features.descriptors, atol=1e-4)
    with pytest.raises(ValueError, match="selection"):
        M.lift_inference_model(model, image_size=(size, size), selection="harris")


@pytest.mark.slow
@pytest.mark.parametrize("selection", ["score", "scale_space", "scale_space_faint", "scale_space_octaves"])
def test_inference_model_converts_to_tflite_builtins(selection):
    from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite, tflite_op_names

    model = models.get("lift", **TINY)
    kwargs = {"min_score": None} if selection == "score" else {"scale_space_threshold": 0.1}
    gray = _textured(seed=2)
    if selection == "scale_space_faint":  # the minimum count (relaxed threshold) in the graph
        kwargs, selection = {"scale_space_threshold": 0.3}, "scale_space"
        gray = _faint(_blobs(size=48, centres=((16, 18), (30, 30), (18, 34)), sigma=2.0))
    if selection == "scale_space_octaves":  # MergeOctaves / SelectOctave in the graph (no tied ring: see above)
        kwargs, selection, gray = {"min_keypoints": 0}, "scale_space", _octave_blobs()
    inference = M.lift_inference_model(model, image_size=gray.shape, max_keypoints=8, selection=selection, **kwargs)
    image = np.repeat(gray[None, ..., None], 3, -1).astype("float32")
    flatbuffer = convert_to_tflite(inference)
    assert not [op for op in tflite_op_names(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"]
    out = TFLiteRunner(flatbuffer)(image)
    reference = inference(image)
    if gray.max() < 100:  # the faint blobs: all three kept below the threshold, in TFLite too
        assert np.asarray(reference["valid"]).sum() == 3 and np.asarray(out["valid"]).sum() == 3
    for key in ("keypoints", "scores", "angles", "descriptors"):
        np.testing.assert_allclose(out[key], np.asarray(reference[key]), atol=1e-4)


@pytest.mark.slow
def test_full_lift_model_harness():
    x = np.random.default_rng(5).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    check_model(lambda: models.get("lift", **TINY), x, run_mixed_precision=False)


def test_keypoints_follow_a_translation_exactly():
    """Regression for localisation: the detector is convolutional and the refinement local, so keypoints of a
    shifted view of the same texture move by exactly the shift (integer and half-pixel)."""
    from scipy import ndimage

    model = models.get("lift", **TINY)
    big = ndimage.gaussian_filter(np.random.default_rng(7).uniform(0, 255, (90, 90)), 2.0)
    big = (big - big.mean()) * 5 + 128
    view1 = big[10:74, 10:74]

    def interior(f, lo=18, hi=46):
        xy = f.keypoints[:, :2]
        return xy[np.all((xy >= lo) & (xy <= hi), axis=1)]

    def errors(shift, subpixel):
        # view2(x, y) = big(y + 10 + dy, x + 10 + dx): a scene point at (x, y) in view 1 is at (x - dx, y - dy)
        ys, xs = np.mgrid[0:64, 0:64].astype(float)
        view2 = ndimage.map_coordinates(big, [ys + 10 + shift[1], xs + 10 + shift[0]], order=3)
        f1 = M.detect_and_describe(model, np.clip(view1, 0, 255), max_keypoints=40, min_score=None, subpixel=subpixel)
        f2 = M.detect_and_describe(model, np.clip(view2, 0, 255), max_keypoints=40, min_score=None, subpixel=subpixel)
        p1, p2 = interior(f1) - shift, interior(f2, 18 - shift[0], 46 - shift[0])
        assert len(p1) >= 3
        return np.min(np.linalg.norm(p1[:, None] - p2[None], axis=-1), axis=1)

    integer_shift = errors((5.0, 3.0), True)
    assert np.median(integer_shift) < 1e-3 and np.mean(integer_shift < 1e-3) >= 0.6, integer_shift
    half = errors((0.5, 0.0), True)
    coarse = errors((0.5, 0.0), False)
    # (a point that appears in one view only, at the top-K or border limits, has no partner: the median)
    assert np.median(half) <= 0.25 and np.mean(half <= 0.5) >= 0.6, half
    assert np.median(coarse) >= 0.45 and np.median(half) < 0.5 * np.median(coarse), (half, coarse)


def _blobs(size=64, centres=((20, 24), (42, 40)), sigma=3.0):
    ys, xs = np.mgrid[0:size, 0:size].astype(float)
    image = np.full((size, size), 60.0)
    for x, y in centres:
        image += 150.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return image.astype(np.uint8)


def _faint(gray, factor=0.2):
    return (60 + (gray.astype(float) - 60) * factor).astype(np.uint8)


def _octave_blobs(h=400, w=400, items=((201, 151, 7.0), (100, 300, 1.5), (300, 320, 3.0))):
    """Gaussian blobs `(x, y, sigma)` on a 400 x 400 gray image: two octaves (the second 200 px >= 192)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    image = np.full((h, w), 60.0)
    for x, y, sigma in items:
        image += 150.0 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    return image.astype(np.uint8)


def test_octave_images_and_count_by_hand():
    image = np.arange(5 * 7, dtype=np.float32).reshape(5, 7, 1)  # odd sides: the last row / column dropped
    levels = M.octave_images(image, octaves=3, min_side=2)
    assert [lv.shape for lv in levels] == [(5, 7, 1), (2, 3, 1)]  # a third octave would be 1 x 1 < 2
    np.testing.assert_allclose(levels[1][..., 0], [[4.0, 6.0, 8.0], [18.0, 20.0, 22.0]])  # (0+1+7+8)/4 = 4, ...
    assert M.octave_count((5, 7), octaves=3, min_side=2) == 2
    sizes = {(240, 320): 1, (480, 640): 2, (640, 800): 2, (383, 1000): 1, (1080, 1920): 3, (4000, 6000): 4}
    for size, count in sizes.items():  # defaults: up to 4 octaves, each after the first >= 192 px
        assert M.octave_count(size) == count == len(M.octave_images(np.zeros(size + (1,), np.uint8))), size
    assert M.octave_count((1080, 1920), octaves=1) == 1
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="octaves must be an int >= 1"):
            M.octave_count((480, 640), octaves=bad)
        with pytest.raises(ValueError, match="min_octave_side must be an int >= 1"):
            M.octave_images(image, min_side=bad)


def test_octaves_describe_large_blobs_on_the_halved_image():
    """A blob of sigma 7 px is wider than the DoG's largest scale (4 px): the second octave (sigma 3.5 there)
    responds more strongly and describes it on twice the support; the blob centres map back exactly."""
    model = models.get("lift", **TINY)
    gray = _octave_blobs()
    one = M.detect_and_describe(model, gray, max_keypoints=6, octaves=1)
    assert set(one.keypoints[:, 2].tolist()) == {12.0}  # one octave: the fixed support
    features = M.detect_and_describe(model, gray, max_keypoints=6)
    big = [k for k in features.keypoints if abs(k[0] - 201) < 1 and abs(k[1] - 151) < 1]
    assert big[0][2] == 24.0 and big[0][4] > 1.2 * one.keypoints[np.abs(one.keypoints[:, 0] - 201) < 1, 4].max()
    np.testing.assert_allclose(big[0][:2], [201, 151], atol=0.3)
    # each keypoint is described on its own octave: its descriptor is that of the halved image's crop
    halved = M.octave_images(np.repeat(gray[..., None], 3, -1))[1]
    xy_half = (big[0][:2] + 0.5) / 2 - 0.5
    _, desc = M.describe_keypoints(model, halved, xy_half[None])
    np.testing.assert_allclose(features.descriptors[[k[2] == 24.0 and abs(k[0] - 201) < 1 for k in
                                                     features.keypoints]][0], desc[0], atol=1e-5)


def test_low_contrast_image_keeps_its_strongest_extrema():
    """Blobs at a fifth of their contrast respond 0.26 (|DoG|) < the 0.3 threshold: with the minimum count off
    nothing is found; by default (at least `MIN_KEYPOINTS` down to `LOW_THRESHOLD`) the three blob centres are."""
    model = models.get("lift", **TINY)
    gray = _faint(_blobs(centres=((16, 18), (30, 30), (18, 34)), sigma=2.0))
    off = M.detect_and_describe(model, gray, max_keypoints=8, min_keypoints=0)
    assert len(off) == 0 and "textureless" in off.message
    features = M.detect_and_describe(model, gray, max_keypoints=8)
    assert len(features) == 3 and (features.keypoints[:, 4] < 0.3).all() and (features.keypoints[:, 4] > 0.1).all()
    found = sorted(map(tuple, np.round(features.keypoints[:, :2]).astype(int).tolist()))
    assert found == [(16, 18), (18, 34), (30, 30)]
    assert M.MIN_KEYPOINTS == 200 and M.LOW_THRESHOLD == 0.1


def test_scale_space_selection_finds_blob_centres_and_keeps_the_front_end_a_dog():
    """Regression for the detector gap (repeatability 0.30 with score-map maxima): default keypoints are scale-space
    extrema of the frozen DoG front end, so isolated blobs give their strongest keypoints at their centres, a straight
    edge gives none (edge test), and detector training leaves the front end an exact DoG stack."""
    model = models.get("lift", **TINY)
    centres = ((20, 24), (42, 40))
    features = M.detect_and_describe(model, _blobs(centres=centres), max_keypoints=10)
    # The two strongest extrema are the blob centres (weaker ones: the DoG's rings between the blobs).
    assert len(features) >= 2 and features.keypoints[1, 4] > 3 * features.keypoints[2:, 4].max(initial=0)
    found = sorted(map(tuple, np.round(features.keypoints[:2, :2], 2)))
    np.testing.assert_allclose(found, sorted(centres), atol=0.3)
    edge = np.where(np.arange(64)[None, :] < 31.5, 60, 200) * np.ones((64, 1))
    straight = M.detect_and_describe(model, edge.astype(np.uint8), max_keypoints=10)
    assert len(straight) == 0, straight.keypoints
    with pytest.raises(ValueError, match="selection"):
        M.detect_and_describe(model, _blobs(), selection="harris")
    # The detector stage trains the score head but not the DoG front end.
    from vras_keras.data.pairs import quadruplet_dataset

    data = quadruplet_dataset("train", num_pairs=2, per_pair=4, patch_size=24, image_size=64, patch_dtype="uint8")
    front = model.get_layer("detector").get_layer("det_dog")
    np.testing.assert_allclose(np.asarray(front.kernel), M.dog_kernel())
    head = np.array(model.get_layer("detector").get_layer("score").kernel)
    train_lift(model, data, descriptor_steps=0, orientation_steps=0, detector_steps=2, batch_size=4, log=None)
    np.testing.assert_allclose(np.asarray(front.kernel), M.dog_kernel())
    assert not np.array_equal(head, np.asarray(model.get_layer("detector").get_layer("score").kernel))
    assert not front.trainable and model.get_layer("detector").trainable


def test_dog_scale_interpolates_the_dog_scales_log_linearly():
    np.testing.assert_allclose(M.dog_scale([0, 1, 3]), [M.DOG_SCALES[0], M.DOG_SCALES[1], M.DOG_SCALES[3]])
    np.testing.assert_allclose(M.dog_scale(0.5), np.sqrt(M.DOG_SCALES[0] * M.DOG_SCALES[1]))
    assert M.dog_scale(3.5) > M.DOG_SCALES[3]  # extrapolated past the last channel


def test_per_keypoint_scale_follows_the_blob_size():
    """With `reference_sigma` each keypoint is described on its own support: a larger blob gets a larger
    region (scale column), and the descriptors are those of `describe_keypoints` at those supports."""
    model = models.get("lift", **TINY)
    ys, xs = np.mgrid[0:64, 0:64].astype(float)
    image = 60.0 + 150.0 * np.exp(-((xs - 18) ** 2 + (ys - 20) ** 2) / (2 * 1.2**2)) \
        + 150.0 * np.exp(-((xs - 44) ** 2 + (ys - 42) ** 2) / (2 * 3.5**2))
    image = image.astype(np.uint8)
    fixed = M.detect_and_describe(model, image, max_keypoints=2)
    own = M.detect_and_describe(model, image, max_keypoints=2, reference_sigma=2.0, scale_limits=(0.25, 4.0))
    np.testing.assert_allclose(fixed.keypoints[:, :2], own.keypoints[:, :2])
    np.testing.assert_allclose(fixed.keypoints[:, 2], 12.0)
    small, large = sorted(own.keypoints, key=lambda k: k[0])  # the small blob is on the left
    assert large[2] > 1.5 * small[2], own.keypoints
    _, descs = M.describe_keypoints(model, np.repeat(image[..., None], 3, -1), own.keypoints[:, :2],
                                    supports=own.keypoints[:, 2])
    np.testing.assert_allclose(descs, own.descriptors, atol=1e-5)
    clipped = M.detect_and_describe(model, image, max_keypoints=2, reference_sigma=2.0, scale_limits=(0.9, 1.1))
    assert np.all(clipped.keypoints[:, 2] >= 0.9 * 12 - 1e-4) and np.all(clipped.keypoints[:, 2] <= 1.1 * 12 + 1e-4)


def test_grayscale_descriptor_ignores_colour():
    from vras_keras.layers.keypoints import ChannelMean

    x = np.random.default_rng(4).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    check_layer(
        ChannelMean, {}, input_data=x, expected_output_shape=(3, 8, 8, 1), expected_output=x.mean(-1, keepdims=True)
    )
    np.testing.assert_allclose(np.asarray(ChannelMean()(x)), x.mean(-1, keepdims=True), rtol=1e-5)
    model = models.get("lift", **TINY, grayscale=True)
    gray = np.repeat(x.mean(-1, keepdims=True), 3, -1)
    for name in ("descriptor", "orientation"):
        net = model.get_layer(name)
        np.testing.assert_allclose(np.asarray(net(x)), np.asarray(net(gray)), atol=1e-4)
    assert models.get("lift", **TINY).get_layer("descriptor").get_layer("desc_gray")  # the default
    colour = models.get("lift", **TINY, grayscale=False)
    assert not np.allclose(
        np.asarray(colour.get_layer("descriptor")(x)), np.asarray(colour.get_layer("descriptor")(gray)), atol=1e-4
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lift.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    patches = np.random.default_rng(5).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(loaded(patches)["descriptor"]), np.asarray(model(patches)["descriptor"]), atol=1e-5
    )


def test_separable_dog_equals_the_front_end_convolution_on_a_non_square_image():
    """`dog_responses` (row/column Gaussian blurs) is the frozen `det_dog` 27 x 27 convolution; a trained
    (changed) front end makes `scale_space_responses` run the layer itself."""
    model = models.get("lift", **TINY)
    detector = model.get_layer("detector")
    image = np.repeat(_textured(40, 56, seed=3)[None, ..., None], 3, -1).astype("float32")
    image[..., 0] *= 0.5  # colour: the front end takes the channel mean
    conv = np.asarray(M.detector_front_end(detector)(image))
    np.testing.assert_allclose(M.dog_responses(image), conv, atol=1e-5)
    np.testing.assert_allclose(M.scale_space_responses(detector, image), conv, atol=1e-5)
    # presmoothing: the same as the front end on the image blurred by `GaussianBlur` (the exported graph's path)
    from vras_keras.layers import GaussianBlur

    blurred = np.asarray(M.detector_front_end(detector)(GaussianBlur(0.6)(image)))
    assert not np.allclose(blurred, conv, atol=1e-3)
    np.testing.assert_allclose(M.dog_responses(image, presmooth=0.6), blurred, atol=1e-5)
    np.testing.assert_allclose(M.scale_space_responses(detector, image, 0.6), blurred, atol=1e-5)
    layer = detector.get_layer("det_dog")
    layer.set_weights([layer.get_weights()[0] * 2.0])
    np.testing.assert_allclose(M.scale_space_responses(detector, image), 2.0 * conv, atol=1e-5)
    np.testing.assert_allclose(M.scale_space_responses(detector, image, 0.6), 2.0 * blurred, atol=1e-5)
    with pytest.raises(ValueError, match="presmooth"):
        M.detect_and_describe(model, image[0], presmooth=-1)
    with pytest.raises(ValueError, match="presmooth"):
        M.lift_inference_model(model, image_size=(40, 56), presmooth="0.6")


@pytest.mark.parametrize("grayscale", [True, False])
def test_describe_keypoints_equals_the_networks_on_rgb_crops(grayscale):
    """`describe_keypoints` samples gray crops for gray networks (bilinear sampling is linear): the angles and
    descriptors are those of the networks on the RGB crops (upright, then rotated by the predicted vector)."""
    from vras_keras.ops.keypoints import oriented_patches, vector_to_angle

    model = models.get("lift", **TINY, grayscale=grayscale)
    _, orientation, descriptor, crop = M._parts(model)
    rng = np.random.default_rng(7)
    image = rng.uniform(0, 255, (30, 41, 3)).astype("float32")  # colour, non-square
    xy = rng.uniform(6, 24, (5, 2)).astype("float32")
    upright = oriented_patches(image[None], xy[None], output_size=crop.output_size, support=crop.support)[0]
    vector = orientation(upright)
    rotated = oriented_patches(image[None], xy[None], np.asarray(vector)[None], output_size=crop.output_size,
                               support=crop.support)[0]
    angles, descs = M.describe_keypoints(model, image, xy)
    np.testing.assert_allclose(angles, np.asarray(vector_to_angle(vector)), atol=1e-4)
    np.testing.assert_allclose(descs, np.asarray(descriptor(rotated)), atol=1e-4)
    assert M._sees_gray(orientation) is grayscale and M._sees_gray(descriptor) is grayscale
