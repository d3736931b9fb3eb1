"""LIFT's staged training (Yi et al., ECCV 2016, arXiv:1603.09114, Sec. 3.4): descriptor, then orientation
estimator, then detector, each stage with the networks trained earlier frozen. The one stage loop, used by
`train_lift()`, by the `vras train` matching runner (`vras_keras.training.matching`) and by
`benchmarks/lift_matching.py` / `benchmarks/matching_sweep.py`.

1. descriptor: crops of P1 and of the rectified P2 (view 2 resampled onto P1's pixel grid) at the patch
   centre, both turned by the same random angle (the descriptor must work in any canonical frame) plus a
   small relative jitter of angle and position; P3 is the non-pair. `losses.matching.descriptor_loss`.
2. orientation: upright crops of P1 and P2 (P2 is rotated by the homography); each is rotated by its
   own estimated orientation and described by the frozen descriptor. `orientation_loss`, plus (by
   default; `consistency_weight=0` turns it off) a supervised rotation-consistency term: crops of P1 and
   the rectified P2 at random angles must give the same canonical angle. `orientation_consistency_loss`.
3. detector: the whole `lift` patch pipeline on P1..P4 (soft-argmax keypoints → crops → frozen
   orientation and descriptor); `detector_loss` (class + pair + overlap terms).

Pieces, from the inside out:

- `LiftStages`: one optimisation step of any stage (trainable flags, losses, one optimizer per stage);
- `LiftTrainingOptions`: how the stages train (loss weights, jitter, augmentation, per-keypoint scale),
  written once; `vras train`'s `task_options` are its fields;
- `LiftTrainer`: the stage loop: batches of quadruplets, augmentation, steps `start..stop` of a stage plan;
- `train_lift(model, data, descriptor_steps=..., ..., **options)`: a whole run in one call;
- `evaluate_views(model, pairs)`: MMA@t etc. of `detect_and_describe` + `metrics.matching.evaluate_pair` on
  pairs of views (the runner's `val_mma3`).

>>> from vras_keras.data.pairs import quadruplet_dataset
>>> data = quadruplet_dataset("train", num_pairs=64, per_pair=32, patch_size=64)
>>> model = vras_keras.models.get("lift")
>>> history = train_lift(model, data, descriptor_steps=2000, orientation_steps=1000, detector_steps=1000)
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from vras_keras.data.geometry import affine_rotation
from vras_keras.data.pairs import augment_patches
from vras_keras.losses import matching as losses
from vras_keras.metrics.matching import evaluate_pair
from vras_keras.models.matching.lift import detect_and_describe, dog_scale
from vras_keras.ops.keypoints import oriented_patches

__all__ = ["STAGES", "LiftStages", "LiftTrainer", "LiftTrainingOptions", "centre_scales", "check_quadruplets",
           "evaluate_views", "keypoint_scale_factors", "stage_of_step", "stage_steps", "train_lift", "view2_crops"]

STAGES = ("descriptor", "orientation", "detector")
_REQUIRED = ("p1", "p2", "p2_rectified", "p3", "p4", "affine")
_OPTIONAL = ("heat1", "heat2")  # detector targets (used with dense_weight > 0)
_SCALES = ("scale1", "scale2", "scale2r", "scale3")  # per-quadruplet crop-support factors (keypoint_scale_factors)


def _tensors(batch):
    """Numpy quadruplet arrays → float32 tensors (uint8 heatmaps are scaled to [0, 1])."""

    out = {}
    for k in _REQUIRED + _OPTIONAL + _SCALES:
        if k in batch:
            v = np.asarray(batch[k])
            scale = 1.0 / 255.0 if k in _OPTIONAL and v.dtype == np.uint8 else 1.0
            out[k] = tf.constant(v.astype(np.float32) * scale)
    return out


def _centre_crops(patches, crop, angles=None, jitter=None, scales=None):
    """Crops `(N, S, S, 3)` of `(N, P, P, 3)` patches around their centre (+ jitter), at `angles`; with
    `scales` `(N,)` the crop of sample i covers `scales[i] * crop.support` pixels (a zoomed view)."""

    n, p = ops.shape(patches)[0], patches.shape[1]
    centre = ops.full((n, 1, 2), (p - 1) / 2.0)
    if jitter is not None:
        centre = centre + jitter[:, None, :]
    angles = None if angles is None else angles[:, None]
    scales = None if scales is None else scales[:, None]
    return oriented_patches(patches, centre, angles, output_size=crop.output_size, support=crop.support,
                            scales=scales)[:, 0]


def view2_crops(patches2, affine, crop, angles, jitter=None, scales=None):
    """The view-2 crops that match view-1 crops taken at `angles`: the upright view-2 patches (`p2`, centred
    at H(x1)) cropped at `angles` + the rotation of the homography's local affine map (`affine` `(N, 2, 2)`,
    view-1 offsets → view-2 offsets). Unlike the rectified P2 they keep the foreshortening and scale change
    of the viewpoint change, as the descriptor meets them at inference (`positive_view="view2"`)."""
    return _centre_crops(patches2, crop, angles + affine_rotation(ops.convert_to_tensor(affine), ops), jitter, scales)


def centre_scales(detector: keras.Model, patches, *, batch_size: int = 512) -> np.ndarray:
    """DoG scale (fractional channel index of the detector's `det_dog` front end) at the centre of patches.

    The keypoint of a quadruplet patch `(n, P, P, 3)` lies at its centre ((P - 1) / 2, between pixels for
    even P); the |DoG| responses averaged over the centre pixels are compared across channels: the
    strongest channel, refined by a parabola through it and its neighbours in scale (as the scale axis of
    `ops.keypoints.refine_scale_space`). Only the centre windows are convolved (cheap).

    Returns:
        float64 `(n,)` channel indices (map them to pixels with `lift.dog_scale`).
    """
    kernel = np.asarray(detector.get_layer("det_dog").get_weights()[0], np.float64)  # (k, k, 3, S)
    size = kernel.shape[0]
    p = patches.shape[1]
    lo_pix, hi_pix = (p - 1) // 2, p // 2  # the 1 or 2 centre pixels per axis
    start = lo_pix - size // 2
    if start < 0 or hi_pix + size // 2 >= p:
        raise ValueError(f"patches of {p} px are too small for the {size}-px DoG kernel")
    out = []
    for first in range(0, len(patches), batch_size):
        chunk = np.asarray(patches[first:first + batch_size], np.float64) / 255.0
        responses = 0.0
        for y in range(lo_pix, hi_pix + 1):
            for x in range(lo_pix, hi_pix + 1):
                window = chunk[:, y - size // 2:y + size // 2 + 1, x - size // 2:x + size // 2 + 1]
                responses = responses + np.abs(np.einsum("nhwc,hwcs->ns", window, kernel))
        out.append(responses)
    magnitude = np.concatenate(out) if out else np.zeros((0, kernel.shape[-1]))
    best = np.argmax(magnitude, axis=1)
    inner = np.clip(best, 1, magnitude.shape[1] - 2)
    rows = np.arange(len(best))
    lo, mid, hi = magnitude[rows, inner - 1], magnitude[rows, inner], magnitude[rows, inner + 1]
    curvature = lo + hi - 2 * mid
    offset = np.where(
        (best == inner) & (curvature < -1e-12), 0.5 * (lo - hi) / np.where(curvature < -1e-12, curvature, -1), 0
    )
    return best + np.clip(offset, -0.5, 0.5)


def keypoint_scale_factors(detector: keras.Model, data: dict, *, reference_sigma: float = 2.0,
                           scale_limits=(0.7, 1.4)) -> dict:
    """Per-quadruplet crop-support factors for training with per-keypoint scale (as
    `detect_and_describe(reference_sigma=...)` describes keypoints at inference).

    Factor = `dog_scale(centre_scales(patch)) / reference_sigma`, clipped to `scale_limits`, for `p1`
    (`scale1`), `p2` (`scale2`, in view-2 pixels) and `p3` (`scale3`); `scale2r` is P2's own factor
    expressed in view-1 pixels (divided by the square root of |det| of the local affine map), the support
    of the rectified P2 crop: so the descriptor learns with the scale disagreement the two views really have.

    Returns:
        dict of float32 `(n,)` arrays `scale1`, `scale2`, `scale2r`, `scale3`.
    """
    lo, hi = scale_limits
    if not 0 < lo <= hi:
        raise ValueError(f"scale_limits must be (min, max) with 0 < min <= max; received {scale_limits!r}")

    def factor(patches):
        return dog_scale(centre_scales(detector, np.asarray(patches))) / float(reference_sigma)

    f1, f2, f3 = factor(data["p1"]), factor(data["p2"]), factor(data["p3"])
    stretch = np.sqrt(np.abs(np.linalg.det(np.asarray(data["affine"], np.float64))))
    clip = lambda f: np.clip(f, lo, hi).astype(np.float32)  # noqa: E731
    return {"scale1": clip(f1), "scale2": clip(f2), "scale2r": clip(f2 / stretch), "scale3": clip(f3)}


def check_quadruplets(model: keras.Model, data: dict) -> int:
    """Validate quadruplet arrays against a `lift` model; returns their number.

    Raises:
        ValueError: a key is missing, fewer than 2 quadruplets, or patches of the wrong size.
    """
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"data is missing {missing}; expected the keys of vras_keras.data.pairs.sample_quadruplets")
    patch = model.input.shape[1]
    n = len(data["p1"])
    if n < 2:
        raise ValueError(f"data holds {n} quadruplets; at least 2 are needed")
    if data["p1"].shape[1:] != (patch, patch, 3):
        raise ValueError(f"data patches are {data['p1'].shape[1:]}, the model expects ({patch}, {patch}, 3)")
    return n


def stage_of_step(step: int, stage_steps) -> str | None:
    """The stage that global step `step` (0-based) of a staged run belongs to (None past the end).

    `stage_steps` gives the steps of descriptor, orientation and detector, run in that order.
    """
    for stage, steps in zip(STAGES, stage_steps):
        if step < steps:
            return stage
        step -= steps
    return None


class LiftStages:
    """One optimisation step of any LIFT training stage (the building block of `train_lift` and of the
    `vras train` matching runner).

    Args:
        model: a `lift` model; trained in place.
        make_optimizer: `fn(stage) -> keras optimizer`, called once per stage (a fresh optimizer per stage).
        margin, hardest_in_batch: `descriptor_loss` options.
        gamma, overlap_weight, pair_weight: `detector_loss` weights. With `pair_weight` and `overlap_weight`
            both 0 the detector stage runs the detector alone (no crops, orientation or descriptor): much
            cheaper.
        dense_weight: weight of `losses.detector_dense_loss`, the per-pixel cross-entropy of the score maps of
            P1 and P2 against the quadruplets' `heat1` / `heat2` targets (repeatable distinctive points):
            it teaches the detector *where exactly* the points are (sharp, well localised maxima).
        rotation_jitter: degrees of random relative rotation between the pair in stage 1.
        position_jitter: pixels of random relative shift between the pair in stage 1.
        scale_jitter: relative scale between the pair's crops in stage 1, log-uniform in
            [1 / (1 + scale_jitter), 1 + scale_jitter] (the crops have a fixed support, so the descriptor must
            tolerate the views' scale changes; 0 disables it).
        consistency_weight: weight of a supervised term added to the orientation stage (an addition to the
            paper): P1 and the rectified P2 (the same pixels) are cropped at independent random angles a1, a2
            (and relative scales within `scale_jitter`); the canonical angles a + estimated orientation must
            agree, `losses.orientation_consistency_loss`. It teaches rotation equivariance over all angles
            directly instead of through descriptor distances. 0: the paper's loss alone. Its effect on pairs
            of photographs not seen in training: benchmarks/RESULTS.md (LIFT section).
        shift_negative: > 0 adds a negative to the descriptor stage (an addition to the paper): the positive's
            crop moved by a random `shift_negative`-`2 * shift_negative` px, pushed beyond the margin from P1's
            descriptor with weight `shift_weight`. Mutual-NN matches between two keypoints a few pixels from
            each other's true position (neither repeated) are most of LIFT's wrong matches at small viewpoint
            changes; this term teaches the descriptor to tell such shifts apart. 0: off (the default and the
            shipped recipe: tried for issue #22, it lost the tolerance tilted views need, docs/matching.md).
        jit: compile the steps with XLA.

    `step(stage, batch, rng)` sets the trainable flags of the stage (the other networks frozen), runs one
    step on a dict of numpy arrays and returns the loss; `losses(batch, rng)` evaluates every stage's loss
    without training; `restore_trainable()` makes all networks trainable again.
    """

    def __init__(self, model: keras.Model, *, make_optimizer=None, learning_rate: float = 1e-3, margin: float = 1.0,
                 hardest_in_batch: bool = True, gamma: float = 1.0, overlap_weight: float = 1.0,
                 pair_weight: float = 1.0, dense_weight: float = 0.0, rotation_jitter: float = 10.0,
                 position_jitter: float = 1.0, scale_jitter: float = 0.0, consistency_weight: float = 1.0,
                 positive_view: str = "rectified", shift_negative: float = 0.0, shift_weight: float = 1.0,
                 jit: bool = False):

        self.model = model
        self.detector = model.get_layer("detector")
        self.orientation = model.get_layer("orientation")
        self.descriptor = model.get_layer("descriptor")
        self.crop = model.get_layer("crop")
        self.temperature = model.get_layer("keypoint_soft_argmax").temperature
        self.patch = model.input.shape[1]
        self.make_optimizer = make_optimizer or (lambda stage: keras.optimizers.Adam(learning_rate))
        self.margin, self.hardest_in_batch = margin, hardest_in_batch
        self.gamma, self.overlap_weight = gamma, overlap_weight
        self.pair_weight, self.dense_weight = pair_weight, dense_weight
        self.rotation_jitter, self.position_jitter = rotation_jitter, position_jitter
        for name, value in (("scale_jitter", scale_jitter), ("consistency_weight", consistency_weight),
                            ("shift_negative", shift_negative), ("shift_weight", shift_weight)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0; received {value!r}")
        self.scale_jitter, self.consistency_weight = float(scale_jitter), float(consistency_weight)
        self.shift_negative, self.shift_weight = float(shift_negative), float(shift_weight)
        self.positive_view = _check_positive_view(positive_view)
        self.jit = jit
        self.optimizers = {}
        self._steps = {}
        self._eval = None
        self._tf = tf

    # ------------------------------------------------------------------------------------ losses
    def _descriptor_loss(self, batch, shared, relative, shift, scales=None, offset=None, training=True):
        tf = self._tf
        own = "scale1" in batch  # per-keypoint scale: every crop at its keypoint's own support
        if own:
            scales = batch["scale2r"] if scales is None else scales * batch["scale2r"]
        c1 = _centre_crops(batch["p1"], self.crop, shared, scales=batch["scale1"] if own else None)

        def positive(jitter):
            if self.positive_view == "view2":
                return view2_crops(batch["p2"], batch["affine"], self.crop, shared + relative, jitter, scales)
            return _centre_crops(batch["p2_rectified"], self.crop, shared + relative, jitter, scales)

        crops = [c1, positive(shift), _centre_crops(batch["p3"], self.crop, shared,
                                                    scales=batch["scale3"] if own else None)]
        if offset is not None:  # shifted negative: the positive's crop a few pixels off
            crops.append(positive(shift + offset))
        d = tf.split(self.descriptor(tf.concat(crops, 0), training=training), len(crops))
        loss = losses.descriptor_loss(d[0], d[1], d[2], margin=self.margin, hardest_in_batch=self.hardest_in_batch)
        if offset is not None:
            loss += self.shift_weight * losses.negative_hinge_loss(d[0], d[3], margin=self.margin)
        return loss

    def _orientation_loss(self, batch, angles=None, scales=None, training=True):
        tf = self._tf
        both = tf.concat([batch["p1"], batch["p2"]], 0)
        own = tf.concat([batch["scale1"], batch["scale2"]], 0) if "scale1" in batch else None
        vectors = self.orientation(_centre_crops(both, self.crop, scales=own), training=training)
        rotated = _centre_crops(both, self.crop, tf.math.atan2(vectors[:, 1], vectors[:, 0]), scales=own)
        d1, d2 = tf.split(self.descriptor(rotated, training=False), 2)
        loss = losses.orientation_loss(d1, d2)
        if self.consistency_weight and angles is not None:
            loss += self.consistency_weight * self._consistency_loss(batch, angles, scales, training)
        return loss

    def _consistency_loss(self, batch, angles, scales, training):
        # P1 and the rectified P2 (same pixel grid) cropped at random angles a (and relative scales): the
        # canonical angle a + estimate must agree between the two crops (rotation equivariance).
        tf = self._tf
        both = tf.concat([batch["p1"], batch["p2_rectified"]], 0)
        if "scale1" in batch:
            own = tf.concat([batch["scale1"], batch["scale2r"]], 0)
            scales = own if scales is None else own * scales
        vectors = self.orientation(_centre_crops(both, self.crop, angles, scales=scales), training=training)
        canonical = tf.math.atan2(vectors[:, 1], vectors[:, 0]) + angles
        t1, t2 = tf.split(canonical, 2)
        return losses.orientation_consistency_loss(t1, t2)

    def _detector_loss(self, batch, training=True):
        tf = self._tf
        if self.dense_weight:
            if "heat1" not in batch:
                raise ValueError("dense_weight > 0 needs quadruplets with heat1 / heat2 (vras_keras.data.pairs)")
        patches = tf.concat([batch["p1"], batch["p2"], batch["p3"], batch["p4"]], 0)
        if not self.pair_weight and not self.overlap_weight:  # the detector alone
            maps = tf.split(self.detector(patches, training=training), 4)
            total = self.gamma * losses.detector_class_loss(maps[:3], maps[3:], self.temperature)
        else:
            out = self.model(patches, training=training)
            maps = tf.split(out["score_map"], 4)
            k1, k2, _, _ = tf.split(out["keypoint"], 4)
            d1, d2, _, _ = tf.split(out["descriptor"], 4)
            total, _ = losses.detector_loss(maps, (d1, d2), (k1, k2), batch["affine"], patch_size=float(self.patch),
                                            crop_size=self.crop.support, gamma=self.gamma,
                                            overlap_weight=self.overlap_weight, pair_weight=self.pair_weight,
                                            temperature=self.temperature)
        if self.dense_weight:
            total += self.dense_weight * losses.detector_dense_loss(maps[:2], (batch["heat1"], batch["heat2"]))
        return total

    def _extra(self, stage, k, rng):
        tf = self._tf
        if stage == "orientation" and self.consistency_weight:
            return (tf.constant(rng.uniform(-np.pi, np.pi, 2 * k), tf.float32),
                    tf.constant(np.exp(rng.uniform(-1, 1, 2 * k) * np.log1p(self.scale_jitter) / 2), tf.float32))
        if stage != "descriptor":
            return ()
        extra = (tf.constant(rng.uniform(-np.pi, np.pi, k), tf.float32),
                 tf.constant(rng.uniform(-1, 1, k) * np.deg2rad(self.rotation_jitter), tf.float32),
                 tf.constant(rng.uniform(-1, 1, (k, 2)) * self.position_jitter, tf.float32),
                 tf.constant(np.exp(rng.uniform(-1, 1, k) * np.log1p(self.scale_jitter)), tf.float32))
        if not self.shift_negative:  # (no extra draws: the rng stream stays that of earlier recipes)
            return extra
        radius = rng.uniform(1.0, 2.0, k) * self.shift_negative
        direction = rng.uniform(-np.pi, np.pi, k)
        offset = np.stack([radius * np.cos(direction), radius * np.sin(direction)], -1)
        return extra + (tf.constant(offset, tf.float32),)

    # ------------------------------------------------------------------------------------- steps
    def set_stage(self, stage):
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}; received {stage!r}")
        for name in STAGES:
            self.model.get_layer(name).trainable = name == stage
        self._freeze_front_end()

    def _freeze_front_end(self):
        # Keras propagates `trainable` to sublayers: re-freeze the detector's DoG front end unless it trains.
        if not getattr(self.detector, "train_front_end", True):
            self.detector.get_layer("det_dog").trainable = False

    def restore_trainable(self):
        for name in STAGES:
            self.model.get_layer(name).trainable = True
        self._freeze_front_end()

    def trainable_variables(self, stage):
        return {"descriptor": self.descriptor, "orientation": self.orientation,
                "detector": self.detector}[stage].trainable_variables

    def optimizer(self, stage):
        """The stage's optimizer, created and built on first use."""
        if stage not in self.optimizers:
            self.set_stage(stage)
            optimizer = self.make_optimizer(stage)
            if self.model.dtype_policy.name == "mixed_float16" and not isinstance(
                    optimizer, keras.optimizers.LossScaleOptimizer):
                # fp16: dynamic loss scaling, as Keras' compile() does for fit (steps with inf/NaN gradients
                # are skipped and the scale lowered)
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(self.trainable_variables(stage))
            self.optimizers[stage] = optimizer
        return self.optimizers[stage]

    def _step_fn(self, stage):
        if stage in self._steps:
            return self._steps[stage]
        tf = self._tf
        self.set_stage(stage)
        train_vars = self.trainable_variables(stage)
        optimizer = self.optimizer(stage)
        loss_fn = {"descriptor": self._descriptor_loss, "orientation": self._orientation_loss,
                   "detector": self._detector_loss}[stage]

        @tf.function(reduce_retracing=True, jit_compile=self.jit)
        def step(batch, *args):
            with tf.GradientTape() as tape:
                loss = tf.cast(loss_fn(batch, *args), tf.float32)
                scaled = optimizer.scale_loss(loss)  # the loss itself unless fp16 loss scaling is on
            grads = tape.gradient(scaled, train_vars)
            optimizer.apply(grads, train_vars)  # LossScaleOptimizer unscales (and skips non-finite steps)
            return loss

        self._steps[stage] = step
        return step

    def step(self, stage, batch: dict, rng: np.random.Generator) -> float:
        """One training step of `stage` on a batch of numpy quadruplet arrays; returns the (finite) loss."""
        fn = self._step_fn(stage)
        self.set_stage(stage)
        tensors = _tensors(batch)
        loss = float(fn(tensors, *self._extra(stage, len(batch["p1"]), rng)))
        if not math.isfinite(loss):
            raise FloatingPointError(f"LIFT {stage} stage: non-finite loss")
        return loss

    def losses(self, batch: dict, rng: np.random.Generator) -> dict:
        """Every stage's loss on a batch (inference mode, no update) plus `matching_accuracy`: the fraction
        of P1 crops whose nearest descriptor among the batch's rectified P2 crops is their own pair."""
        tensors = _tensors(batch)
        extra = self._extra("descriptor", len(batch["p1"]), rng)
        out = {
            "descriptor_loss": float(self._descriptor_loss(tensors, *extra, training=False)),
            "orientation_loss": float(
                self._orientation_loss(tensors, *self._extra("orientation", len(batch["p1"]), rng), training=False)
            ),
            "detector_loss": float(self._detector_loss(tensors, training=False)),
        }
        d1 = self.descriptor(_centre_crops(tensors["p1"], self.crop), training=False).numpy()
        d2 = self.descriptor(_centre_crops(tensors["p2_rectified"], self.crop), training=False).numpy()
        nearest = np.argmin(np.sum((d1[:, None] - d2[None]) ** 2, -1), axis=1)
        out["matching_accuracy"] = float(np.mean(nearest == np.arange(len(d1))))
        return out

    # ----------------------------------------------------------------------------- optimizer state
    def optimizer_state(self) -> dict:
        """`{stage/index: array}` of every created optimizer's variables (for crash-safe resume)."""
        return {f"{stage}/{i}": np.asarray(v) for stage, opt in self.optimizers.items()
                for i, v in enumerate(opt.variables)}

    def load_optimizer_state(self, state: dict) -> None:
        for stage in STAGES:
            keys = sorted((k for k in state if k.startswith(stage + "/")), key=lambda k: int(k.split("/")[1]))
            if keys:
                variables = self.optimizer(stage).variables
                if len(variables) != len(keys):
                    raise ValueError(
                        f"optimizer state of stage {stage!r} has {len(keys)} arrays, expected {len(variables)}"
                    )
                for key, variable in zip(keys, variables):
                    variable.assign(state[key])


def stage_steps(total: int, fractions: dict) -> tuple[int, int, int]:
    """Split `total` steps among descriptor, orientation, detector by `fractions` (>= 1 step each when
    `total` >= 3 and the fraction is > 0; the remainder goes to the descriptor)."""
    weights = np.array([float(fractions.get(s, 0.0)) for s in STAGES])
    share = total * weights / weights.sum()
    steps = np.floor(share + 1e-9).astype(int)
    for i in np.argsort(-(share - steps), kind="stable")[: total - steps.sum()]:  # largest remainders
        steps[i] += 1
    for i in np.flatnonzero((weights > 0) & (steps == 0)):  # at least one step for every stage asked for
        if steps.max() > 1:
            steps[int(np.argmax(steps))] -= 1
            steps[i] += 1
    return tuple(int(s) for s in steps)


# ------------------------------------------------------------------------------------------ options
POSITIVE_VIEWS = ("rectified", "view2")


def _check_positive_view(value):
    if value not in POSITIVE_VIEWS:
        raise ValueError(f"positive_view must be one of {POSITIVE_VIEWS}; received {value!r}")
    return value


@dataclasses.dataclass
class LiftTrainingOptions:
    """How LIFT's stages train, written once: `train_lift(**fields)`, the `vras train` matching recipe's
    `task_options` (the same names) and the benchmarks' flags all fill this.

    Args:
        margin, hardest_in_batch: `descriptor_loss` options.
        gamma, overlap_weight, pair_weight, dense_weight: detector-stage weights (see `LiftStages`).
        rotation_jitter: degrees of random relative rotation between the pair in stage 1.
        position_jitter: pixels of random relative shift between the pair in stage 1.
        scale_jitter: relative scale between the pair's crops in stage 1 (see `LiftStages`).
        consistency_weight: weight of the rotation-consistency term of the orientation stage (see
            `LiftStages`; 0: the paper's loss alone).
        reference_sigma, scale_limits: None trains on the fixed crop support; a DoG scale (px) trains with
            per-keypoint scale: each crop (descriptor and orientation stages) covers its keypoint's own
            support, `crop.support * clip(dog_scale / reference_sigma, *scale_limits)`
            (`keypoint_scale_factors`); use the same values in `detect_and_describe`.
        augment: strength of the photometric and blur augmentation (`vras_keras.data.pairs.augment_patches`)
            applied independently to every patch of the descriptor and orientation stages' batches (0: none).
        max_blur: largest blur sigma (px) of that augmentation.
        positive_view: the descriptor stage's positive: `"rectified"` (view 2 resampled onto P1's grid, then
            jittered) or `"view2"` (view 2 itself, cropped at the local rotation of the homography: it keeps the
            foreshortening of an out-of-plane rotation, `view2_crops`; issue #22, docs/matching.md).
        shift_negative, shift_weight: the descriptor stage's shifted negative (see `LiftStages`; 0: off).
    """

    margin: float = 1.0
    hardest_in_batch: bool = True
    gamma: float = 1.0
    overlap_weight: float = 1.0
    pair_weight: float = 1.0
    dense_weight: float = 0.0
    rotation_jitter: float = 10.0
    position_jitter: float = 1.0
    scale_jitter: float = 0.0
    consistency_weight: float = 1.0
    reference_sigma: float | None = None
    scale_limits: tuple = (0.7, 1.4)
    augment: float = 0.0
    max_blur: float = 1.5
    positive_view: str = "rectified"
    shift_negative: float = 0.0
    shift_weight: float = 1.0

    def __post_init__(self):
        for name in ("margin", "gamma", "overlap_weight", "pair_weight", "dense_weight", "rotation_jitter",
                     "position_jitter", "scale_jitter", "consistency_weight", "augment", "max_blur",
                     "shift_negative", "shift_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be >= 0 (a number); received {value!r}")
        if not isinstance(self.hardest_in_batch, bool):
            raise ValueError(f"hardest_in_batch must be true or false; received {self.hardest_in_batch!r}")
        if self.reference_sigma is not None and (isinstance(self.reference_sigma, bool)
                                                 or not isinstance(self.reference_sigma, (int, float))
                                                 or not self.reference_sigma > 0):
            raise ValueError(f"reference_sigma must be a DoG sigma > 0 (px) or None; received {self.reference_sigma!r}")
        try:
            lo, hi = (float(v) for v in self.scale_limits)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if not 0 < lo <= hi:
            raise ValueError(f"scale_limits must be (min, max) with 0 < min <= max; received {self.scale_limits!r}")
        self.scale_limits = (lo, hi)
        _check_positive_view(self.positive_view)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, options: dict, *, what: str = "options") -> LiftTrainingOptions:
        """Options from a mapping; unknown keys raise a `ValueError` naming them and the allowed ones."""
        unknown = sorted(set(options) - set(cls.fields()))
        if unknown:
            raise ValueError(f"{what}: unknown keys {unknown}; allowed: {', '.join(cls.fields())}")
        return cls(**options)

    def stage_kwargs(self) -> dict:
        """The `LiftStages` arguments among the options."""
        return {k: getattr(self, k) for k in ("margin", "hardest_in_batch", "gamma", "overlap_weight", "pair_weight",
                                              "dense_weight", "rotation_jitter", "position_jitter", "scale_jitter",
                                              "consistency_weight", "positive_view", "shift_negative",
                                              "shift_weight")}


# -------------------------------------------------------------------------------------- the loop
class LiftTrainer:
    """The stage loop: random batches of quadruplets, the options' augmentation and per-keypoint scale, and
    `LiftStages.step` for each step of a stage plan.

    Args:
        model: a `lift` model; trained in place.
        data: quadruplet arrays (`vras_keras.data.pairs.quadruplet_dataset`; see `train_lift`).
        options: `LiftTrainingOptions` (default: its defaults).
        batch_size: quadruplets per step (at most the number of quadruplets).
        learning_rate: Adam's, a fresh optimizer per stage, unless `make_optimizer(stage)` is given.
        jit: compile the steps with XLA.

    `run(plan, start, stop, rng)` trains global steps `start..stop - 1` of `plan` (steps of descriptor,
    orientation, detector, in that order): a whole run is `run(plan, 0, sum(plan), rng)`, an epoch of the
    `vras train` runner one slice of it. Batches, augmentation and jitter come from `rng` only.
    """

    def __init__(self, model: keras.Model, data: dict, options: LiftTrainingOptions | None = None, *,
                 batch_size: int = 32, learning_rate: float = 1e-3, make_optimizer=None, jit: bool = False):
        self.options = LiftTrainingOptions() if options is None else options
        if not isinstance(self.options, LiftTrainingOptions):
            raise TypeError(f"options must be a LiftTrainingOptions; received {type(self.options).__name__}")
        self.n = check_quadruplets(model, data)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; received {batch_size!r}")
        self.batch_size = int(min(batch_size, self.n))
        self.model = model
        self.arrays = {k: np.asarray(data[k]) for k in _REQUIRED + _OPTIONAL if k in data}  # uint8 stays uint8
        opts = self.options
        if opts.reference_sigma is not None:
            self.arrays.update(keypoint_scale_factors(model.get_layer("detector"), self.arrays,
                                                      reference_sigma=opts.reference_sigma,
                                                      scale_limits=opts.scale_limits))
        self.stages = LiftStages(model, make_optimizer=make_optimizer, learning_rate=learning_rate, jit=jit,
                                 **opts.stage_kwargs())
        # the patches each stage reads (the orientation stage's consistency term reads the rectified P2)
        self._read_by = {"descriptor": ("p1", "p2_rectified", "p3"),
                         "orientation": ("p1", "p2") + (("p2_rectified",) if opts.consistency_weight else ())}

    def augmented(self, stage: str, batch: dict, rng: np.random.Generator) -> dict:
        """`batch` with every patch the stage reads augmented independently (the detector stage's targets come
        from the unaugmented views, so it sees them as they are)."""
        if not self.options.augment or stage == "detector":
            return batch
        out = dict(batch)
        for k in self._read_by[stage]:
            out[k] = augment_patches(batch[k], rng, strength=self.options.augment, max_blur=self.options.max_blur)
        return out

    def run(self, plan, start: int, stop: int, rng: np.random.Generator, on_step=None) -> dict:
        """Train global steps `start..stop - 1` of `plan`; `on_step(stage, step_in_stage, loss)` after each.

        Returns:
            `{stage: [loss, ...]}` of the stages trained, in order.
        """
        plan = tuple(int(s) for s in plan)
        losses_by_stage = {}
        order, position = rng.permutation(self.n), 0
        try:
            for step in range(start, stop):
                stage = stage_of_step(step, plan)
                if stage is None:
                    break
                if position + self.batch_size > self.n:
                    order, position = rng.permutation(self.n), 0
                idx = order[position:position + self.batch_size]
                position += self.batch_size
                batch = self.augmented(stage, {k: v[idx] for k, v in self.arrays.items()}, rng)
                in_stage = step - sum(plan[:STAGES.index(stage)]) + 1
                try:
                    loss = self.stages.step(stage, batch, rng)
                except FloatingPointError as error:
                    raise FloatingPointError(f"{error} at step {in_stage}") from None
                losses_by_stage.setdefault(stage, []).append(loss)
                if on_step is not None:
                    on_step(stage, in_stage, loss)
        finally:
            self.stages.restore_trainable()
        return losses_by_stage


def train_lift(model: keras.Model, data: dict, *, descriptor_steps: int = 1000, orientation_steps: int = 500,
               detector_steps: int = 500, batch_size: int = 32, learning_rate: float = 1e-3, seed: int = 0,
               options: LiftTrainingOptions | None = None, log_every: int = 100, log=print, **option_values) -> dict:
    """Train a `lift` model in three stages on quadruplets (`vras_keras.data.pairs.quadruplet_dataset`).

    Args:
        model: a `lift` model; trained in place.
        data: dict with `p1`, `p2`, `p2_rectified`, `p3`, `p4` float32 or uint8 `(n, P, P, 3)` 0..255 (P = the
            model's patch size) and `affine` `(n, 2, 2)`.
        descriptor_steps, orientation_steps, detector_steps: optimisation steps per stage (0 skips one).
        batch_size: quadruplets per step.
        learning_rate: Adam's, a fresh optimizer per stage.
        seed: the only source of randomness (batches, jitter, augmentation).
        options: a `LiftTrainingOptions`; or its fields as keyword arguments (`augment=1.0`, ...), not both.
        log_every, log: a progress line (`log(str)`) every `log_every` steps of a stage; `log=None`: silent.

    Returns:
        history: `{stage: [(step, loss), ...]}` plus `"seconds": {stage: wall seconds}`.
    """
    if options is not None and option_values:
        raise ValueError("pass either options=LiftTrainingOptions(...) or its fields as keyword arguments, not both")
    if options is None:
        options = LiftTrainingOptions.from_dict(option_values, what="train_lift")
    trainer = LiftTrainer(model, data, options, batch_size=batch_size, learning_rate=learning_rate)
    plan = (descriptor_steps, orientation_steps, detector_steps)
    plan = tuple(max(0, int(s)) for s in plan)
    history = {stage: [] for stage in STAGES}
    history["seconds"] = {}
    clock = {"stage": None, "start": time.perf_counter()}

    def on_step(stage, i, loss):
        if clock["stage"] != stage:
            clock.update(stage=stage, start=time.perf_counter())
        steps = plan[STAGES.index(stage)]
        if i % max(1, log_every) == 0 or i == steps:
            history[stage].append((i, loss))
            if log:
                log(f"[lift] {stage:11s} step {i:5d}/{steps}  loss {loss:.4f}")
        if i == steps:
            history["seconds"][stage] = time.perf_counter() - clock["start"]

    trainer.run(plan, 0, sum(plan), np.random.default_rng(seed), on_step)
    return history


# ---------------------------------------------------------------------------------------- validation
def evaluate_views(model: keras.Model, pairs, *, max_keypoints: int = 500, ratio: float | None = None,
                   detect_options: dict | None = None) -> dict:
    """Mean scores of `metrics.matching.evaluate_pair` over pairs of views with known homographies.

    Args:
        model: a `lift` model.
        pairs: iterable of `ViewPairs.sample` dicts (`image1`, `image2`, `homography`, `valid1`, `valid2`).
        max_keypoints: keypoints per image (`detect_and_describe`).
        ratio: Lowe's ratio test on top of mutual nearest neighbours (None: mutual NN only).
        detect_options: further `detect_and_describe` arguments.

    Returns:
        `{"mma@1", "mma@3", "mma@5", "matches", "correct@3", "repeatability", "homography@3", ...}` averaged
        over the pairs (0 for an empty iterable).
    """
    keys = ("keypoints", "repeatability", "mma@1", "mma@3", "mma@5", "matches", "correct@3", "homography@3",
            "homography@5", "homography@10")
    rows = []
    for pair in pairs:
        f1 = detect_and_describe(model, pair["image1"], max_keypoints=max_keypoints, **(detect_options or {}))
        f2 = detect_and_describe(model, pair["image2"], max_keypoints=max_keypoints, **(detect_options or {}))
        rows.append(evaluate_pair(f1.keypoints, f1.descriptors, f2.keypoints, f2.descriptors, pair["homography"],
                                  shape_a=pair["image1"].shape, shape_b=pair["image2"].shape,
                                  valid_a=pair.get("valid1"), valid_b=pair.get("valid2"), ratio=ratio))
    return {k: float(np.mean([r[k] for r in rows])) if rows else 0.0 for k in keys}
