"""Oriented patch extraction and keypoint NMS on hand cases; their layers through the harness."""

import keras
import numpy as np
import pytest

from vras_keras.layers.keypoints import (
    GaussianBlur,
    KeypointNMS,
    MergeOctaves,
    OctavePoints,
    OrientationAngle,
    OrientedPatches,
    SelectOctave,
)
from vras_keras.ops import keypoints as K
from vras_keras.testing import check_layer, check_model


def _image():
    return np.arange(12 * 12, dtype="float32").reshape(1, 12, 12, 1)


def test_upright_patch_is_the_image_window():
    # S = support = 4 around (5.5, 6.5): samples at integer pixels 4..7 (x) and 5..8 (y).
    out = np.asarray(K.oriented_patches(_image(), np.array([[[5.5, 6.5]]], "float32"), output_size=4, support=4.0))
    np.testing.assert_allclose(out[0, 0, ..., 0], _image()[0, 5:9, 4:8, 0])


def test_rotated_patch_turns_the_window():
    image = _image()
    kp = np.array([[[5.5, 5.5]]], "float32")
    up = np.asarray(K.oriented_patches(image, kp, output_size=4, support=4.0))[0, 0, ..., 0]
    quarter = np.asarray(K.oriented_patches(image, kp, np.array([[np.pi / 2]], "float32"), output_size=4,
                                            support=4.0))[0, 0, ..., 0]
    # angle 90 deg: sample (i, j) reads keypoint + (-v, u), i.e. the upright window turned by a quarter.
    np.testing.assert_allclose(quarter, np.rot90(up, 1), atol=1e-4)  # quarter[i, j] = up[j, 3 - i]
    vector = np.asarray(K.oriented_patches(image, kp, np.array([[[0.0, 3.0]]], "float32"), output_size=4,
                                           support=4.0))[0, 0, ..., 0]
    np.testing.assert_allclose(vector, quarter, atol=1e-4)  # (cos, sin) vectors of any length


def test_patch_of_rotated_image_at_rotated_angle_is_invariant():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 9, 9, 1)).astype("float32")
    turned = np.rot90(image, k=-1, axes=(1, 2)).copy()  # content turned clockwise on screen = +90 deg
    kp = np.array([[[4.0, 4.0]]], "float32")
    a = np.asarray(K.oriented_patches(image, kp, np.array([[0.3]], "float32"), output_size=5, support=5.0))
    b = np.asarray(K.oriented_patches(turned, kp, np.array([[0.3 + np.pi / 2]], "float32"), output_size=5, support=5.0))
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_nms_hand_case():
    scores = np.zeros((1, 8, 8, 1), "float32")
    scores[0, 2, 3] = 5.0
    scores[0, 2, 4] = 4.0  # neighbour of the first peak: suppressed
    scores[0, 6, 5] = 3.0
    scores[0, 0, 7] = 9.0  # on the border: removed with border=1
    points, values, valid = K.nms_keypoints(scores, 4, radius=1, border=1)
    points, values, valid = np.asarray(points)[0], np.asarray(values)[0], np.asarray(valid)[0]
    np.testing.assert_array_equal(points[:2], [[3, 2], [5, 6]])
    np.testing.assert_array_equal(values[:2], [5.0, 3.0])
    assert valid[:2].all()
    # The remaining entries are flat-zero maxima or padding; with min_score they are all invalid.
    _, _, valid = K.nms_keypoints(scores, 4, radius=1, border=1, min_score=0.5)
    np.testing.assert_array_equal(np.asarray(valid)[0], [True, True, False, False])


def test_nms_textureless_image_gives_nothing():
    scores = np.random.default_rng(0).normal(size=(1, 16, 16, 1)).astype("float32")
    flat = np.full((1, 16, 16, 3), 128.0, "float32")
    _, _, valid = K.nms_keypoints(scores, 5, images=flat, min_contrast=1.0)
    assert not np.asarray(valid).any()


def test_oriented_patches_layer_harness():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 10, 10, 2)).astype("float32")
    kps = rng.uniform(3, 6, (2, 3, 2)).astype("float32")
    vectors = rng.normal(size=(2, 3, 2)).astype("float32")
    check_layer(OrientedPatches, {"output_size": 4, "support": 5.0}, input_data=[images, kps, vectors],
                expected_output_shape=(2, 3, 4, 4, 2), run_training=False)  # no weights to fit
    check_layer(OrientedPatches, {"output_size": 4, "support": 5.0, "flatten": True}, input_data=[images, kps],
                expected_output_shape=(6, 4, 4, 2), run_training=False, run_saved_model=False,
                run_tflite=False)  # flatten changes the batch size: the harness serves batch 1 and 3 only


def test_orientation_angle_layer_harness():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]], "float32")
    check_layer(OrientationAngle, {}, input_data=vectors, expected_output=np.array([0, np.pi / 2, -3 * np.pi / 4]),
                expected_output_shape=(3,), run_training=False, run_mixed_precision=False)


def test_keypoint_nms_layer_harness():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 12, 12, 1)).astype("float32")
    images = rng.uniform(0, 255, (2, 12, 12, 3)).astype("float32")
    kwargs = {"max_keypoints": 5, "radius": 1, "border": 2, "min_contrast": 1.0, "min_score": -1.0, "subpixel": True}
    layer = KeypointNMS(**kwargs)
    assert KeypointNMS.from_config(layer.get_config()).get_config() == layer.get_config()

    def build():
        # Input names in alphabetical order: TFLiteRunner feeds a list by the signature's (sorted) names.
        s = keras.Input((12, 12, 1), name="input_0_scores")
        im = keras.Input((12, 12, 3), name="input_1_images")
        points, values, valid = KeypointNMS(**kwargs)([s, im])
        return keras.Model([s, im], {"keypoints": points, "scores": values, "valid": valid})

    # Selection is piecewise constant: no gradient and nothing to fit (steps switched off for that reason).
    model = check_model(build, [scores, images], expected_output_shapes=[(None, 5, 2), (None, 5), (None, 5)],
                        run_gradients=False, run_training=False, run_mixed_precision=False)
    out = model([scores, images])
    expected = K.nms_keypoints(scores, 5, radius=1, border=2, images=images, min_contrast=1.0, min_score=-1.0,
                               subpixel=True)
    np.testing.assert_allclose(np.asarray(out["keypoints"]), np.asarray(expected[0]), atol=1e-6)
    integer = K.nms_keypoints(scores, 5, radius=1, border=2, images=images, min_contrast=1.0, min_score=-1.0)
    assert np.all(np.abs(np.asarray(expected[0]) - np.asarray(integer[0])) <= 0.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="output_size"):
        OrientedPatches(0, 4.0)
    with pytest.raises(ValueError, match="max_keypoints"):
        KeypointNMS(0)


def test_refine_subpixel_finds_the_parabola_vertex():
    from vras_keras.ops.keypoints import refine_subpixel

    ys, xs = np.mgrid[0:9, 0:9].astype("float32")
    peak = (4.3, 3.8)  # (x, y): integer maximum at (4, 4)
    scores = -((xs - peak[0]) ** 2 + 2 * (ys - peak[1]) ** 2)  # separable quadratic: the fit is exact
    scores = scores[None, ..., None]
    refined = np.asarray(refine_subpixel(scores, np.array([[[4.0, 4.0], [0.0, 0.0]]], "float32")))
    np.testing.assert_allclose(refined[0, 0], peak, atol=1e-4)
    # At a corner with no curvature in the clipped neighbourhood nothing moves more than half a pixel.
    assert np.all(np.abs(refined[0, 1]) <= 0.5)
    flat = np.zeros((1, 9, 9, 1), "float32")
    np.testing.assert_array_equal(
        np.asarray(refine_subpixel(flat, np.array([[[4.0, 4.0]]], "float32"))), [[[4.0, 4.0]]]
    )
    # nms_keypoints(subpixel=True) returns the refined maximum
    points, _, valid = K.nms_keypoints(scores, 1, radius=1, subpixel=True)
    np.testing.assert_allclose(np.asarray(points)[0, 0], peak, atol=1e-4)


def _gaussian(size, x, y, sigma):
    ys, xs = np.mgrid[0:size, 0:size].astype("float32")
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)).astype("float32")


def test_edge_response_mask_keeps_blobs_and_rejects_ridges():
    blob = _gaussian(15, 7, 7, 2.0)
    ridge = np.exp(-((np.arange(15, dtype="float32") - 7) ** 2) / 8.0)[None, :] * np.ones((15, 1), "float32")
    maps = np.stack([blob, ridge], -1)[None]  # two channels, tested separately
    mask = np.asarray(K.edge_response_mask(maps, 10.0))
    assert mask.shape == (1, 15, 15, 2)
    assert mask[0, 7, 7, 0] and not mask[0, 7, 7, 1]  # blob centre passes; ridge point (curvature ratio inf) fails
    elongated = _gaussian(15, 7, 7, 1.0) * 0 + np.exp(-((np.mgrid[0:15, 0:15][1] - 7) ** 2) / (2 * 1.0)
                                                      - ((np.mgrid[0:15, 0:15][0] - 7) ** 2) / (2 * 16.0))
    ratio_4 = elongated.astype("float32")[None, ..., None]  # curvature ratio 16 at the centre
    assert not np.asarray(K.edge_response_mask(ratio_4, 10.0))[0, 7, 7, 0]
    assert np.asarray(K.edge_response_mask(ratio_4, 20.0))[0, 7, 7, 0]
    with pytest.raises(ValueError, match="max_ratio"):
        K.edge_response_mask(maps, 0.5)


def test_scale_space_extrema_picks_the_scale_and_position_of_a_blob():
    # Three "scales": the blob responds most at the middle one, at pixel (9, 6).
    base = _gaussian(20, 9, 6, 1.5)
    responses = np.stack([0.5 * base, -1.0 * base, 0.7 * base], -1)[None]  # sign does not matter (|response|)
    score = np.asarray(K.scale_space_extrema(responses, threshold=0.1))
    assert score.shape == (1, 20, 20, 1)
    kept = np.argwhere(score[0, ..., 0] > K.INVALID_SCORE / 2)
    np.testing.assert_array_equal(kept, [[6, 9]])
    np.testing.assert_allclose(score[0, 6, 9, 0], 1.0)
    assert np.all(np.asarray(K.scale_space_extrema(responses, threshold=1.5)) == K.INVALID_SCORE)
    points, values, valid = K.nms_keypoints(score, 3, radius=1, min_score=0.1)
    np.testing.assert_array_equal(np.asarray(valid)[0], [True, False, False])
    np.testing.assert_allclose(np.asarray(points)[0, 0], [9, 6])


def test_scale_space_extrema_returns_the_channel_of_the_extremum():
    base = _gaussian(20, 9, 6, 1.5)
    responses = np.stack([0.5 * base, 0.7 * base, -1.0 * base, 0.2 * base], -1)[None]
    score, scale = K.scale_space_extrema(responses, threshold=0.1, return_scale=True)
    np.testing.assert_array_equal(np.asarray(score), np.asarray(K.scale_space_extrema(responses, threshold=0.1)))
    assert np.asarray(scale).shape == (1, 20, 20, 1) and np.asarray(scale)[0, 6, 9, 0] == 2


def test_refine_scale_space_recovers_a_quadratic_extremum():
    """Central differences are exact on a quadratic: the 3-D fit finds its true (x, y, s) and peak value."""
    x0, y0, s0 = 5.3, 4.8, 1.2
    s, y, x = np.meshgrid(np.arange(4.0), np.arange(10.0), np.arange(12.0), indexing="ij")
    quad = 2.0 - (x - x0) ** 2 - 0.5 * (y - y0) ** 2 - (s - s0) ** 2 + 0.3 * (x - x0) * (s - s0)
    responses = np.transpose(quad, (1, 2, 0))[None].astype("float32")  # (1, H, W, S)
    keypoints = np.array([[[5.0, 5.0]]], "float32")
    for sign in (1.0, -1.0):  # DoG minima are refined the same way
        points, scale, value = K.refine_scale_space(sign * responses, keypoints, np.array([[1.0]], "float32"))
        np.testing.assert_allclose(np.asarray(points)[0, 0], [x0, y0], atol=1e-4)
        np.testing.assert_allclose(np.asarray(scale)[0, 0], s0, atol=1e-4)
        np.testing.assert_allclose(np.asarray(value)[0, 0], 2.0, atol=1e-4)
    # On the first channel the scale axis is not fitted (no neighbour below); x / y still are.
    edge = 2.0 - (x - x0) ** 2 - 0.5 * (y - y0) ** 2 - (s - 0.2) ** 2
    points, scale, _ = K.refine_scale_space(np.transpose(edge, (1, 2, 0))[None].astype("float32"), keypoints,
                                            np.array([[0.0]], "float32"))
    np.testing.assert_allclose(np.asarray(points)[0, 0], [x0, y0], atol=1e-4)
    assert float(np.asarray(scale)[0, 0]) == 0.0
    # A far-away true extremum moves the point by at most max_offset; a flat map leaves it in place.
    far = 2.0 - (x - 8.0) ** 2 - (y - 5.0) ** 2 - (s - 1.0) ** 2
    points, _, _ = K.refine_scale_space(np.transpose(far, (1, 2, 0))[None].astype("float32"), keypoints,
                                        np.array([[1.0]], "float32"), max_offset=0.6)
    np.testing.assert_allclose(np.asarray(points)[0, 0], [5.6, 5.0], atol=1e-5)
    flat = np.zeros((1, 10, 12, 4), "float32")
    points, scale, value = K.refine_scale_space(flat, keypoints, np.array([[2.0]], "float32"))
    np.testing.assert_array_equal(np.asarray(points), keypoints)
    assert float(np.asarray(scale)[0, 0]) == 2.0 and float(np.asarray(value)[0, 0]) == 0.0


def test_oriented_patches_per_keypoint_scale():
    image = np.random.default_rng(5).uniform(0, 1, (1, 24, 24, 2)).astype("float32")
    kp = np.array([[[11.0, 12.5], [9.5, 10.0]]], "float32")
    angles = np.array([[0.4, -1.2]], "float32")
    zoomed = np.asarray(K.oriented_patches(image, kp, angles, output_size=5, support=4.0,
                                           scales=np.array([[2.0, 0.5]], "float32")))
    for k, support in ((0, 8.0), (1, 2.0)):
        single = np.asarray(
            K.oriented_patches(image, kp[:, k : k + 1], angles[:, k : k + 1], output_size=5, support=support)
        )
        np.testing.assert_allclose(zoomed[:, k], single[:, 0], atol=1e-5)
    upright = np.asarray(K.oriented_patches(image, kp, output_size=5, support=4.0, scales=np.ones((1, 2), "float32")))
    np.testing.assert_allclose(
        upright, np.asarray(K.oriented_patches(image, kp, output_size=5, support=4.0)), atol=1e-6
    )


def _two_blob_responses():
    base = [_gaussian(16, 5.3, 6.2, 1.2), _gaussian(16, 10.0, 9.6, 1.2)]
    responses = np.stack([0.4 * base[0] + 0.3 * base[1], 1.0 * base[0] + 0.5 * base[1],
                          0.6 * base[0] + 0.8 * base[1], 0.2 * base[0] + 0.4 * base[1]], -1)[None].astype("float32")
    responses = np.concatenate([responses, 0.5 * responses[:, ::-1]], 0)
    images = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    return responses, images


_SSK = dict(max_keypoints=4, threshold=0.2, border=2, min_contrast=1.0)


def test_scale_space_keypoints_layer_finds_blobs_at_their_scale():
    from vras_keras.layers.keypoints import ScaleSpaceKeypoints

    responses, images = _two_blob_responses()
    layer = ScaleSpaceKeypoints(**_SSK)
    assert ScaleSpaceKeypoints.from_config(layer.get_config()).get_config() == layer.get_config()
    points, values, valid, scale = (np.asarray(t) for t in layer([responses, images]))
    assert points.shape == (2, 4, 2) and values.shape == valid.shape == scale.shape == (2, 4)
    assert valid[0].sum() == 2  # the two blobs, strongest (the first, at the second channel) first
    np.testing.assert_allclose(points[0, 0], [5.3, 6.2], atol=0.2)
    np.testing.assert_allclose(points[0, 1], [10.0, 9.6], atol=0.2)
    assert 0.5 < scale[0, 0] < 1.5 and 1.5 < scale[0, 1] < 2.5
    expected = K.scale_space_keypoints(responses, 4, threshold=0.2, border=2, images=images, min_contrast=1.0)
    np.testing.assert_allclose(points, np.asarray(expected[0]), atol=1e-6)
    two_d = np.asarray(ScaleSpaceKeypoints(**_SSK, refine="2d")([responses, images])[0])
    integer = np.asarray(ScaleSpaceKeypoints(**_SSK, refine=None)([responses, images])[0])
    np.testing.assert_array_equal(integer[0, :2], [[5, 6], [10, 10]])
    assert np.all(np.abs(two_d[0, :2] - integer[0, :2]) <= 0.5)
    with pytest.raises(ValueError, match="refine"):
        ScaleSpaceKeypoints(4, refine="4d")
    with pytest.raises(ValueError, match="threshold"):
        ScaleSpaceKeypoints(4, threshold=-1.0)


@pytest.mark.slow
def test_scale_space_keypoints_layer_harness():
    from vras_keras.layers.keypoints import ScaleSpaceKeypoints

    responses, images = _two_blob_responses()

    def build():
        r = keras.Input((16, 16, 4), name="input_0_responses")
        im = keras.Input((16, 16, 3), name="input_1_images")
        points, values, valid, scale = ScaleSpaceKeypoints(**_SSK)([r, im])
        return keras.Model([r, im], {"keypoints": points, "scale": scale, "scores": values, "valid": valid})

    model = check_model(
        build,
        [responses, images],
        expected_output_shapes=[(None, 4, 2), (None, 4), (None, 4), (None, 4)],
        run_gradients=False,
        run_training=False,
        run_mixed_precision=False,
    )
    out = model([responses, images])
    expected = K.scale_space_keypoints(responses, 4, threshold=0.2, border=2, images=images, min_contrast=1.0)
    np.testing.assert_allclose(np.asarray(out["keypoints"]), np.asarray(expected[0]), atol=1e-6)


@pytest.mark.parametrize("refine", ["3d", "2d", None])
def test_fast_scale_space_keypoints_equal_the_graph_op(refine):
    """The NumPy/OpenCV twin (used by LIFT's `detect_and_describe`) returns what `scale_space_keypoints` (the
    exported op) returns, on a non-square image with border and contrast guards, and pads like it."""
    from scipy import ndimage

    from vras_keras.models.matching.lift import dog_responses

    noise = ndimage.gaussian_filter(np.random.default_rng(5).uniform(0, 255, (44, 70)), 1.5)
    gray = np.clip((noise - noise.mean()) * 4 + 128, 0, 255).astype(np.uint8)
    image = np.repeat(gray[None, ..., None], 3, -1).astype("float32")
    image[:, :, :20] = 100.0  # a flat region: the contrast guard removes its extrema
    responses = dog_responses(image)
    relaxed = {"threshold": 0.6, "min_keypoints": 5, "low_threshold": 0.1}  # few pass 0.6: the minimum count
    for k, extra in ((7, {}), (400, {}), (7, relaxed), (400, relaxed)):  # fewer / more than the extrema found
        options = {"threshold": 0.1, "border": 5, "min_contrast": 4.0, "refine": refine, **extra}
        want = [keras.ops.convert_to_numpy(t) for t in K.scale_space_keypoints(responses, k, images=image, **options)]
        got = K.fast_scale_space_keypoints(responses, image, k, **options)
        valid = want[2][0]
        assert 0 < valid.sum() and (got[2][0] == valid).all() and got[0].shape == (1, k, 2)
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a, np.float64)[0][valid], np.asarray(b, np.float64)[0][valid],
                                       atol=1e-4)
        assert (got[0][0][valid][:, 0] >= 20 - 5).all()  # nothing on the flat left part (9-px contrast window)


def test_fast_scale_space_keypoints_check_their_arguments_like_the_graph_op():
    responses = np.zeros((1, 8, 8, 4), "float32")
    for bad, match in (({"refine": "4d"}, "refine"), ({"edge_ratio": 0.5}, "max_ratio")):
        for fn in (lambda: K.scale_space_keypoints(responses, 3, **bad),
                   lambda: K.fast_scale_space_keypoints(responses, None, 3, **bad)):
            with pytest.raises(ValueError, match=match):
                fn()
    with pytest.raises(ValueError, match="max_keypoints"):
        K.fast_scale_space_keypoints(responses, None, 0)


def test_numpy_scale_space_refinement_equals_the_graph_op():
    """The NumPy fit of `fast_scale_space_keypoints` is `ops.keypoints.refine_scale_space` (interior and edge
    channels, points on the map border, a flat neighbourhood with a singular Hessian)."""
    rng = np.random.default_rng(3)
    responses = rng.normal(size=(20, 27, 4)).astype("float32")
    responses[5:10, 5:10, :] = 0.25  # flat: singular Hessian, offset 0
    points = np.array([[3, 4], [0, 0], [26, 19], [7, 7], [12, 9], [20, 15]], "float32")
    scale = np.array([1, 0, 3, 2, 2, 1], "float32")
    want = [np.asarray(t)[0] for t in K.refine_scale_space(responses[None], points[None], scale[None])]
    got = K._refine_scale_space_numpy(responses, points, scale)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(got[0][3], points[3])  # the flat point stays
    assert np.abs(got[0] - points).max() > 0.05  # the others move


def test_min_keypoints_keeps_the_strongest_extrema_down_to_the_low_threshold():
    """Hand case: blob values ~1.0 and ~0.8 in image 0, ~0.5 and ~0.4 in image 1 (`_two_blob_responses`). At
    threshold 0.9 image 0 keeps one blob and image 1 none; asking for at least 2 down to 0.3 adds the weaker
    blobs (strongest first, the strong one stays); at least 1 adds only to image 1, which had none; a low
    threshold above the blobs adds nothing. The NumPy twin and the layer agree with the graph op."""
    from vras_keras.layers.keypoints import ScaleSpaceKeypoints

    responses, images = _two_blob_responses()
    base = dict(threshold=0.9, border=2, min_contrast=1.0)

    def count(**extra):
        out = K.scale_space_keypoints(responses, 4, images=images, **base, **extra)
        valid = np.asarray(keras.ops.convert_to_numpy(out[2]))
        for i in range(2):  # the NumPy twin, image by image
            fast = K.fast_scale_space_keypoints(responses[i:i + 1], images[i:i + 1], 4, **base, **extra)
            np.testing.assert_array_equal(fast[2][0], valid[i])
            np.testing.assert_allclose(fast[0][0][valid[i]], np.asarray(out[0])[i][valid[i]], atol=1e-4)
        return valid.sum(axis=1).tolist(), np.asarray(out[0]), np.asarray(out[1])

    assert count()[0] == [1, 0]
    assert count(min_keypoints=2)[0] == [1, 0]  # no low threshold: off
    counts, points, values = count(min_keypoints=2, low_threshold=0.3)
    assert counts == [2, 2]
    np.testing.assert_allclose(points[0, 0], [5.3, 6.2], atol=0.2)  # the strong blob first
    np.testing.assert_allclose(points[0, 1], [10.0, 9.6], atol=0.2)
    assert values[0, 0] > 0.9 > values[0, 1] > 0.3 and values[1, 0] > values[1, 1] > 0.3
    assert values[0, 2] < -1e3  # padding stays flagged
    assert count(min_keypoints=1, low_threshold=0.3)[0] == [1, 1]
    assert count(min_keypoints=2, low_threshold=0.95)[0] == [1, 0]  # above the weak blobs: nothing added
    layer = ScaleSpaceKeypoints(4, **base, min_keypoints=2, low_threshold=0.3)
    assert ScaleSpaceKeypoints.from_config(layer.get_config()).get_config() == layer.get_config()
    np.testing.assert_array_equal(np.asarray(layer([responses, images])[2]).sum(axis=1), [2, 2])
    for bad, match in (({"min_keypoints": -1}, "min_keypoints"), ({"min_keypoints": 2, "low_threshold": 0.0},
                                                                   "low_threshold")):
        with pytest.raises(ValueError, match=match):
            K.scale_space_keypoints(responses, 4, **bad)
        with pytest.raises(ValueError, match=match):
            ScaleSpaceKeypoints(4, **bad)


def test_merge_octaves_keeps_the_strongest_in_first_octave_pixels():
    """Octave 0 has (10, 20) at 0.5 and a padding entry; octave 1 has (4, 6) at 0.9 (-> (8.5, 12.5) in octave 0
    pixels: (x + 0.5) * 2 - 0.5) and (1, 1) at 0.5 (a tie with octave 0's: the finer octave first)."""
    inv = K.INVALID_SCORE
    p0, v0, ok0 = np.array([[[10, 20], [0, 0]]], "float32"), np.array([[0.5, inv]], "float32"), np.array([[1, 0]])
    p1, v1, ok1 = np.array([[[4, 6], [1, 1]]], "float32"), np.array([[0.9, 0.5]], "float32"), np.array([[1, 1]])
    data = [p0, v0, ok0.astype("float32"), p1, v1, ok1.astype("float32")]
    expected = [np.array([[[8.5, 12.5], [10, 20], [2.5, 2.5]]]), np.array([[0.9, 0.5, 0.5]]), np.ones((1, 3)),
                np.array([[1.0, 0.0, 1.0]])]
    check_layer(MergeOctaves, {"max_keypoints": 3}, input_data=data, expected_output=expected,
                expected_output_shape=[(1, 3, 2), (1, 3), (1, 3), (1, 3)], run_gradients=False, run_training=False,
                run_mixed_precision=False)
    out = MergeOctaves(4)(data)  # more than the valid ones: the last is padding
    assert np.asarray(out[2]).tolist() == [[1, 1, 1, 0]] and np.asarray(out[1])[0, 3] == inv
    with pytest.raises(ValueError, match="max_keypoints"):
        MergeOctaves(0)


def test_octave_points_and_select_octave_by_hand():
    points = np.array([[[9.5, 12.5], [-0.5, 3.5]]], "float32")
    check_layer(OctavePoints, {"octave": 1}, input_data=points, expected_output=np.array([[[4.5, 6.0], [-0.5, 1.5]]]),
                expected_output_shape=(1, 2, 2), run_training=False, run_mixed_precision=False)
    np.testing.assert_allclose(OctavePoints(0)(points), points)
    with pytest.raises(ValueError, match="octave"):
        OctavePoints(-1)
    octave = np.array([[0.0, 2.0, 1.0]], "float32")
    crops = [np.full((1, 3, 2, 2), float(o), "float32") + np.arange(3, dtype="float32")[None, :, None, None] * 10
             for o in range(3)]  # crop of keypoint k from octave o: o + 10 k everywhere
    expected = np.array([0.0, 12.0, 21.0])[None, :, None, None] * np.ones((1, 3, 2, 2))
    check_layer(SelectOctave, {}, input_data=[octave] + crops, expected_output=expected,
                expected_output_shape=(1, 3, 2, 2), run_training=False, run_mixed_precision=False)


@pytest.mark.parametrize("shape", [(5, 7, 3), (2, 4, 6, 3), (3, 3, 1), (4, 5, 4)])
def test_gray_level_is_numpy_mean_to_the_bit(shape):
    """The fast channel mean equals `mean(axis=-1)` exactly (uint8 and float inputs, any leading axes), so the DoG
    front end and the contrast guard keep their keypoints; and it does not alter its input."""
    from vras_keras.ops.keypoints import gray_level

    rng = np.random.default_rng(0)
    images = (rng.random(shape) * 255).astype(np.float32)
    before = images.copy()
    np.testing.assert_array_equal(gray_level(images), images.mean(axis=-1))
    np.testing.assert_array_equal(images, before)
    as_uint8 = images.astype(np.uint8)
    np.testing.assert_array_equal(gray_level(as_uint8), as_uint8.astype(np.float32).mean(axis=-1))
    assert gray_level(images).dtype == np.float32 and gray_level(images).shape == shape[:-1]
    hand = np.float32(7) / np.float32(3)  # (1 + 2 + 4) / 3 in float32
    np.testing.assert_array_equal(gray_level(np.array([[[1.0, 2.0, 4.0]]], np.float32)), [[hand]])


def test_gray_patches_equal_oriented_patches():
    """The NumPy crops `detect_and_describe` uses equal the graph op's (upright, turned by unnormalised vectors,
    per-keypoint scales), including keypoints near and far outside the image (zeros there)."""
    rng = np.random.default_rng(0)
    gray = (rng.random((48, 64)) * 255).astype(np.float32)
    xy = (rng.random((200, 2)) * [96, 80] - 16).astype(np.float32)
    xy[:3] = [[0.0, 0.0], [63.0, 47.0], [-40.0, 500.0]]
    vectors = rng.normal(size=(200, 2)).astype(np.float32)
    scales = (rng.random(200) * 1.5 + 0.5).astype(np.float32)
    for turn, scale in ((None, None), (vectors, None), (vectors, scales), (None, scales)):
        graph = K.oriented_patches(gray[None, ..., None], xy[None], None if turn is None else turn[None],
                                   output_size=8, support=20.0, scales=None if scale is None else scale[None])
        ours = K.gray_patches(gray, xy, turn, output_size=8, support=20.0, scales=scale)
        assert ours.shape == (200, 8, 8) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(graph)[0, ..., 0], rtol=0, atol=1e-4)
    assert np.all(ours[2] == 0)  # far outside: zeros
    # hand case: the centre sample of a 1-sample patch reads the keypoint's pixel
    np.testing.assert_allclose(K.gray_patches(gray, [[5.0, 7.0]], output_size=1, support=1.0)[0, 0, 0], gray[7, 5])


def test_gaussian_kernel_by_hand():
    g = K.gaussian_kernel_1d(0.6)  # radius ceil(1.8) = 2: exp(-r^2 / 0.72), normalised
    w = np.exp(-np.array([4.0, 1.0, 0.0, 1.0, 4.0]) / 0.72)
    np.testing.assert_allclose(g, w / w.sum(), rtol=1e-6)
    assert len(K.gaussian_kernel_1d(1.0)) == 7 and len(K.gaussian_kernel_1d(0.2)) == 3
    assert K.check_presmooth(0) == 0.0 and K.check_presmooth(np.float32(0.5)) == 0.5
    for bad in (-0.1, float("nan"), "0.6", True, None):
        with pytest.raises(ValueError, match="presmooth"):
            K.check_presmooth(bad)


def test_gaussian_blur_layer_harness():
    """Each channel convolved with the separable kernel, zeros outside (a hand-written 2-D convolution); the
    harness also checks the config round trip, gradients, SavedModel and TFLite built-ins (DEPTHWISE_CONV_2D)."""
    x = np.random.default_rng(3).uniform(0, 255, (2, 9, 11, 3)).astype("float32")
    g = K.gaussian_kernel_1d(0.6).astype(np.float64)
    kernel, r = np.outer(g, g), len(g) // 2
    padded = np.pad(x.astype(np.float64), ((0, 0), (r, r), (r, r), (0, 0)))
    expected = sum(kernel[i, j] * padded[:, i:i + 9, j:j + 11] for i in range(2 * r + 1) for j in range(2 * r + 1))
    check_layer(GaussianBlur, {"sigma": 0.6}, input_data=x, expected_output_shape=x.shape,
                expected_output=expected.astype("float32"), run_training=False, run_mixed_precision=False)
    flat = np.asarray(GaussianBlur(1.0)(np.full((1, 16, 16, 1), 50.0, np.float32)))[0, ..., 0]
    np.testing.assert_allclose(flat[3:-3, 3:-3], 50.0, rtol=1e-5)  # normalised: flat stays flat away from the border
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="sigma|presmooth"):
            GaussianBlur(bad)
