"""LIFT (trained here, staged, on a CPU budget) vs OpenCV SIFT and ORB on held-out image pairs.

Training uses quadruplets from `ViewPairs("train")` (scikit-image photographs under random homographies);
evaluation uses `ViewPairs("eval")` (other photographs, never seen in training) with known homographies.
All three methods get the same pairs, the same keypoint budget and the same matcher (mutual nearest
neighbours; Hamming distance for ORB). Metrics, per pair then averaged over pairs:

- repeatability: fraction of keypoints (inside the region both views share) whose ground-truth position
  in the other view has a detected keypoint within 3 px, both directions pooled;
- MMA@t: mean matching accuracy, the fraction of mutual-NN matches whose reprojection error is <= t px;
- correct@3: number of matches within 3 px; matches: number of mutual-NN matches.

Usage: python benchmarks/lift_matching.py [--pairs 240 --per-pair 32 --desc-steps 6000 ...] [--quick]
(the defaults are the configuration of benchmarks/results/lift_matching.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from _matching import lift_features, opencv_features  # noqa: E402
from _report import RESULTS_DIR, machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data.pairs import EVAL_IMAGES, TRAIN_IMAGES, ViewPairs, quadruplet_dataset  # noqa: E402
from vras_keras.metrics.matching import evaluate_pair  # noqa: E402
from vras_keras.training.lift import LiftTrainingOptions, train_lift  # noqa: E402

THRESHOLDS = (1, 3, 5)


def evaluate(pair, xy1, d1, xy2, d2, matcher):
    """`metrics.matching.evaluate_pair` on a `ViewPairs` sample; `matcher` is `{"ratio", "metric"}`."""
    return evaluate_pair(xy1, d1, xy2, d2, pair["homography"], shape_a=pair["image1"].shape,
                         shape_b=pair["image2"].shape, valid_a=pair["valid1"], valid_b=pair["valid2"], **matcher)


def draw_matches(pair, xy1, xy2, m, errors, title):
    a, b = pair["image1"].copy(), pair["image2"].copy()
    canvas = np.concatenate([a, np.full((a.shape[0], 8, 3), 255, np.uint8), b], axis=1)
    offset = a.shape[1] + 8
    for (i, j), e in zip(m, errors):
        colour = (0, 200, 0) if e <= 3 else (230, 0, 0)
        p = tuple(int(round(v)) for v in xy1[i])
        q = (int(round(xy2[j][0])) + offset, int(round(xy2[j][1])))
        cv2.line(canvas, p, q, colour, 1, cv2.LINE_AA)
        cv2.circle(canvas, p, 2, colour, -1)
        cv2.circle(canvas, q, 2, colour, -1)
    label = np.full((18, canvas.shape[1], 3), 255, np.uint8)
    cv2.putText(label, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([label, canvas], axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=240, help="training pairs")
    parser.add_argument("--per-pair", type=int, default=32, help="quadruplets per training pair")
    parser.add_argument("--train-size", type=int, default=192, help="side of the training views")
    parser.add_argument("--eval-pairs", type=int, default=16)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--crop", type=float, default=32.0)
    parser.add_argument("--desc-size", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--grayscale", type=int, default=1, help="1: orientation and descriptor see gray patches "
                        "(lift(grayscale=True)); 0: RGB")
    parser.add_argument("--desc-steps", type=int, default=6000)
    parser.add_argument("--ori-steps", type=int, default=1000)
    parser.add_argument("--det-steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dense-weight", type=float, default=1.0, help="detector: heatmap cross-entropy weight")
    parser.add_argument("--pair-weight", type=float, default=0.0, help="detector: paper's pair term (0: cheap stage)")
    parser.add_argument("--overlap-weight", type=float, default=0.0, help="detector: paper's overlap term")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scale-jitter", type=float, default=0.25, help="descriptor: relative crop scale jitter")
    parser.add_argument("--consistency-weight", type=float, default=1.0, help="orientation: rotation-consistency "
                        "term (0: the paper's loss alone)")
    parser.add_argument("--augment", type=float, default=0.0, help="descriptor/orientation: photometric + blur "
                        "augmentation strength of every patch (data.pairs.augment_patches; 0: none)")
    parser.add_argument("--reference-sigma", type=float, default=0.0, help="per-keypoint scale: DoG sigma (px) "
                        "described by the crop support (0, the default: fixed support for every keypoint; it did not "
                        "help on training pairs), training and inference")
    parser.add_argument("--scale-limits", type=float, nargs=2, default=(0.7, 1.4),
                        help="per-keypoint support factors are clipped to this range")
    parser.add_argument("--threshold", type=float, default=0.3, help="LIFT scale-space contrast threshold (|DoG| "
                        "at the refined extremum; 0.3: SIFT's keypoint count on training pairs)")
    parser.add_argument("--max-keypoints", type=int, default=500)
    parser.add_argument("--ratio", type=float, default=0.8, help="extra rows: mutual NN + Lowe ratio test for LIFT and "
                        "SIFT (0.8: chosen on training pairs, where it brings LIFT's MMA@3 to SIFT's mutual-NN level)")
    parser.add_argument("--max-rotation", type=float, default=30.0)
    parser.add_argument("--data-cache", help="pickle file: load the training quadruplets from it if it exists, "
                        "else build and save them there (must match --pairs/--per-pair/--train-size/--patch)")
    parser.add_argument("--quick", action="store_true", help="tiny budget: check that the script runs")
    parser.add_argument("--no-write", action="store_true", help="do not write the results section")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.per_pair, args.eval_pairs = 6, 16, 2
        args.desc_steps = args.ori_steps = args.det_steps = 10
    keras.utils.set_random_seed(0)

    t0 = time.perf_counter()
    import pickle

    if args.data_cache and Path(args.data_cache).exists():
        data = pickle.loads(Path(args.data_cache).read_bytes())
    else:
        data = quadruplet_dataset("train", num_pairs=args.pairs, per_pair=args.per_pair, patch_size=args.patch,
                                  image_size=args.train_size, seed=0, max_rotation=args.max_rotation,
                                  patch_dtype="uint8")
        if args.data_cache:
            Path(args.data_cache).write_bytes(pickle.dumps(data))
    data_seconds = time.perf_counter() - t0
    print(f"{len(data['p1'])} training quadruplets from {args.pairs} pairs in {data_seconds:.0f} s", flush=True)
    kwargs = dict(patch_size=args.patch, crop_size=args.crop, descriptor_size=args.desc_size, width=args.width,
                  grayscale=bool(args.grayscale))
    untrained = models.get("lift", **kwargs)
    model = models.get("lift", **kwargs)
    model.set_weights(untrained.get_weights())
    cpu0 = time.process_time()
    options = LiftTrainingOptions(dense_weight=args.dense_weight, pair_weight=args.pair_weight,
                                  overlap_weight=args.overlap_weight, scale_jitter=args.scale_jitter,
                                  consistency_weight=args.consistency_weight, augment=args.augment,
                                  reference_sigma=args.reference_sigma or None, scale_limits=tuple(args.scale_limits))
    history = train_lift(model, data, descriptor_steps=args.desc_steps, orientation_steps=args.ori_steps,
                         detector_steps=args.det_steps, batch_size=args.batch, learning_rate=args.lr, log_every=100,
                         options=options)
    train_cpu = time.process_time() - cpu0
    weights_path = Path(os.environ.get("LIFT_WEIGHTS", "/tmp/lift_benchmark.weights.h5"))
    model.save_weights(weights_path)

    pairs = ViewPairs("eval", image_size=args.eval_size, seed=1, max_rotation=args.max_rotation)
    lift_kwargs = dict(scale_space_threshold=args.threshold, reference_sigma=args.reference_sigma or None,
                       scale_limits=tuple(args.scale_limits))
    methods = {
        "LIFT (ours, trained)": lambda im: lift_features(model, im, args.max_keypoints, **lift_kwargs),
        "LIFT (trained, score-map keypoints)": lambda im: lift_features(model, im, args.max_keypoints,
                                                                        selection="score"),
        "LIFT (untrained)": lambda im: lift_features(untrained, im, args.max_keypoints, **lift_kwargs),
        "SIFT (OpenCV)": lambda im: opencv_features("SIFT", im, args.max_keypoints),
        "ORB (OpenCV)": lambda im: opencv_features("ORB", im, args.max_keypoints),
    }
    matchers = {name: {"metric": "hamming" if name.startswith("ORB") else "l2"} for name in methods}
    if args.ratio:
        ratio_match = {"ratio": args.ratio}
        methods[f"LIFT (ours, trained) + ratio {args.ratio:g}"] = methods["LIFT (ours, trained)"]
        methods[f"SIFT (OpenCV) + ratio {args.ratio:g}"] = methods["SIFT (OpenCV)"]
        matchers[f"LIFT (ours, trained) + ratio {args.ratio:g}"] = ratio_match
        matchers[f"SIFT (OpenCV) + ratio {args.ratio:g}"] = ratio_match
    results = {name: [] for name in methods}
    seconds = {name: 0.0 for name in methods}
    picture = []
    for i in range(args.eval_pairs):
        pair = pairs.sample(i)
        for name, fn in methods.items():
            start = time.perf_counter()
            xy1, d1 = fn(pair["image1"])
            xy2, d2 = fn(pair["image2"])
            seconds[name] += time.perf_counter() - start
            r = evaluate(pair, xy1, d1, xy2, d2, matchers[name])
            results[name].append(r)
            if i == 0 and name in ("LIFT (ours, trained)", "SIFT (OpenCV)", "ORB (OpenCV)") and "_matches" in r:
                title = (f"{name}: {r['correct@3']} correct (<=3 px, green) of {r['matches']} mutual-NN matches, "
                         f"pair 0 ({pair['name']})")
                picture.append(draw_matches(pair, *r["_keypoints"], r["_matches"], r["_errors"], title))
    keys = ["keypoints", "repeatability", "mma@1", "mma@3", "mma@5", "matches", "correct@3"]
    table = {name: {k: float(np.mean([r[k] for r in rs])) for k in keys} for name, rs in results.items()}
    lines = [
        "## LIFT vs SIFT vs ORB (`benchmarks/lift_matching.py`)",
        "",
        f"Machine: {machine()} (2 shared, heavily contended cores: wall times are not comparable to a quiet "
        f"machine; CPU time of training {train_cpu / 60:.1f} min).",
        "",
        f"LIFT (`lift`, patch {args.patch}, crop {args.crop:g} px, descriptor input {args.desc_size}, width "
        f"{args.width}, {'gray' if args.grayscale else 'RGB'} patches for orientation and descriptor) trained here "
        f"from scratch, staged as in the paper: descriptor {args.desc_steps}, orientation "
        f"{args.ori_steps}, detector {args.det_steps} steps of {args.batch} quadruplets (Adam {args.lr}; descriptor "
        f"pairs with "
        f"±{args.scale_jitter:g} relative scale jitter"
        + (f", photometric + blur augmentation of strength {args.augment:g} on every patch" if args.augment else "")
        + (
            f"; orientation loss: the paper's + {args.consistency_weight:g} x rotation consistency"
            if args.consistency_weight
            else ""
        )
        + "; detector loss: "
        f"class term + {args.dense_weight:g} x heatmap cross-entropy at repeatable DoG points + {args.pair_weight:g} "
        f"x pair "
        f"+ {args.overlap_weight:g} x overlap), on "
        f"{len(data['p1'])} quadruplets from {args.pairs} pairs of the training photographs "
        f"({', '.join(TRAIN_IMAGES)}). Wall time per stage: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in history["seconds"].items())
        + ".",
        "",
        f"Evaluation: {args.eval_pairs} held-out pairs ({args.eval_size}x{args.eval_size} views of "
        f"{', '.join(EVAL_IMAGES)}, rotation up to ±{args.max_rotation:g}°, scale 0.8-1.25, perspective, photometric "
        f"changes), at most {args.max_keypoints} keypoints per image for every method, mutual nearest-neighbour "
        f"matching (Hamming for ORB), no ratio test except in the '+ ratio {args.ratio:g}' rows (Lowe's test on top of "
        "mutual NN; the ratio was chosen on training pairs). Averages over pairs. LIFT keypoints: scale-space "
        "extrema of the "
        "detector's (frozen) DoG front end with SIFT's edge test and 3-D (x, y, scale) quadratic refinement, kept "
        "when the "
        f'interpolated |DoG| exceeds {args.threshold:g} (`detect_and_describe(selection="scale_space")`, the default); '
        + (
            f"each described on its own support (crop x DoG sigma / {args.reference_sigma:g}, clipped to "
            f"{args.scale_limits[0]:g}-{args.scale_limits[1]:g}); "
            if args.reference_sigma
            else "all described on the fixed crop support; "
        )
        + "the row 'score-map keypoints' uses the maxima of the trained score map instead "
        '(`selection="score"`).',
        "",
        "| method | keypoints | repeatability@3px | MMA@1 | MMA@3 | MMA@5 | matches | correct@3px | s / pair |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['keypoints']:.0f} | {row['repeatability']:.3f} | {row['mma@1']:.3f} | "
            f"{row['mma@3']:.3f} | "
            f"{row['mma@5']:.3f} | {row['matches']:.0f} | {row['correct@3']:.1f} | "
            f"{seconds[name] / args.eval_pairs:.2f} |"
        )
    if picture:
        width = max(p.shape[1] for p in picture)
        picture = [np.pad(p, ((0, 4), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in picture]
        # the recorded picture is replaced only with the results section; other runs write a temporary one
        writing = not (args.quick or args.no_write)
        path = RESULTS_DIR / "lift_matches.png" if writing else Path(tempfile.gettempdir()) / "lift_matches.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(picture, axis=0), cv2.COLOR_RGB2BGR))
        print(f"matches picture: {path}", flush=True)
        lines += ["", "Matches on the first held-out pair (green: within 3 px of the ground truth; red: wrong): "
                  "[lift_matches.png](results/lift_matches.png)"]
    markdown = "\n".join(lines)
    print(markdown)
    print(json.dumps({"table": table, "train_cpu_s": train_cpu, "stage_seconds": history["seconds"]}, indent=1))
    if not (args.quick or args.no_write):
        write_section("lift_matching", markdown)


if __name__ == "__main__":
    main()
