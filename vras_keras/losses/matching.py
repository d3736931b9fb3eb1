"""LIFT losses (Yi et al., ECCV 2016, arXiv:1603.09114, Sec. 3.3), one per training stage.

Quadruplets (see `vras_keras.data.pairs`): P1, P2 the same scene point in two views, P3 another
distinctive point, P4 a non-distinctive point. Descriptors are L2-normalised, so distances lie in [0, 2].

- `descriptor_loss(d1, d2, d3)`: pair distance small, non-pair distance above a margin:
  `mean ||d1 - d2|| + mean max(0, margin - ||d1 - d3||)`; with `hardest_in_batch=True` the non-pair
  distance is also taken to the hardest other positive of the batch (HardNet-style mining).
- `negative_hinge_loss(d1, dn)`: that non-pair hinge alone, `mean max(0, margin - ||d1 - dn||)` (also the
  optional shifted negative of the descriptor stage).
- `orientation_loss(d1, d2)`: distance between the pair's descriptors computed after rotating each
  patch by its estimated orientation: `mean ||d1 - d2||`.
- `orientation_consistency_loss(a1, a2)`: `mean(1 - cos(a1 - a2))` of canonical angles that must agree
  (the orientation stage's supervised rotation-consistency term, on by default, see `vras_keras.training.lift`).
- `detector_loss(...)`: `gamma * L_class + pair_weight * L_pair + overlap_weight * L_overlap` with
  `L_class`: the soft-max-pooled score `s = sum softmax(S / T) * S` of each score map S should be >= 1 on
  P1-P3 and <= -1 on P4 (squared hinge, positives and negative weighted equally);
  `L_pair`: descriptor distance of P1 and P2 at their detected keypoints (the paper's pair term);
  `L_overlap`: 1 - IoU of the two crop windows, after mapping the view-2 keypoint back to view 1
  with the local affine map of the homography (the detected points must land on the same place).
- `detector_dense_loss(maps, targets)`: per-pixel weighted cross-entropy against heatmaps of repeatable
  distinctive points (an addition to the paper: it localises the maxima to the pixel).
"""

from __future__ import annotations

from keras import ops

__all__ = ["descriptor_loss", "detector_class_loss", "detector_dense_loss", "detector_loss", "keypoint_overlap_loss",
           "negative_hinge_loss", "orientation_consistency_loss", "orientation_loss", "soft_score"]


def _distance(a, b):
    return ops.sqrt(ops.sum(ops.square(a - b), axis=-1) + 1e-12)


def negative_hinge_loss(d1, d_negative, *, margin: float = 1.0):
    """Hinge `mean(relu(margin - |d1 - d_negative|))`: negatives pushed at least `margin` from `d1`. The
    non-pair term of `descriptor_loss` (P3) and the shifted negative of `LiftStages(shift_negative=...)` (the
    same point's crop a few pixels off). Inputs `(N, D)`; scalar."""
    if not margin > 0:
        raise ValueError(f"margin must be > 0; received {margin!r}")
    return ops.mean(ops.relu(margin - _distance(d1, d_negative)))


def descriptor_loss(d1, d2, d3, *, margin: float = 1.0, hardest_in_batch: bool = False):
    """Pair distance + hinge on non-pair distance (see the module docstring). Inputs `(N, D)`; scalar."""
    if not margin > 0:
        raise ValueError(f"margin must be > 0; received {margin!r}")
    loss = ops.mean(_distance(d1, d2)) + negative_hinge_loss(d1, d3, margin=margin)
    if hardest_in_batch:
        dist = _distance(d1[:, None, :], d2[None, :, :])  # (N, N)
        n = ops.shape(dist)[0]
        eye = ops.eye(n, dtype=dist.dtype)
        hardest = ops.min(dist + 10.0 * eye, axis=1)  # closest non-matching positive
        loss = loss + ops.mean(ops.relu(margin - hardest))
    return loss


def orientation_loss(d1, d2):
    """Mean distance of the pair's descriptors after orientation assignment; `(N, D)` each, scalar."""
    return ops.mean(_distance(d1, d2))


def orientation_consistency_loss(angle1, angle2):
    """`mean(1 - cos(angle1 - angle2))`: angles `(N,)` (radians) that should be equal modulo 2 pi; scalar in [0, 2]."""
    return ops.mean(1.0 - ops.cos(angle1 - angle2))


def soft_score(score_map, temperature: float = 1.0):
    """`sum softmax(S / T) * S` per map: the score at the soft-argmax location. `(N, H, W, 1)` → `(N,)`."""
    s = ops.reshape(ops.cast(score_map, "float32"), (ops.shape(score_map)[0], -1))
    return ops.sum(ops.softmax(s / temperature, axis=-1) * s, axis=-1)


def detector_class_loss(positive_maps, negative_maps, temperature: float = 1.0):
    """Squared hinge: soft scores >= 1 on positive maps (list), <= -1 on negative maps (list); scalar."""
    pos = ops.mean(ops.stack([ops.mean(ops.square(ops.relu(1.0 - soft_score(m, temperature)))) for m in positive_maps]))
    neg = ops.mean(ops.stack([ops.mean(ops.square(ops.relu(1.0 + soft_score(m, temperature)))) for m in negative_maps]))
    return 0.5 * (pos + neg)


def detector_dense_loss(score_maps, targets, positive_weight: float = 10.0):
    """Per-pixel sigmoid cross-entropy of score maps (logits) against soft targets in [0, 1], positives
    (target mass) weighted by `positive_weight` (keypoints are rare). Lists of `(N, P, P, 1)` maps and
    `(N, P, P)` targets; scalar."""
    total = 0.0
    for logits, target in zip(score_maps, targets):
        z = ops.cast(logits, "float32")[..., 0]
        t = ops.cast(target, "float32")
        # log(1 + exp(-|z|)) + max(z, 0) - z t: the stable logistic loss, split into its two halves
        softplus_neg = ops.log1p(ops.exp(-ops.abs(z)))
        loss_pos = softplus_neg + ops.relu(-z)  # -log sigmoid(z)
        loss_neg = softplus_neg + ops.relu(z)  # -log(1 - sigmoid(z))
        total = total + ops.mean(positive_weight * t * loss_pos + (1.0 - t) * loss_neg)
    return total / len(score_maps)


def keypoint_overlap_loss(keypoints1, keypoints2, affine, *, patch_size: float, crop_size: float):
    """1 - IoU of the crop windows (squares of side `crop_size`) of the pair's detected keypoints.

    Args:
        keypoints1, keypoints2: `(N, 2)` keypoints in patch pixels of P1 and P2 (both patches centred on
            the same scene point).
        affine: `(N, 2, 2)` local map of view-1 offsets to view-2 offsets (`pairs.local_affine`).
        patch_size: side of the patches (their centre is `(patch_size - 1) / 2`).
    Returns:
        scalar in [0, 1].
    """
    centre = (patch_size - 1) / 2.0
    o1 = keypoints1 - centre
    o2 = keypoints2 - centre
    a = ops.cast(affine, "float32")
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    inv = (
        ops.stack([ops.stack([a[:, 1, 1], -a[:, 0, 1]], -1), ops.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], 1)
        / det[:, None, None]
    )
    o2_in_1 = ops.sum(inv * o2[:, None, :], axis=-1)
    delta = ops.abs(o1 - o2_in_1)
    inter = ops.relu(crop_size - delta[:, 0]) * ops.relu(crop_size - delta[:, 1])
    iou = inter / (2.0 * crop_size**2 - inter)
    return ops.mean(1.0 - iou)


def detector_loss(score_maps, descriptors_pair, keypoints_pair, affine, *, patch_size: float, crop_size: float,
                  gamma: float = 1.0, overlap_weight: float = 1.0, temperature: float = 1.0, pair_weight: float = 1.0):
    """The detector stage's loss.

    Args:
        score_maps: list of the four score maps `(N, P, P, 1)` of P1, P2, P3, P4.
        descriptors_pair: `(d1, d2)` descriptors of P1, P2 at their detected keypoints.
        keypoints_pair: `(k1, k2)` detected keypoints `(N, 2)` of P1, P2.
        affine: `(N, 2, 2)`, as `keypoint_overlap_loss`.

    Returns:
        `(total, parts)` with `parts = {"class", "pair", "overlap"}`.
    """
    l_class = detector_class_loss(score_maps[:3], score_maps[3:], temperature)
    l_pair = orientation_loss(*descriptors_pair)
    l_overlap = keypoint_overlap_loss(*keypoints_pair, affine, patch_size=patch_size, crop_size=crop_size)
    total = gamma * l_class + pair_weight * l_pair + overlap_weight * l_overlap
    return total, {"class": l_class, "pair": l_pair, "overlap": l_overlap}
