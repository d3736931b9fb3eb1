"""NMS on small hand cases, padding, class-wise behaviour, jit."""

import numpy as np
import tensorflow as tf

from vras_keras.ops import nms

BOXES = np.array(
    [[[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5], [21, 21, 30, 30]]], "float32"
)
SCORES = np.array([[0.9, 0.8, 0.7, 0.95, 0.1]], "float32")


def test_single_class_hand_case():
    # box 3 (0.95) suppresses 0 (IoU 100/105 = 0.95) and 1 (IoU 85.5/119.5 = 0.72); box 2 suppresses 4 (0.81)
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=4, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(idx), [[3, 2, -1, -1]])
    np.testing.assert_array_equal(np.asarray(n), [2])
    # threshold 0.75 keeps box 1 (IoU 0.72 with box 3; box 0 is suppressed) but not box 0 or box 4
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=5, iou_threshold=0.75)
    np.testing.assert_array_equal(np.asarray(idx), [[3, 1, 2, -1, -1]])
    # score threshold removes candidates before NMS
    idx, n = nms.non_max_suppression(BOXES, SCORES, max_output_size=2, iou_threshold=0.5, score_threshold=0.75)
    np.testing.assert_array_equal(np.asarray(idx), [[3, -1]])


def test_greedy_chain_is_exact():
    # A chain a > b > c where a suppresses b, b would suppress c, but b is gone so c stays.
    boxes = np.array([[[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]]], "float32")
    scores = np.array([[0.9, 0.8, 0.7]], "float32")
    idx, n = nms.non_max_suppression(boxes, scores, max_output_size=3, iou_threshold=0.4)
    np.testing.assert_array_equal(np.asarray(idx), [[0, 2, -1]])  # IoU(a,b) = 0.43, IoU(a,c) = 0.11


def test_multiclass_hand_case_and_padding():
    scores = np.zeros((1, 5, 2), "float32")
    scores[0, :, 0] = SCORES[0]
    scores[0, 1, 1] = 0.85  # box 1 as class 1: nothing of class 1 overlaps it
    out = nms.multiclass_non_max_suppression(BOXES, scores, max_detections=6, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[0, 1, 0, -1, -1, -1]])
    np.testing.assert_allclose(np.asarray(out["scores"]), [[0.95, 0.85, 0.7, 0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["boxes"])[0, :3], BOXES[0, [3, 1, 2]])
    np.testing.assert_array_equal(np.asarray(out["num_detections"]), [3])
    # fewer detections requested than found: truncated, count capped
    out = nms.multiclass_non_max_suppression(BOXES, scores, max_detections=2)
    np.testing.assert_array_equal(np.asarray(out["num_detections"]), [2])


def test_multiclass_per_class_boxes_batch_and_jit():
    boxes = np.stack([BOXES[0], BOXES[0][::-1]])  # (2, 5, 4)
    per_class = np.repeat(boxes[:, :, None], 3, axis=2)  # (2, 5, 3, 4)
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (2, 5, 3)).astype("float32")
    eager = nms.multiclass_non_max_suppression(per_class, scores, max_detections=8)
    shared = nms.multiclass_non_max_suppression(boxes, scores, max_detections=8)
    for key in eager:
        np.testing.assert_allclose(np.asarray(eager[key]), np.asarray(shared[key]))
    fn = tf.function(lambda b, s: nms.multiclass_non_max_suppression(b, s, max_detections=8), jit_compile=True)
    jit = fn(boxes, scores)
    for key in eager:
        np.testing.assert_allclose(np.asarray(jit[key]), np.asarray(eager[key]), atol=1e-6)
    # reference: per-class greedy NMS in NumPy
    for b in range(2):
        expected = []
        for c in range(3):
            order = [i for i in np.argsort(-scores[b, :, c]) if scores[b, i, c] > 0.05]
            kept = []
            for i in order:
                if all(_iou(boxes[b, i], boxes[b, j]) <= 0.5 for j in kept):
                    kept.append(i)
            expected += [(scores[b, i, c], c) for i in kept]
        expected.sort(reverse=True)
        n = int(eager["num_detections"][b])
        assert n == min(len(expected), 8)
        np.testing.assert_allclose(np.asarray(eager["scores"])[b, :n], [s for s, _ in expected[:n]], atol=1e-6)


def _iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------- class-wise NMS without coordinate offsets
def test_classwise_issue_minimal_case_keeps_both():
    """Issue #20: IoU 0.49996 (<= 0.5) must not become > 0.5 through a per-class coordinate shift."""
    boxes = np.array([[[640.73376, 689.0251, 669.1566, 707.9399], [643.32776, 693.27, 662.60535, 707.21295]]],
                     "float32")
    assert 0.4999 < _iou(boxes[0, 0], boxes[0, 1]) < 0.5
    scores = np.zeros((1, 2, 20), "float32")
    scores[0, 0, 19], scores[0, 1, 19] = 0.9, 0.8
    out = nms.multiclass_non_max_suppression(boxes, scores, max_detections=4, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(out["num_detections"]), [2])
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[19, 19, -1, -1]])
    np.testing.assert_allclose(np.asarray(out["scores"]), [[0.9, 0.8, 0, 0]], atol=1e-7)


def test_classwise_negative_coordinates_never_cross_classes():
    # The old offset (class * (max|coord| + 1) = 11) moved the class-1 box exactly onto the class-0 box.
    boxes = np.array([[[-10, -10, 10, 10], [-21, -21, -1, -1], [-10, -10, 10, 10]]], "float32")
    scores = np.zeros((1, 3, 2), "float32")
    scores[0, 0, 0] = 0.9  # class 0
    scores[0, 1, 1] = 0.8  # class 1, would coincide with box 0 after the shift
    scores[0, 2, 1] = 0.7  # class 1, identical to box 0 but another class: kept
    out = nms.multiclass_non_max_suppression(boxes, scores, max_detections=3, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[0, 1, 1]])
    np.testing.assert_allclose(np.asarray(out["boxes"])[0], boxes[0])
    # same class, same box: the second is suppressed
    scores[0, 2] = [0.7, 0.0]
    out = nms.multiclass_non_max_suppression(boxes, scores, max_detections=3, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(out["classes"]), [[0, 1, -1]])


# ----------------------------------------------------------------- tiled NMS vs TF's kernel and NumPy greedy
def _random_boxes(rng, n, extent=200.0):
    # clustered boxes so that suppression chains and ties across tiles happen
    centres = rng.uniform(0, extent, (max(n // 8, 1), 2))[rng.integers(0, max(n // 8, 1), n)]
    xy = centres + rng.normal(0, 6, (n, 2))
    wh = rng.uniform(8, 40, (n, 2))
    return np.concatenate([xy - wh / 2, xy + wh / 2], 1).astype("float32")


def _tf_nms(boxes, scores, max_output, thr):
    yxyx = tf.constant(boxes[:, [1, 0, 3, 2]])
    return np.asarray(tf.image.non_max_suppression(yxyx, scores, max_output, iou_threshold=thr))


import pytest  # noqa: E402

from vras_keras.testing.references import nms_numpy  # noqa: E402


@pytest.mark.parametrize("tile_size,max_output,quantize", [(64, 1000, False), (256, 40, False), (16, 1000, True)])
def test_same_kept_set_as_tf_and_numpy(tile_size, max_output, quantize):
    """Both paths: the single-class kernel and the tiled class-wise NMS with one class."""
    rng = np.random.default_rng(tile_size)
    n = 600
    boxes = np.stack([_random_boxes(rng, n), _random_boxes(rng, n)])
    scores = rng.uniform(0, 1, (2, n)).astype("float32")
    if quantize:  # many exact ties, also across tile boundaries: lower index first
        scores = np.round(scores * 10) / 10
    single = tf.function(lambda b, s: nms.non_max_suppression(b, s, max_output_size=max_output, iou_threshold=0.5))
    # the tiled path runs for C > 1: a second class whose scores are all below the threshold
    two_class = np.stack([scores, np.full_like(scores, -2.0)], axis=-1)
    tiled = tf.function(lambda b, s: nms.multiclass_non_max_suppression(
        b, s, max_detections=max_output, iou_threshold=0.5, score_threshold=-1.0,
        pre_nms_top_k=None, tile_size=tile_size))
    idx, count = (np.asarray(v) for v in single(boxes, scores))
    out = {k: np.asarray(v) for k, v in tiled(boxes, two_class).items()}
    # eager calls (the kernel with NumPy around it; one class: the kernel, not the tiles) and graph calls agree
    eager_idx, eager_count = nms.non_max_suppression(boxes, scores, max_output_size=max_output, iou_threshold=0.5)
    np.testing.assert_array_equal(np.asarray(eager_idx), idx)
    np.testing.assert_array_equal(np.asarray(eager_count), count)
    one_class = tf.function(lambda b, s: nms.multiclass_non_max_suppression(
        b, s[..., None], max_detections=max_output, iou_threshold=0.5, score_threshold=float("-inf"),
        pre_nms_top_k=None))(boxes, scores)
    eager_one = nms.multiclass_non_max_suppression(boxes, scores[..., None], max_detections=max_output,
                                                   iou_threshold=0.5, score_threshold=float("-inf"), pre_nms_top_k=None)
    eager_two = nms.multiclass_non_max_suppression(boxes, two_class, max_detections=max_output, iou_threshold=0.5,
                                                   score_threshold=-1.0, pre_nms_top_k=None, tile_size=tile_size)
    for key in out:
        for other in (one_class, eager_one, eager_two):
            np.testing.assert_array_equal(np.asarray(other[key]), out[key])
    assert idx.shape == (2, max_output) and out["boxes"].shape == (2, max_output, 4)
    for b in range(2):
        expected = _tf_nms(boxes[b], scores[b], max_output, 0.5)
        np.testing.assert_array_equal(nms_numpy(boxes[b], scores[b], iou_threshold=0.5, max_output_size=max_output),
                                      expected)
        assert 0 < len(expected) <= max_output
        assert count[b] == out["num_detections"][b] == len(expected)
        np.testing.assert_array_equal(idx[b, : count[b]], expected)  # same boxes, same order
        assert np.all(idx[b, count[b]:] == -1)
        np.testing.assert_array_equal(out["boxes"][b, : count[b]], boxes[b, expected])
        np.testing.assert_array_equal(out["scores"][b, : count[b]], scores[b, expected])
        assert np.all(out["classes"][b, : count[b]] == 0) and np.all(out["classes"][b, count[b]:] == -1)


def test_multiclass_matches_numpy_per_class_greedy_across_tiles():
    rng = np.random.default_rng(3)
    n, c = 300, 4
    boxes = _random_boxes(rng, n)[None]
    scores = rng.uniform(0, 1, (1, n, c)).astype("float32") ** 3
    out = nms.multiclass_non_max_suppression(boxes, scores, max_detections=800, iou_threshold=0.45,
                                             score_threshold=0.05, pre_nms_top_k=None, tile_size=32)
    flat_scores = scores[0].reshape(-1)
    flat_boxes = np.repeat(boxes[0], c, axis=0)
    classes = np.tile(np.arange(c), n)
    kept = nms_numpy(flat_boxes, flat_scores, iou_threshold=0.45, score_threshold=0.05, classes=classes)
    k = int(out["num_detections"][0])
    assert k == len(kept) > 100
    np.testing.assert_array_equal(np.asarray(out["classes"])[0, :k], classes[kept])
    np.testing.assert_array_equal(np.asarray(out["scores"])[0, :k], flat_scores[kept])
    np.testing.assert_array_equal(np.asarray(out["boxes"])[0, :k], flat_boxes[kept])


def test_pre_nms_top_k_and_score_threshold_and_bad_args():
    rng = np.random.default_rng(5)
    boxes = _random_boxes(rng, 200)[None]
    scores = rng.uniform(0, 1, (1, 200)).astype("float32")
    idx, count = nms.non_max_suppression(boxes, scores, max_output_size=300, iou_threshold=0.3, pre_nms_top_k=50,
                                         score_threshold=0.2)
    top = np.argsort(-scores[0], kind="stable")[:50]
    kept = top[nms_numpy(boxes[0, top], scores[0, top], iou_threshold=0.3, score_threshold=0.2)]
    np.testing.assert_array_equal(np.asarray(idx)[0, : int(count[0])], kept)
    graph = tf.function(lambda b, s: nms.non_max_suppression(b, s, max_output_size=300, iou_threshold=0.3,
                                                             pre_nms_top_k=50, score_threshold=0.2))(boxes, scores)
    for eager, in_graph in zip((idx, count), graph):
        np.testing.assert_array_equal(np.asarray(eager), np.asarray(in_graph))
    # one class with pre_nms_top_k < N: eager and in a graph, the same kept boxes
    kwargs = dict(max_detections=40, iou_threshold=0.3, score_threshold=0.2, pre_nms_top_k=50)
    eager = nms.multiclass_non_max_suppression(boxes, scores[..., None], **kwargs)
    in_graph = tf.function(lambda b, s: nms.multiclass_non_max_suppression(b, s, **kwargs))(boxes, scores[..., None])
    k = int(eager["num_detections"][0])
    assert k == min(len(kept), 40)
    np.testing.assert_array_equal(np.asarray(eager["boxes"])[0, :k], boxes[0, kept[:k]])
    for key in eager:
        np.testing.assert_array_equal(np.asarray(eager[key]), np.asarray(in_graph[key]))
    with pytest.raises(ValueError, match="tile_size"):
        nms.multiclass_non_max_suppression(boxes, scores[..., None], max_detections=3, tile_size=0)


def test_tflite_builtins_only_and_equal_to_tf():
    import keras
    from keras import ops

    from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite

    class _Nms(keras.layers.Layer):
        def call(self, boxes, scores):
            # pre_nms_top_k ranks the candidates, so TFLite's kernel keeps TF's order among equal scores
            idx, count = nms.non_max_suppression(boxes, scores, max_output_size=60, iou_threshold=0.5,
                                                 pre_nms_top_k=150)
            out = nms.multiclass_non_max_suppression(boxes, scores[..., None], max_detections=60, iou_threshold=0.5,
                                                     score_threshold=-1.0, pre_nms_top_k=None)  # one class: kernel
            # two classes, the second below the threshold: the tiled path
            two = ops.stack([scores, ops.full_like(scores, -2.0)], axis=-1)
            tiled = nms.multiclass_non_max_suppression(boxes, two, max_detections=60, iou_threshold=0.5,
                                                       score_threshold=-1.0, pre_nms_top_k=None, tile_size=32)
            return {"indices": idx, "count": count, "one_boxes": out["boxes"], "one_count": out["num_detections"],
                    "tiled_boxes": tiled["boxes"], "tiled_count": tiled["num_detections"]}

    boxes_in, scores_in = keras.Input((150, 4), name="boxes"), keras.Input((150,), name="scores")
    model = keras.Model([boxes_in, scores_in], _Nms()(boxes_in, scores_in))
    flatbuffer = convert_to_tflite(model)  # built-in ops only, or it raises
    rng = np.random.default_rng(7)
    for batch in (1, 2):
        boxes = np.stack([_random_boxes(rng, 150) for _ in range(batch)])
        scores = np.round(rng.uniform(0, 1, (batch, 150)), 1).astype("float32")  # ties
        out = TFLiteRunner(flatbuffer)({"boxes": boxes, "scores": scores})
        for b in range(batch):
            expected = _tf_nms(boxes[b], scores[b], 60, 0.5)
            count = int(np.reshape(out["count"], (batch,))[b])
            assert count == len(expected) == int(np.reshape(out["tiled_count"], (batch,))[b])
            assert count == int(np.reshape(out["one_count"], (batch,))[b])
            np.testing.assert_array_equal(np.asarray(out["tiled_boxes"])[b, :count], boxes[b, expected])
            np.testing.assert_array_equal(np.asarray(out["one_boxes"])[b, :count], boxes[b, expected])
            np.testing.assert_array_equal(np.asarray(out["indices"])[b, :count], expected)


def test_single_class_jit_equals_eager():
    rng = np.random.default_rng(11)
    boxes = np.stack([_random_boxes(rng, 300), _random_boxes(rng, 300)])
    scores = rng.uniform(0, 1, (2, 300)).astype("float32")
    fn = lambda b, s: nms.non_max_suppression(b, s, max_output_size=50, iou_threshold=0.6, pre_nms_top_k=200)  # noqa: E731
    eager = fn(boxes, scores)
    jit = tf.function(fn, jit_compile=True)(boxes, scores)
    for e, j in zip(eager, jit):
        np.testing.assert_array_equal(np.asarray(j), np.asarray(e))
