"""COCO-style detection metrics through `pycocotools.cocoeval.COCOeval` (COCO objects built in memory).

`evaluate_detections(predictions, ground_truth, iou_type="bbox"|"segm")` returns the 12 standard COCO
numbers `{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"}` (AP
averaged over IoU 0.50:0.05:0.95 and over classes, 101-point interpolated precision; -1 where COCOeval
has nothing to measure, e.g. no large objects).

Both arguments are either a list with one dict per image or one batched dict of padded arrays:

- predictions: `"boxes"` `(K, 4)`, `"scores"` `(K,)`, `"classes"` `(K,)` (padding: class -1, or only the
  first `"num_detections"` entries count), plus `"masks"` `(K, H, W)` (binary or probabilities, > 0.5)
  for `iou_type="segm"`: exactly the inference outputs of the vras_keras detectors;
- ground truth: `"boxes"` `(M, 4)`, `"classes"` `(M,)` padded with -1, plus `"masks"` `(M, H, W)` for
  `"segm"`: exactly the targets of `vras_keras.data.datasets.load("detection")`.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from vras_keras.ops.boxes import convert_format

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
IOU_TYPES = ("bbox", "segm")


def _as_list(data, what):
    """One dict of NumPy arrays per image, from a list of dicts or a batched dict."""
    if isinstance(data, dict):
        arrays = {k: np.asarray(v) for k, v in data.items()}
        if "classes" not in arrays:
            raise ValueError(f"{what} must have a 'classes' entry, received keys {sorted(arrays)}")
        n = arrays["classes"].shape[0] if arrays["classes"].ndim == 2 else None
        if n is None:
            return [arrays]
        return [{k: v[i] for k, v in arrays.items()} for i in range(n)]
    if isinstance(data, (list, tuple)):
        return [{k: np.asarray(v) for k, v in d.items()} for d in data]
    raise TypeError(f"{what} must be a list of per-image dicts or a batched dict, received {type(data).__name__}")


def _valid(sample):
    classes = np.asarray(sample["classes"]).reshape(-1)
    keep = classes >= 0
    if "num_detections" in sample:
        keep &= np.arange(len(classes)) < int(np.asarray(sample["num_detections"]).reshape(()))
    return keep


def _rle(mask):
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask) > 0.5, dtype=np.uint8))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def evaluate_detections(
    predictions,
    ground_truth,
    *,
    iou_type: str = "bbox",
    bounding_box_format: str = "xyxy",
    image_shape=None,
    max_detections: int = 100,
) -> dict[str, float]:
    """COCO AP / AR of detections against ground truth.

    Args:
        predictions: list of per-image dicts or a batched dict (see the module docstring).
        ground_truth: same structure, one entry per image, in the same order.
        iou_type: `"bbox"` or `"segm"` (needs `"masks"` in both).
        bounding_box_format: format of all boxes (converted to COCO's xywh).
        image_shape: `(height, width)` of the images; default: from the masks, else large enough for
            every box (only `"segm"` needs the true size).
        max_detections: COCO's largest `maxDets` (`AR100` and the AP use at most this many detections per
            image *and class*, as pycocotools does). Every valid detection is passed to `COCOeval`, which
            applies its own limits; a top-`max_detections` cut per image before it would lower AP and AR.

    Returns:
        A dict of the 12 COCO numbers (`METRIC_NAMES`), as Python floats. With no valid ground truth in any
        image a `ValueError` is raised; with no detections at all every number is 0.0.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, received {iou_type!r}")
    if isinstance(max_detections, bool) or int(max_detections) != max_detections or int(max_detections) < 10:
        raise ValueError(f"max_detections must be an int >= 10 (COCO's maxDets are 1, 10 and it), "
                         f"received {max_detections!r}")
    preds, gts = _as_list(predictions, "predictions"), _as_list(ground_truth, "ground_truth")
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} prediction entries for {len(gts)} ground-truth images; they must match")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results, categories = [], [], [], set()
    for image_id, (pred, gt) in enumerate(zip(preds, gts), start=1):
        if iou_type == "segm" and ("masks" not in gt or "masks" not in pred):
            raise ValueError(f"iou_type='segm' needs 'masks' in predictions and ground truth (image {image_id - 1})")
        gt_keep = _valid(gt)
        gt_boxes = np.asarray(convert_format(np.asarray(gt["boxes"], np.float32).reshape(-1, 4),
                                             bounding_box_format, "xywh"))
        if image_shape is not None:
            height, width = int(image_shape[0]), int(image_shape[1])
        elif "masks" in gt and np.ndim(gt["masks"]) == 3:
            height, width = np.shape(gt["masks"])[1:]
        else:
            extent = np.concatenate([gt_boxes[gt_keep, :2] + gt_boxes[gt_keep, 2:], [[1.0, 1.0]]])
            width, height = (int(np.ceil(v)) + 1 for v in extent.max(0))
        images.append({"id": image_id, "height": int(height), "width": int(width)})
        for j in np.flatnonzero(gt_keep):
            category = int(gt["classes"].reshape(-1)[j]) + 1
            categories.add(category)
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": category, "iscrowd": 0,
                   "bbox": [float(v) for v in gt_boxes[j]], "area": float(gt_boxes[j, 2] * gt_boxes[j, 3])}
            if iou_type == "segm":
                ann["segmentation"] = _rle(gt["masks"][j])
                ann["area"] = float((np.asarray(gt["masks"][j]) > 0.5).sum())
            annotations.append(ann)
        keep = _valid(pred)
        scores = np.asarray(pred["scores"], np.float32).reshape(-1)
        order = [i for i in np.argsort(-scores, kind="stable") if keep[i]]  # all: COCOeval limits per class
        boxes = np.asarray(convert_format(np.asarray(pred["boxes"], np.float32).reshape(-1, 4),
                                          bounding_box_format, "xywh"))
        for i in order:
            res = {"image_id": image_id, "category_id": int(pred["classes"].reshape(-1)[i]) + 1,
                   "bbox": [float(v) for v in boxes[i]], "score": float(scores[i])}
            if iou_type == "segm":
                res["segmentation"] = _rle(pred["masks"][i])
            results.append(res)
    if not annotations:
        raise ValueError("the ground truth has no valid object (every class is -1): COCO AP is undefined")
    if not results:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    categories |= {r["category_id"] for r in results}
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": annotations,
                       "categories": [{"id": c, "name": str(c - 1)} for c in sorted(categories)]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        evaluator.params.maxDets = [1, 10, int(max_detections)]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats)}
