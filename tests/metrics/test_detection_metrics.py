"""COCO evaluation: perfect predictions give AP 1, hand cases give COCO's 101-point values."""

import numpy as np
import pytest

from vras_keras.metrics.detection import METRIC_NAMES, evaluate_detections

GT = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 60, 60], [-1, -1, -1, -1]]], "float32"),
      "classes": np.array([[0, 0, -1]], "int32")}


def _pred(boxes, scores, classes):
    return [{"boxes": np.array(boxes, "float32"), "scores": np.array(scores, "float32"),
             "classes": np.array(classes, "int32")}]


def test_perfect_predictions_give_one():
    gt = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 60, 60]], [[5, 5, 50, 40], [0, 0, 0, 0]]], "float32"),
          "classes": np.array([[0, 1], [2, -1]], "int32")}
    pred = {"boxes": gt["boxes"], "scores": np.array([[0.9, 0.8], [0.7, 0.0]], "float32"),
            "classes": gt["classes"], "num_detections": np.array([2, 1], "int32")}
    metrics = evaluate_detections(pred, gt)
    assert set(metrics) == set(METRIC_NAMES)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(1.0) and metrics["AR100"] == pytest.approx(1.0)


def test_hand_cases_101_point_interpolation():
    # one of two objects found: precision 1 up to recall 0.5 -> 51 of the 101 recall points
    m = evaluate_detections(_pred([[10, 10, 30, 30]], [0.9], [0]), GT)
    assert m["AP50"] == pytest.approx(51 / 101, abs=1e-6) and m["AP"] == pytest.approx(51 / 101, abs=1e-6)
    # a higher-scored false positive first: precision 0.5 at recall 0.5
    m = evaluate_detections(_pred([[100, 100, 120, 120], [10, 10, 30, 30]], [0.95, 0.9], [0, 0]), GT)
    assert m["AP50"] == pytest.approx(0.5 * 51 / 101, abs=1e-6)
    # wrong class: no match at all
    m = evaluate_detections(_pred([[10, 10, 30, 30], [40, 40, 60, 60]], [0.9, 0.8], [1, 1]), GT)
    assert m["AP50"] == pytest.approx(0.0)


def test_iou_thresholds_ap50_vs_ap75():
    # both boxes shifted: IoU = 16*20 / (2*400 - 320) = 0.667 -> matched at 0.50..0.65, not at >= 0.70
    pred = _pred([[14, 10, 34, 30], [44, 40, 64, 60]], [0.9, 0.8], [0, 0])
    m = evaluate_detections(pred, GT)
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(0.0)
    assert m["AP"] == pytest.approx(4 / 10)


def test_segm_and_errors():
    masks = np.zeros((1, 2, 64, 64), "uint8")
    masks[0, 0, 10:30, 10:30] = 1
    masks[0, 1, 40:60, 40:50] = 1
    gt = {"boxes": np.array([[[10, 10, 30, 30], [40, 40, 50, 60]]], "float32"), "classes": np.array([[0, 1]]),
          "masks": masks}
    pred = {**gt, "scores": np.array([[0.9, 0.8]], "float32"), "masks": masks.astype("float32") * 0.9}
    assert evaluate_detections(pred, gt, iou_type="segm")["AP"] == pytest.approx(1.0)
    half = pred["masks"].copy()
    half[0, 1, 50:60] = 0  # half of the second mask: IoU 0.5
    m = evaluate_detections({**pred, "masks": half}, gt, iou_type="segm")
    assert m["AP50"] == pytest.approx(1.0) and m["AP75"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="iou_type"):
        evaluate_detections(pred, gt, iou_type="keypoints")
    with pytest.raises(ValueError, match="no valid object"):
        evaluate_detections(pred, {"boxes": gt["boxes"], "classes": -np.ones((1, 2), "int32")})
    with pytest.raises(ValueError, match="must match"):
        evaluate_detections([pred], [gt, gt])
    empty = _pred(np.zeros((0, 4)), [], [])
    assert evaluate_detections(empty, GT)["AP"] == 0.0


def _pycocotools_reference(preds, gts, size=200):
    """pycocotools run directly on the same detections (xyxy -> xywh, categories = class + 1), default params."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, results = [], [], []
    for image_id, (p, g) in enumerate(zip(preds, gts), start=1):
        images.append({"id": image_id, "height": size, "width": size})
        for box, cls in zip(g["boxes"], g["classes"]):
            x, y, w, h = float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": int(cls) + 1, "iscrowd": 0,
                         "bbox": [x, y, w, h], "area": w * h})
        for box, score, cls in zip(p["boxes"], p["scores"], p["classes"]):
            results.append({"image_id": image_id, "category_id": int(cls) + 1, "score": float(score),
                            "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in (1, 2, 3)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(METRIC_NAMES, evaluator.stats))


def test_more_than_100_detections_per_image_equal_pycocotools():
    """Issue #20: no top-100 cut per image before COCOeval (which limits per image *and class*)."""
    rng = np.random.default_rng(0)
    preds, gts = [], []
    for _ in range(2):
        xy = rng.uniform(0, 150, (40, 2))
        gt_boxes = np.concatenate([xy, xy + rng.uniform(10, 40, (40, 2))], 1).astype("float32")
        gt_classes = rng.integers(0, 3, 40)
        # 240 detections: jittered copies of the objects (each class's objects found by ~80 boxes) with
        # scores that put many true positives of rarer classes below the image's 100th score
        src = rng.integers(0, 40, 240)
        boxes = (gt_boxes[src] + rng.normal(0, 2.0, (240, 4))).astype("float32")
        scores = rng.uniform(0, 1, 240).astype("float32")
        scores[gt_classes[src] == 2] *= 0.3
        preds.append({"boxes": boxes, "scores": scores, "classes": gt_classes[src].astype("int32")})
        gts.append({"boxes": gt_boxes, "classes": gt_classes.astype("int32")})
    expected = _pycocotools_reference(preds, gts)
    ours = evaluate_detections(preds, gts, image_shape=(200, 200))
    for name in METRIC_NAMES:
        assert ours[name] == pytest.approx(expected[name], abs=1e-12), name
    # the cut mattered here: the 100 best per image alone score lower
    cut = [{k: v[np.argsort(-p["scores"])[:100]] for k, v in p.items()} for p in preds]
    assert _pycocotools_reference(cut, gts)["AR100"] < expected["AR100"] - 0.05
    with pytest.raises(ValueError, match="max_detections"):
        evaluate_detections(preds, gts, max_detections=5)
