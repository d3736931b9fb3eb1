"""Mask R-CNN inference latency at 512 x 512: the mask head and the paste on the kept detection slots only
(the inference model as built now, `KeptDetections`) against the former graph that ran them on all
`max_detections` slots, with the same model and weights, in one run.

The model is untrained (random weights, seed 0; synthetic input), so the number of kept detections is set
by the score threshold: three thresholds keep about 1, 10 and all 100 slots of a 100-slot output. The two
graphs' masks are checked equal on every setting.

Usage: python benchmarks/mask_rcnn_latency.py [--repeats 5] [--width 1.0] [--quick]
    --quick: width 0.25, 2 repeats, prints only (a correctness run).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _report import machine, median_ms, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.layers import PasteMasks  # noqa: E402

SIZE, SLOTS = 512, 100
LOGIT_SCALE = 1e-3


def _former_graph(model, inference):
    """The inference graph before issue #25: mask head + paste on every one of the `SLOTS` slots."""
    outputs = dict(inference.output)  # the dict of symbolic outputs
    roi_align = model.get_layer("mask_roi_align")
    logits = model.get_layer("mask_head")(roi_align([*roi_align.input[:-1], outputs["boxes"]]))
    masks = PasteMasks(image_shape=(SIZE, SIZE), threshold=model.mask_threshold, name="masks_all")(
        [logits, outputs["boxes"], outputs["classes"]])
    return keras.Model(inference.inputs, {**{k: v for k, v in outputs.items() if k != "masks"}, "masks": masks})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    width, repeats = (0.25, 2) if args.quick else (args.width, args.repeats)
    keras.utils.set_random_seed(0)
    model = models.get("mask_rcnn", input_shape=(SIZE, SIZE, 3), num_classes=80, width=width, seed=0)
    # untrained class scores saturate at 1.0 on this input: shrink the class logits so that they are distinct
    logits_layer = model.get_layer("box_head").layer.get_layer("box_head_net_class_logits")
    logits_layer.kernel.assign(logits_layer.kernel * LOGIT_SCALE)
    image = tf.constant(np.random.default_rng(0).uniform(0, 255, (1, SIZE, SIZE, 3)).astype("float32"))
    probe = model.make_inference_model(score_threshold=0.0, max_detections=SLOTS)(image)
    scores = np.sort(np.asarray(probe["scores"])[0])[::-1]
    load_before = os.getloadavg()
    rows = []
    for target in (1, 10, SLOTS):
        threshold = 0.0 if target == SLOTS else float(scores[target - 1] + scores[target]) / 2
        inference = model.make_inference_model(score_threshold=threshold, max_detections=SLOTS)
        former = _former_graph(model, inference)
        now_fn, former_fn = tf.function(inference), tf.function(former)
        now_out, former_out = now_fn(image), former_fn(image)  # traces both
        kept = int(now_out["num_detections"][0])
        if not np.array_equal(now_out["masks"].numpy(), former_out["masks"].numpy()):
            raise SystemExit(f"masks differ between the two graphs at {kept} kept detections")
        times = {"now": [], "former": []}
        for _ in range(2):  # interleaved rounds
            times["now"].append(median_ms(lambda: now_fn(image)["masks"].numpy(), repeats))
            times["former"].append(median_ms(lambda: former_fn(image)["masks"].numpy(), repeats))
        t = {k: min(v) for k, v in times.items()}
        rows.append((kept, t))
        print(f"{kept} kept detections: kept slots only {t['now']:.0f} ms, all {SLOTS} slots {t['former']:.0f} ms "
              f"({t['former'] / t['now']:.2f}x)", flush=True)
    load_after = os.getloadavg()
    if args.quick:
        print("quick run: nothing written")
        return rows
    table = "\n".join(f"| {k} | {t['now']:.0f} | {t['former']:.0f} | {t['former'] / t['now']:.2f}x |" for k, t in rows)
    md = f"""## Mask R-CNN inference at 512 x 512 (`benchmarks/mask_rcnn_latency.py`)

Machine: {machine()}. Load average (1, 5, 15 min) {load_before[0]:.2f} / {load_before[1]:.2f} /
{load_before[2]:.2f} before, {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f} after.
`mask_rcnn(input_shape=(512, 512, 3), num_classes=80, width={width})` (ResNet-50 FPN), untrained (seed 0;
class-logit kernel scaled by {LOGIT_SCALE} so that the scores are distinct), one synthetic image, \
`max_detections={SLOTS}`, `tf.function` (no XLA), wall-clock ms, median of {repeats},
best of 2 interleaved rounds. "Kept slots only": the inference model as built now (mask head and paste on
the first `max(num_detections)` slots, empty masks padded to {SLOTS}); "all slots": the former graph (mask
head and paste on all {SLOTS} slots). Same weights, same outputs (checked). The score threshold sets how
many detections are kept (an untrained model's scores are arbitrary). With all {SLOTS} slots kept both graphs
do the same work, so that row's ratio shows the run-to-run noise.

| kept detections | kept slots only, ms | all {SLOTS} slots (former), ms | speed-up |
|---:|---:|---:|---:|
{table}
"""
    write_section("mask_rcnn_latency", md)
    return rows


if __name__ == "__main__":
    main()
