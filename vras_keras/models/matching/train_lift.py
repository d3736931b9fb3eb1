"""Staged LIFT training (Yi et al., ECCV 2016, arXiv:1603.09114, Sec. 3.4): descriptor, then orientation
estimator, then detector, each stage with the networks trained earlier frozen.

1. descriptor: crops of P1 and of the rectified P2 (view 2 resampled onto P1's pixel grid) at the patch
   centre, both turned by the same random angle (the descriptor must work in any canonical frame) plus a
   small relative jitter of angle and position; P3 is the non-pair. `losses.matching.descriptor_loss`.
2. orientation: upright crops of P1 and P2 (P2 is rotated by the homography); each is rotated by its
   own estimated orientation and described by the frozen descriptor. `orientation_loss`.
3. detector: the whole `lift` patch pipeline on P1..P4 (soft-argmax keypoints → crops → frozen
   orientation and descriptor); `detector_loss` (class + pair + overlap terms).

Callable from a script or a recipe:

>>> from vras_keras.data.pairs import quadruplet_dataset
>>> data = quadruplet_dataset("train", num_pairs=64, per_pair=32, patch_size=64)
>>> model = vras_keras.models.get("lift")
>>> history = train_lift(model, data, descriptor_steps=2000, orientation_steps=1000, detector_steps=1000)
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from vras_keras.losses import matching as losses
from vras_keras.ops.keypoints import oriented_patches

__all__ = ["STAGES", "train_lift"]

STAGES = ("descriptor", "orientation", "detector")
_REQUIRED = ("p1", "p2", "p2_rectified", "p3", "p4", "affine")


def _centre_crops(patches, crop, angles=None, jitter=None):
    """Crops `(N, S, S, 3)` of `(N, P, P, 3)` patches around their centre (+ jitter), at `angles`."""
    from keras import ops

    n, p = ops.shape(patches)[0], patches.shape[1]
    centre = ops.full((n, 1, 2), (p - 1) / 2.0)
    if jitter is not None:
        centre = centre + jitter[:, None, :]
    angles = None if angles is None else angles[:, None]
    return oriented_patches(patches, centre, angles, output_size=crop.output_size, support=crop.support)[:, 0]


def train_lift(
    model: keras.Model,
    data: dict,
    *,
    descriptor_steps: int = 1000,
    orientation_steps: int = 500,
    detector_steps: int = 500,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    margin: float = 1.0,
    hardest_in_batch: bool = True,
    gamma: float = 1.0,
    overlap_weight: float = 1.0,
    rotation_jitter: float = 10.0,
    position_jitter: float = 1.0,
    seed: int = 0,
    log_every: int = 100,
    log=print,
) -> dict:
    """Train a `lift` model in three stages on quadruplets (`vras_keras.data.pairs.quadruplet_dataset`).

    Args:
        model: a `lift` model; trained in place.
        data: dict with `p1`, `p2`, `p2_rectified`, `p3`, `p4` float32 or uint8 `(n, P, P, 3)` 0..255 (P = the
            model's patch size) and `affine` `(n, 2, 2)`.
        descriptor_steps, orientation_steps, detector_steps: optimisation steps per stage (0 skips one).
        batch_size: quadruplets per step.
        learning_rate: Adam's, a fresh optimizer per stage.
        margin, hardest_in_batch: `descriptor_loss` options.
        gamma, overlap_weight: `detector_loss` weights.
        rotation_jitter: degrees of random relative rotation between the pair in stage 1.
        position_jitter: pixels of random relative shift between the pair in stage 1.
        log: callable for progress lines (None: silent).

    Returns:
        history: `{stage: [(step, loss), ...]}` plus `"seconds": {stage: wall seconds}`.
    """
    import tensorflow as tf  # custom training loop: GradientTape + tf.function (the TF backend)

    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"data is missing {missing}; expected the keys of vras_keras.data.pairs.sample_quadruplets")
    patch = model.input.shape[1]
    n = len(data["p1"])
    if n < 2:
        raise ValueError(f"data holds {n} quadruplets; at least 2 are needed")
    if data["p1"].shape[1:] != (patch, patch, 3):
        raise ValueError(f"data patches are {data['p1'].shape[1:]}, the model expects ({patch}, {patch}, 3)")
    batch_size = min(batch_size, n)
    detector = model.get_layer("detector")
    orientation = model.get_layer("orientation")
    descriptor = model.get_layer("descriptor")
    crop = model.get_layer("crop")
    temperature = model.get_layer("keypoint_soft_argmax").temperature
    rng = np.random.default_rng(seed)
    arrays = {k: np.asarray(data[k]) for k in _REQUIRED}  # uint8 patches stay uint8 until batched
    history = {stage: [] for stage in STAGES}
    history["seconds"] = {}

    def batches(steps):
        order = rng.permutation(n)
        position = 0
        for _ in range(steps):
            if position + batch_size > n:
                order, position = rng.permutation(n), 0
            idx = order[position:position + batch_size]
            position += batch_size
            yield {k: tf.constant(v[idx].astype(np.float32)) for k, v in arrays.items()}, idx

    def run(stage, steps, train_vars, loss_fn, extra=lambda idx: ()):
        if steps <= 0:
            return
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(train_vars)

        @tf.function(reduce_retracing=True)
        def step(batch, *args):
            with tf.GradientTape() as tape:
                loss = loss_fn(batch, *args)
            grads = tape.gradient(loss, train_vars)
            optimizer.apply(grads, train_vars)
            return loss

        start = time.perf_counter()
        for i, (batch, idx) in enumerate(batches(steps), 1):
            loss = float(step(batch, *extra(idx)))
            if not math.isfinite(loss):
                raise FloatingPointError(f"LIFT {stage} stage: non-finite loss at step {i}")
            if i % max(1, log_every) == 0 or i == steps:
                history[stage].append((i, loss))
                if log:
                    log(f"[lift] {stage:11s} step {i:5d}/{steps}  loss {loss:.4f}")
        history["seconds"][stage] = time.perf_counter() - start

    def set_trainable(**flags):
        for name, flag in flags.items():
            model.get_layer(name).trainable = flag

    # ---- stage 1: descriptor
    def descriptor_step_loss(batch, shared, relative, shift):
        c1 = _centre_crops(batch["p1"], crop, shared)
        c2 = _centre_crops(batch["p2_rectified"], crop, shared + relative, shift)
        c3 = _centre_crops(batch["p3"], crop, shared)
        d = descriptor(tf.concat([c1, c2, c3], 0), training=True)
        d1, d2, d3 = tf.split(d, 3)
        return losses.descriptor_loss(d1, d2, d3, margin=margin, hardest_in_batch=hardest_in_batch)

    def descriptor_extra(idx):
        k = len(idx)
        return (tf.constant(rng.uniform(-np.pi, np.pi, k), tf.float32),
                tf.constant(rng.uniform(-1, 1, k) * np.deg2rad(rotation_jitter), tf.float32),
                tf.constant(rng.uniform(-1, 1, (k, 2)) * position_jitter, tf.float32))

    # ---- stage 2: orientation (descriptor frozen)
    def orientation_step_loss(batch):
        up = _centre_crops(tf.concat([batch["p1"], batch["p2"]], 0), crop)
        vectors = orientation(up, training=True)
        rotated = _centre_crops(tf.concat([batch["p1"], batch["p2"]], 0), crop,
                                tf.math.atan2(vectors[:, 1], vectors[:, 0]))
        d1, d2 = tf.split(descriptor(rotated, training=False), 2)
        return losses.orientation_loss(d1, d2)

    # ---- stage 3: detector (orientation + descriptor frozen), through the whole patch pipeline
    def detector_step_loss(batch):
        out = model(tf.concat([batch["p1"], batch["p2"], batch["p3"], batch["p4"]], 0), training=True)
        maps = tf.split(out["score_map"], 4)
        k1, k2, _, _ = tf.split(out["keypoint"], 4)
        d1, d2, _, _ = tf.split(out["descriptor"], 4)
        total, _ = losses.detector_loss(maps, (d1, d2), (k1, k2), batch["affine"], patch_size=float(patch),
                                        crop_size=crop.support, gamma=gamma, overlap_weight=overlap_weight,
                                        temperature=temperature)
        return total

    try:
        set_trainable(detector=False, orientation=False, descriptor=True)
        run("descriptor", descriptor_steps, descriptor.trainable_variables, descriptor_step_loss, descriptor_extra)
        set_trainable(detector=False, orientation=True, descriptor=False)
        run("orientation", orientation_steps, orientation.trainable_variables, orientation_step_loss)
        set_trainable(detector=True, orientation=False, descriptor=False)
        run("detector", detector_steps, detector.trainable_variables, detector_step_loss)
    finally:
        set_trainable(detector=True, orientation=True, descriptor=True)
    return history
