"""LIFT vs SIFT vs ORB under controlled viewpoint change and in-plane rotation, on held-out photographs.

LIFT is trained here (the one stage loop, `vras_keras.training.lift.train_lift`) on quadruplets of the
training photographs seen under perspective warps that simulate out-of-plane rotation of the photographed
plane (`ViewPairs(max_tilt=...)`), full in-plane rotation and photometric changes; or loaded with
`--weights`. The sweep then renders pairs of the held-out photographs (`EVAL_IMAGES`, never used for training
or for choosing anything) with `data.pairs.viewpoint_pair`: view 1 frontal, view 2 the plane tilted by
0-60 degrees (random tilt axis) or rotated in plane by 0-180 degrees, independent photometric changes,
non-square views. These are synthetic warps of real photographs, not photographs taken from two viewpoints.

Every method gets the same pairs, the same keypoint caps (500 and 2000), the same mutual nearest-neighbour
matcher (Hamming for ORB) and Lowe's ratio variant; every pair is scored by `metrics.matching.evaluate_pair`:
MMA@1/3/5, correct matches within 3 px, repeatability (3 px) and homography accuracy (mean corner error of a
RANSAC `cv2.findHomography` from the matches <= 3 / 5 / 10 px, as HPatches reports it). CPU time per
640x480 image is measured side by side in interleaved rounds, in two fresh processes that keep freed memory
(`STEADY_MALLOC`): one thread each (the work per image) and each library's default threads (CPU and wall time),
with LIFT's parts profiled. Each level also prints the per-photograph MMA@3 / keypoints / matches of every
method (smallest cap, mutual NN; a diagnosis, not written). Paired differences LIFT - SIFT and LIFT - ORB (MMA@3,
homography accuracy @3 px) come with 95 % bootstrap intervals over the pairs, resampled within each photograph
(`paired_difference`), and the target is also read with them (significantly below / tied / ahead per level).
`--first-pair N` sweeps fresh pairs (seeds N.. instead of 0..; not written), e.g. to confirm a result on pairs
never rendered before.
`--opencv-doc DIR` sweeps 16 real photographs of OpenCV's sample data (Debian's opencv-doc) instead, as a
second report set (never used for choosing anything); `--photos FILE ...` sweeps your own (not written).

Usage: python benchmarks/matching_sweep.py [--weights W.h5 | --pairs 800 --desc-steps 8000 ...] [--quick]

16 pairs per held-out photograph and level (64 per level; `--per-photo`): with the earlier 2 per photograph a level
of the four photographs' mean moved by up to 0.1 with which two pairs of the near-textureless `clock` were drawn
(docs/matching.md). The shipped tilt-trained model is evaluated alone (no training; about 3 min of sweep alone on 2
cores plus the timing; `--per-photo 2` 0.4 min) by
`python benchmarks/matching_sweep.py --weights benchmarks/results/lift_sweep16.weights.h5 --descriptor-size 16`;
it was trained by `python benchmarks/matching_sweep.py --descriptor-size 16 --pairs 800 --desc-steps 8000
--ori-steps 800 --batch 64 --positive-view view2` (configs/matching.yaml's recipe, now the flags' defaults, so
that a bare run, e.g. `make bench`, retrains and sweeps the shipped recipe, about 20 min alone; full recipe in the
weights' .json sidecar). `--split val` sweeps the validation
photographs instead (for choosing settings; nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _matching  # noqa: E402
import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from _matching import matchers as method_matchers  # noqa: E402
from _matching import opencv_doc_files, opencv_features, set_threads
from _report import RESULTS_DIR, machine, write_section  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data.pairs import (  # noqa: E402
    EVAL_IMAGES,
    TRAIN_IMAGES,
    VAL_IMAGES,
    load_image,
    quadruplet_dataset,
    viewpoint_pair,
)
from vras_keras.metrics.matching import evaluate_pair  # noqa: E402
from vras_keras.models.matching import lift as lift_model  # noqa: E402
from vras_keras.ops.keypoints import fast_scale_space_keypoints  # noqa: E402
from vras_keras.training.lift import LiftTrainingOptions, train_lift  # noqa: E402

TILTS = (0, 10, 20, 30, 40, 50, 60)
ROLLS = (0, 45, 90, 135, 180)
CAPS = (500, 2000)
KEYS = ("mma@1", "mma@3", "mma@5", "correct@3", "matches", "repeatability", "homography@3", "homography@5",
        "homography@10", "keypoints")


def lift_features(model, image, cap, threshold, octaves=None):
    extra = {} if octaves is None else {"octaves": octaves}
    return _matching.lift_features(model, image, cap, scale_space_threshold=threshold, **extra)


def cpu_seconds(fn, repeats):
    fn()  # warm-up (tracing, caches)
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats


def timed_rounds(fns: dict, repeats: int) -> dict:
    """`{name: (median CPU s, median wall s)}` per call, the calls of `fns` interleaved round by round (each one
    warmed up first), so that a change of machine load hits every method alike."""
    for fn in fns.values():
        fn()
    cpu, wall = {name: [] for name in fns}, {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c, w = time.process_time(), time.perf_counter()
            fn()
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - w)
    return {name: (float(np.median(cpu[name])), float(np.median(wall[name]))) for name in fns}


def profile(model, threshold, repeats):
    """Per 640x480 image (held-out photograph `coffee`): `{"LIFT 500": (CPU s, wall s), ...}` for LIFT, SIFT and ORB
    at each cap (interleaved rounds, medians), LIFT's parts (CPU s) and the number of first-octave keypoints."""
    image = cv2.resize(load_image("coffee"), (640, 480), interpolation=cv2.INTER_AREA)
    out = timed_rounds({
        f"{name} {cap}": (lambda name=name, cap=cap: lift_features(model, image, cap, threshold) if name == "LIFT"
                          else opencv_features(name, image, cap))
        for cap in CAPS for name in ("LIFT", "SIFT", "ORB")
    }, repeats)
    detector, orientation, descriptor, crop = lift_model._parts(model)
    x = image.astype(np.float32)[None]
    parts = {}
    responses = lift_model.scale_space_responses(detector, x, lift_model.PRESMOOTH)
    parts["presmoothing + DoG front end (separable Gaussians, cv2)"] = cpu_seconds(
        lambda: lift_model.scale_space_responses(detector, x, lift_model.PRESMOOTH), repeats)
    border = lift_model._border(crop.support)
    options = lift_model._scale_space_options("scale_space", True, True, None)

    def extrema():
        return fast_scale_space_keypoints(responses, x, max(CAPS), threshold=threshold, border=border,
                                          min_contrast=4.0, min_keypoints=lift_model.MIN_KEYPOINTS,
                                          low_threshold=lift_model.LOW_THRESHOLD, **options)

    parts["scale-space extrema + refinement (NumPy/cv2)"] = cpu_seconds(extrema, repeats)
    points, _, valid, _ = extrema()
    xy = points[0][valid[0]]
    parts["crops (NumPy) + orientation + descriptor networks"] = cpu_seconds(
        lambda: lift_model.describe_keypoints(model, image, xy), repeats)

    def coarser_octaves():  # halving, DoG and extrema of every octave after the first (detect_and_describe's rule)
        for level in lift_model.octave_images(image)[1:]:
            y = level[None]
            responses_o = lift_model.scale_space_responses(detector, y, lift_model.PRESMOOTH)
            fast_scale_space_keypoints(responses_o, y, max(CAPS), threshold=threshold,
                                       border=border, min_contrast=4.0, min_keypoints=lift_model.MIN_KEYPOINTS,
                                       low_threshold=lift_model.LOW_THRESHOLD, **options)

    n = lift_model.octave_count(image.shape[:2])
    parts[f"octave{'s 2-' if n > 2 else ' '}{n}: halving + DoG + extrema"] = cpu_seconds(coarser_octaves, repeats)
    return out, parts, len(xy)


# Real photographs of OpenCV's sample data (Debian's opencv-doc), a second report set: 16 photographs of real scenes
# (at least 384 px) picked from the file list by name before any result on them was seen (left out: the Graffiti
# pair, which matching_real.py uses, calibration chessboards, second images of stereo / sequence pairs, text, logos,
# drawings and renderings); never used for choosing anything.
OPENCV_DOC_PHOTOS = (
    "aero1.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg",
    "fruits.jpg", "home.jpg", "leuvenA.jpg", "messi5.jpg", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png", "aloeL.jpg",
    "ela_original.jpg",
)


# glibc returns large freed blocks to the system, so a fresh process pays page faults on every SIFT call (about 18,000
# per 640x480 image, 0.04-0.07 CPU-s of kernel time: SIFT took 0.13 CPU-s on one thread instead of 0.06) while a
# process that has run other work first may not; the timing processes keep freed memory for reuse, so that every
# method is timed in the steady state of a long-running loop.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def profile_process(args, threads: int | None):
    """`profile` in a fresh process (`--profile-only`) with `threads` OpenCV / TensorFlow threads (None: the
    libraries' defaults; TensorFlow's thread pools cannot change once started) and `STEADY_MALLOC`:
    `(timing, parts, keypoints)`."""
    command = [sys.executable, str(Path(__file__).resolve()), "--profile-only",
               "--weights", args.weights, "--descriptor-size", str(args.descriptor_size), "--width", str(args.width),
               "--threshold", str(args.threshold), "--repeats", str(args.repeats)]
    if threads is not None:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **STEADY_MALLOC})
    if done.returncode != 0:
        raise SystemExit(f"the timing run failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: tuple(v) for k, v in out["timing"].items()}, out["parts"], out["keypoints"]


def sweep(methods, pair_of, photos, per_photo, caps, per_pair=None):
    """`{(sweep, level): {row: {metric: mean}}}`; view-1 features are computed once per photo and cap, and the
    pairs of rotation 0 (the same as viewpoint 0) are scored once.

    `per_pair`, a dict, receives `{(sweep, level): {row: (pairs, len(KEYS)) array}}`, every row's pairs in the same
    order (photograph-major), for paired comparisons (`paired_difference`)."""
    results = {}
    first = {}
    scored = {}  # (tilt, roll) -> (rows, by_photo): rotation 0 is viewpoint 0, the same pairs, scored once
    for kind, levels in (("viewpoint", TILTS), ("rotation", ROLLS)):
        for level in levels:
            geometry = (level, 0) if kind == "viewpoint" else (0, level)
            if geometry in scored:
                rows, by_photo = scored[geometry]
                photos_to_score = ()
            else:
                rows, by_photo = scored[geometry] = {}, {}
                photos_to_score = photos
            for photo in photos_to_score:
                for k in range(per_photo):
                    pair = pair_of(photo, k, kind, level)
                    for name, (fn, matchers) in methods.items():
                        # LIFT keeps the strongest keypoints in order (top-k of the scale-space responses, then
                        # described one by one), so its smaller caps are prefixes of one run at the largest cap.
                        prefix = name == "LIFT"
                        if prefix:
                            if (name, photo, k) not in first:
                                first[(name, photo, k)] = fn(pair["image1"], max(caps))
                            second = fn(pair["image2"], max(caps))
                        for cap in caps:
                            key = (name, cap, photo, k)
                            if prefix:
                                xy1, d1 = (a[:cap] for a in first[(name, photo, k)])
                                xy2, d2 = (a[:cap] for a in second)
                            else:
                                if key not in first:
                                    first[key] = fn(pair["image1"], cap)
                                xy1, d1 = first[key]
                                xy2, d2 = fn(pair["image2"], cap)
                            for matcher, options in matchers.items():
                                r = evaluate_pair(xy1, d1, xy2, d2, pair["homography"], shape_a=pair["image1"].shape,
                                                  shape_b=pair["image2"].shape, valid_a=pair["valid1"],
                                                  valid_b=pair["valid2"], **options)
                                rows.setdefault(f"{name} {cap}, {matcher}", []).append([r[m] for m in KEYS])
                                if cap == caps[0] and matcher == "mutual NN":
                                    by_photo.setdefault((Path(photo).name, name), []).append(
                                        (r["mma@3"], r["keypoints"], r["matches"]))
            results[(kind, level)] = {row: dict(zip(KEYS, np.mean(v, axis=0).tolist())) for row, v in rows.items()}
            if per_pair is not None:
                per_pair[(kind, level)] = {row: np.asarray(v, dtype=float) for row, v in rows.items()}
            print(f"{kind} {level}: " + ", ".join(f"{row} {v['mma@3']:.3f}" for row, v in results[(kind, level)].items()
                                                  if row.endswith("mutual NN")), flush=True)
            # per photograph (diagnosis; not written): MMA@3 / keypoints per view / matches, mutual NN, smallest cap
            print(f"  per photograph, {caps[0]} keypoints, mutual NN (MMA@3 / keypoints / matches): " + "; ".join(
                f"{photo} {name} " + "/".join(f"{x:.3g}" for x in np.mean(v, axis=0))
                for (photo, name), v in by_photo.items()), flush=True)
    return results


def paired_difference(a, b, groups, *, resamples=2000, seed=0, level=0.95):
    """Mean of `a - b` over paired values (the same pairs scored by two methods) and its percentile bootstrap
    interval, resampling pairs with replacement within each group (photograph), so every resample keeps the
    photographs' mix: how much the difference moves with which pairs of these photographs were drawn. It says
    nothing about other photographs. Groups of one pair (one pair per photograph, e.g. `--per-photo 1` on the
    opencv-doc photographs) are resampled together as one group: a bootstrap over those photographs.

    Returns:
        `(mean, low, high)`.
    """
    a, b, groups = np.asarray(a, dtype=float), np.asarray(b, dtype=float), np.asarray(groups)
    if a.ndim != 1 or not (a.shape == b.shape == groups.shape) or not len(a):
        raise ValueError(f"a, b and groups must be equal-length 1-D sequences; got {np.shape(a)}, {np.shape(b)}, "
                         f"{groups.shape}")
    diff = a - b
    names, counts = np.unique(groups, return_counts=True)
    groups = np.where(np.isin(groups, names[counts == 1]), "pooled singletons", groups.astype(str))
    rng = np.random.default_rng(seed)
    total = np.zeros(resamples)
    for g in np.unique(groups):
        values = diff[groups == g]
        total += values[rng.integers(0, len(values), (resamples, len(values)))].sum(axis=1)
    means = total / len(diff)
    tail = (1 - level) / 2 * 100
    return float(diff.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


COMPARISONS = (("SIFT", "mma@3"), ("ORB", "mma@3"), ("SIFT", "homography@3"))  # LIFT minus these, mutual NN


def paired_differences(per_pair, groups, cap) -> dict:
    """`{(sweep, level): {(method, metric): (mean, low, high)}}`: `paired_difference` of LIFT minus each of
    `COMPARISONS` at every level of a `sweep(..., per_pair)` result; `cap` keypoints, mutual NN."""
    out = {}
    for key, rows in per_pair.items():
        lift = rows[f"LIFT {cap}, mutual NN"]
        out[key] = {}
        for method, metric in COMPARISONS:
            column = KEYS.index(metric)
            other = rows[f"{method} {cap}, mutual NN"]
            out[key][method, metric] = paired_difference(lift[:, column], other[:, column], groups)
    return out


def interval_verdict(per_pair, groups, cap) -> str:
    """The target of issue #22 read with the paired intervals: at which levels LIFT is significantly below
    (interval entirely < 0) or tied with (interval contains 0) SIFT up to 40° and ORB everywhere, MMA@3 and
    homography accuracy @3 px vs SIFT up to 40°; `cap` keypoints, mutual NN."""
    differences = paired_differences(per_pair, groups, cap)
    up_to_40 = lambda kind, level: kind == "viewpoint" and level <= 40  # noqa: E731
    checks = (("MMA@3 vs SIFT up to 40°", ("SIFT", "mma@3"), up_to_40),
              ("MMA@3 vs ORB, every level", ("ORB", "mma@3"), lambda kind, level: True),
              ("homography @3 px vs SIFT up to 40°", ("SIFT", "homography@3"), up_to_40))
    parts = []
    for label, comparison, applies in checks:
        below, tied = [], []
        for (kind, level), by_comparison in differences.items():
            if not applies(kind, level) or (kind == "rotation" and level == 0):  # rotation 0 = viewpoint 0
                continue
            _, low, high = by_comparison[comparison]
            name = f"{level}°" if kind == "viewpoint" else f"{level}° rotation"
            (below if high < 0 else tied if low <= 0 else []).append(name)
        parts.append(f"{label}: significantly below at **{', '.join(below) or 'no level'}**, tied (interval "
                     f"contains 0) at {', '.join(tied) or 'no level'}, ahead at the others")
    return f"- {cap} keypoints, read with the 95 % paired intervals (below): " + "; ".join(parts) + "."


def difference_table(per_pair, groups, cap) -> list[str]:
    """Markdown rows: LIFT - SIFT and LIFT - ORB (mutual NN, `cap` keypoints) per level, MMA@3 and homography
    accuracy @3 px, with 95 % bootstrap intervals (`paired_differences`)."""
    lines = ["| level | MMA@3 LIFT - SIFT | MMA@3 LIFT - ORB | H@3 LIFT - SIFT |", "|---|---:|---:|---:|"]
    for (kind, level), by_comparison in paired_differences(per_pair, groups, cap).items():
        cells = [f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]" for mean, low, high in
                 (by_comparison[c] for c in COMPARISONS)]
        lines.append(f"| {kind} {level}° | " + " | ".join(cells) + " |")
    return lines


def draw(results, rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for col, (kind, levels, label) in enumerate((("viewpoint", TILTS, "viewpoint change (out-of-plane tilt, deg)"),
                                                 ("rotation", ROLLS, "in-plane rotation (deg)"))):
        for r, (metric, ylabel) in enumerate((("mma@3", "MMA@3px"), ("homography@3", "homography accuracy @3px"))):
            ax = axes[r, col]
            for row in rows:
                style = "-" if row.startswith("LIFT") else "--" if row.startswith("SIFT") else ":"
                ax.plot(levels, [results[(kind, lv)][row][metric] for lv in levels], style, marker="o", ms=3,
                        label=row)
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title}, synthetic warps; mutual NN matching")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(results, kind, levels, metric, rows):
    lines = [f"| {metric} | " + " | ".join(f"{lv}°" for lv in levels) + " |",
             "|---|" + "---:|" * len(levels)]
    for row in rows:
        lines.append(
            f"| {row} | "
            + " | ".join(
                f"{results[(kind, lv)][row][metric]:.3f}"
                if metric != "correct@3"
                else f"{results[(kind, lv)][row][metric]:.0f}"
                for lv in levels
            )
            + " |"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", help="load these LIFT weights (lift(grayscale=True) defaults) instead of training")
    parser.add_argument("--descriptor-size", type=int, default=16,
                        help="side of the orientation/descriptor patches (lift(descriptor_size=...)); 16 is 4x cheaper")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier of LIFT's networks")
    parser.add_argument("--pairs", type=int, default=800, help="training pairs")
    parser.add_argument("--per-pair", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=192)
    parser.add_argument("--max-tilt", type=float, default=60.0, help="training views: out-of-plane tilt up to this")
    parser.add_argument("--max-rotation", type=float, default=180.0, help="training views: in-plane rotation up to ±")
    parser.add_argument("--desc-steps", type=int, default=8000)
    parser.add_argument("--ori-steps", type=int, default=800)
    parser.add_argument("--det-steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--augment", type=float, default=1.0, help="photometric + blur augmentation of every patch")
    parser.add_argument("--scale-jitter", type=float, default=0.25)
    parser.add_argument("--positive-view", default="view2", choices=("rectified", "view2"),
                        help="descriptor stage's positive (LiftTrainingOptions.positive_view)")
    parser.add_argument("--shift-negative", type=float, default=0.0,
                        help="descriptor stage's shifted negative, px (LiftTrainingOptions.shift_negative; 0: off)")
    parser.add_argument("--shift-weight", type=float, default=1.0, help="its weight (LiftTrainingOptions.shift_weight)")
    parser.add_argument("--threshold", type=float, default=0.3, help="LIFT scale-space contrast threshold")
    parser.add_argument("--octaves", type=int, help="LIFT octaves (default: detect_and_describe's; 1 turns them off)")
    parser.add_argument("--ratio", type=float, default=0.8, help="Lowe's ratio of the '+ ratio' matcher")
    parser.add_argument("--per-photo", type=int, default=16,
                        help="pairs per photograph and sweep level (pair seeds 0..N-1: a larger N adds pairs)")
    parser.add_argument("--first-pair", type=int, default=0,
                        help="seed of each photograph's first pair (pair seeds N..N+per-photo-1; not 0: fresh pairs, "
                        "e.g. to confirm a result on pairs never rendered before; nothing is written)")
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), help="sweep views (H W)")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds per 640x480 image (medians)")
    parser.add_argument("--threads", type=int, help="OpenCV and TensorFlow threads (default: the libraries' own)")
    parser.add_argument("--profile-only", action="store_true",
                        help="only time the 640x480 image and print the timings as JSON (used for the one-thread run)")
    parser.add_argument("--data-cache", help="pickle of the training quadruplets (made if missing; must match the "
                        "--pairs/--per-pair/--train-size/--max-tilt/--max-rotation flags)")
    parser.add_argument("--split", default="eval", choices=("eval", "val"),
                        help="photographs swept: the held-out ones (reported) or the validation ones (for choosing "
                        "settings; never written)")
    parser.add_argument("--quick", action="store_true", help="tiny budget: check that the script runs")
    parser.add_argument("--opencv-doc", metavar="DIR",
                        help="sweep OPENCV_DOC_PHOTOS, real photographs of OpenCV's sample data as Debian's opencv-doc "
                             "ships it (DIR: its examples/data folder), instead of the held-out scikit-image ones; "
                             "written as its own section (no timing)")
    parser.add_argument("--photos", nargs="+", metavar="FILE",
                        help="sweep your own photographs (image files) instead; nothing is written")
    parser.add_argument("--no-write", action="store_true", help="do not write the results section / picture")
    parser.add_argument("--no-timing", action="store_true", help="skip the CPU timing (accuracies only; not written)")
    args = parser.parse_args()
    set_threads(args.threads)
    if args.quick:
        args.pairs, args.per_pair, args.per_photo, args.repeats = 3, 8, 1, 1
        args.desc_steps = args.ori_steps = args.det_steps = 3
    keras.utils.set_random_seed(0)
    # the results section is the sweep: held-out photographs, 240 x 320 views, the default detector
    writing = not (args.quick or args.no_write or args.split != "eval" or args.octaves is not None
                   or tuple(args.size) != (240, 320) or args.photos or args.first_pair or args.no_timing)
    if args.first_pair < 0:
        parser.error(f"--first-pair must be >= 0; got {args.first_pair}")
    section = "matching_sweep_opencv_doc" if args.opencv_doc else "matching_sweep"
    if args.photos:
        photos = tuple(args.photos)
    elif args.opencv_doc:
        photos = opencv_doc_files(args.opencv_doc, OPENCV_DOC_PHOTOS, " as --opencv-doc")
    else:
        photos = EVAL_IMAGES if args.split == "eval" else VAL_IMAGES
    for photo in photos:  # a missing / unreadable file stops here, named, before any training
        try:
            load_image(photo)
        except (ValueError, OSError) as error:
            raise SystemExit(f"cannot sweep this photograph: {error}") from None
    labels = [Path(p).stem for p in photos]

    model = models.get("lift", grayscale=True, descriptor_size=args.descriptor_size, width=args.width)
    train_note = ""
    if args.weights:
        model.load_weights(args.weights)
        sidecar = Path(args.weights + ".json")  # how the weights were trained, written by a training run
        train_note = (json.loads(sidecar.read_text())["train_note"] if sidecar.exists()
                      else f"LIFT weights loaded from `{args.weights}`.")
    else:
        start = time.perf_counter()
        if args.data_cache and Path(args.data_cache).exists():
            data = pickle.loads(Path(args.data_cache).read_bytes())
        else:
            data = quadruplet_dataset("train", num_pairs=args.pairs, per_pair=args.per_pair, patch_size=64,
                                      image_size=args.train_size, seed=0, max_rotation=args.max_rotation,
                                      max_tilt=args.max_tilt, patch_dtype="uint8")
            if args.data_cache:
                Path(args.data_cache).write_bytes(pickle.dumps(data))
        data_seconds = time.perf_counter() - start
        options = LiftTrainingOptions(dense_weight=1.0, pair_weight=0.0, overlap_weight=0.0,
                                      scale_jitter=args.scale_jitter, consistency_weight=1.0, augment=args.augment,
                                      positive_view=args.positive_view, shift_negative=args.shift_negative,
                                      shift_weight=args.shift_weight)
        cpu0 = time.process_time()
        history = train_lift(model, data, descriptor_steps=args.desc_steps, orientation_steps=args.ori_steps,
                             detector_steps=args.det_steps, batch_size=args.batch, learning_rate=args.lr,
                             options=options, log_every=250)
        train_cpu = time.process_time() - cpu0
        weights = Path(os.environ.get("LIFT_WEIGHTS", Path(tempfile.gettempdir()) / "lift_sweep.weights.h5"))
        model.save_weights(weights)
        train_note = (
            f"LIFT (`lift(grayscale=True, descriptor_size={args.descriptor_size}, width={args.width:g})`: patch 64, "
            f"crop 32 px) trained here from scratch by `train_lift` (the "
            f"loop `vras train` runs): descriptor {args.desc_steps}, orientation {args.ori_steps}, detector "
            f"{args.det_steps} steps of {args.batch} quadruplets (Adam {args.lr}; {options}) on {len(data['p1'])} "
            f"quadruplets from {args.pairs} pairs of {args.train_size}-px views of the training photographs "
            f"({', '.join(TRAIN_IMAGES)}) with in-plane rotation up to ±{args.max_rotation:g}°, out-of-plane tilt up "
            f"to {args.max_tilt:g}°, scale 0.8-1.25, perspective jitter and photometric changes ({data_seconds:.0f} s "
            f"to make the data, {train_cpu / 60:.1f} CPU-min of training; weights saved to `{weights}`; stage wall "
            "times " + ", ".join(f"{k} {v:.0f} s" for k, v in history["seconds"].items()) + ").")
        Path(str(weights) + ".json").write_text(json.dumps({"train_note": train_note}))
        args.weights = str(weights)
    if args.profile_only:
        timing, parts, profiled = profile(model, args.threshold, args.repeats)
        print(json.dumps({"timing": timing, "parts": parts, "keypoints": profiled}))
        return
    print(train_note, flush=True)

    methods = {
        "LIFT": (lambda im, cap: lift_features(model, im, cap, args.threshold, args.octaves),
                 method_matchers("LIFT", args.ratio)),
        "SIFT": (lambda im, cap: opencv_features("SIFT", im, cap), method_matchers("SIFT", args.ratio)),
        "ORB": (lambda im, cap: opencv_features("ORB", im, cap), method_matchers("ORB", args.ratio)),
    }
    size = tuple(args.size)

    def pair_of(photo, k, kind, level):
        return viewpoint_pair(photo, size=size, seed=args.first_pair + k, tilt=level if kind == "viewpoint" else 0.0,
                              roll=level if kind == "rotation" else 0.0)

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    per_pair = {}
    results = sweep(methods, pair_of, photos, args.per_photo, CAPS, per_pair)
    groups = np.repeat(np.arange(len(photos)), args.per_photo)  # the photograph of each pair (sweep's order)
    sweep_seconds = time.perf_counter() - t0
    saved = Path(tempfile.gettempdir()) / "matching_sweep_results.json"
    saved.write_text(json.dumps({f"{k[0]} {k[1]}": v for k, v in results.items()}))
    print(f"sweep results: {saved}", flush=True)
    timing = one_thread = parts = None
    if not (args.opencv_doc or args.no_timing):
        one_thread, one_parts, profiled = profile_process(args, 1)
        timing, parts, _ = profile_process(args, None)  # the libraries' default threads

    rows = [f"{m} {cap}, {matcher}" for m in methods for cap in CAPS for matcher in methods[m][1]]
    nn_rows = [r for r in rows if r.endswith("mutual NN")]
    # the target of issue #22, checked level by level (mutual NN, each cap)
    verdict = []
    for cap in CAPS:
        lift, sift, orb = (f"{m} {cap}, mutual NN" for m in ("LIFT", "SIFT", "ORB"))
        upto40 = [t for t in TILTS if t <= 40]
        ge_sift = all(
            results[("viewpoint", t)][lift]["mma@3"] >= results[("viewpoint", t)][sift]["mma@3"] for t in upto40
        )
        ge_orb = all(results[key][lift]["mma@3"] >= results[key][orb]["mma@3"] for key in results)
        hom = all(results[("viewpoint", t)][lift]["homography@3"] >= results[("viewpoint", t)][sift]["homography@3"]
                  for t in upto40)
        verdict.append(
            f"- {cap} keypoints: LIFT MMA@3 >= SIFT at every viewpoint up to 40°: **{'yes' if ge_sift else 'no'}**; "
            f">= ORB at every level of both sweeps: **{'yes' if ge_orb else 'no'}**; homography accuracy @3 px "
            f">= SIFT up to 40°: **{'yes' if hom else 'no'}**."
        )
        verdict.append(interval_verdict(per_pair, groups, cap))
    if timing is not None:
        lift_vs_sift = {cap: one_thread[f"LIFT {cap}"][0] / max(one_thread[f"SIFT {cap}"][0], 1e-9) for cap in CAPS}
        default_ratio = {cap: timing[f"LIFT {cap}"][0] / max(timing[f"SIFT {cap}"][0], 1e-9) for cap in CAPS}
        verdict.append("- CPU time per 640x480 image <= 3x SIFT (one thread each): **"
                       + ("yes" if max(lift_vs_sift.values()) <= 3 else "no") + "** ("
                       + ", ".join(f"{cap} keypoints: {v:.2f}x" for cap, v in lift_vs_sift.items())
                       + "; with each library's default threads: "
                       + ", ".join(f"{v:.2f}x" for v in default_ratio.values()) + " of CPU time).")

    picture = (RESULTS_DIR if writing else Path(tempfile.gettempdir())) / f"{section}.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    source = "OpenCV sample photographs (opencv-doc)" if args.opencv_doc else "Held-out photographs"
    draw(results, nn_rows, picture, f"{source} ({', '.join(labels[:6])}{', ...' if len(labels) > 6 else ''})")
    print(f"picture: {picture}", flush=True)
    lines = [
        "## Viewpoint and rotation sweep: LIFT vs SIFT vs ORB (`benchmarks/matching_sweep.py`)"
        + (", OpenCV's sample photographs" if args.opencv_doc else ""),
        "",
        f"Machine: {machine()}; 1-min load average {load_before:.1f} before the sweep, {os.getloadavg()[0]:.1f} at the "
        f"end. Sweep wall time {sweep_seconds / 60:.1f} min.",
        "",
        train_note,
        "",
        (f"Data: **synthetic warps of {len(photos)} real photographs from OpenCV's sample data** as Debian's "
         f"`opencv-doc` package ships it ({', '.join(labels)}; `--opencv-doc DIR`; never used for training or for any "
         "choice; the same photographs were never seen by the validation either)" if args.opencv_doc else
         f"Data: **synthetic warps of the given photographs** ({', '.join(labels)})" if args.photos else
         f"Data: **synthetic warps of real held-out photographs** ({', '.join(labels)}; never used for training or "
         "for any choice)") + f", {args.per_photo} crops per photograph and level (`viewpoint_pair` seeds "
        f"{args.first_pair}-{args.first_pair + args.per_photo - 1}), {size[0]}x{size[1]} (H x W) views "
        "(`data.pairs.viewpoint_pair`): view 1 frontal, view 2 the photographed plane tilted out of plane by the "
        "viewpoint angle about a random in-plane axis (pinhole camera, focal length 320 px) or rotated in plane by "
        "the rotation angle; independent photometric changes (gamma, contrast, brightness, gain, noise) in each view. "
        "Not photographs taken from two viewpoints. Every pair is scored by `metrics.matching.evaluate_pair`; "
        f"averages over the {len(photos) * args.per_photo} pairs of each level. Matchers: mutual nearest neighbours "
        f"(Hamming for ORB) and mutual NN + Lowe's ratio test {args.ratio:g}. LIFT keypoints: scale-space extrema "
        f"of its DoG front end (`detect_and_describe`, threshold {args.threshold:g}).",
        "",
        "Target of issue #22" + (" (on these photographs)" if args.opencv_doc else "") + ":",
        "",
        *verdict,
        "",
        "Sweep picture (MMA@3 and homography accuracy @3 px, mutual NN): "
        f"[{section}.png](results/{section}.png)",
        "",
        "### MMA@3 px, viewpoint sweep (out-of-plane tilt)",
        "",
        *table(results, "viewpoint", TILTS, "mma@3", rows),
        "",
        "### MMA@3 px, in-plane rotation sweep",
        "",
        *table(results, "rotation", ROLLS, "mma@3", rows),
        "",
        "### Homography accuracy (corner error <= 3 px), viewpoint sweep",
        "",
        *table(results, "viewpoint", TILTS, "homography@3", rows),
        "",
        "### Homography accuracy (corner error <= 3 px), rotation sweep",
        "",
        *table(results, "rotation", ROLLS, "homography@3", rows),
        "",
        "### Correct matches (<= 3 px) per pair, viewpoint sweep",
        "",
        *table(results, "viewpoint", TILTS, "correct@3", rows),
        "",
        f"### Paired differences, {CAPS[0]} keypoints, mutual NN (95 % bootstrap intervals)",
        "",
        "Mean of LIFT's score minus the other method's over the same pairs, and the interval of that mean when the "
        "pairs are resampled with replacement within each photograph (2,000 resamples, "
        "`matching_sweep.paired_difference`): how much a difference moves with which pairs of these photographs were "
        "drawn. An interval that contains 0 is a tie at this sample size; it says nothing about other photographs.",
        "",
        *difference_table(per_pair, groups, CAPS[0]),
        "",
        "### All metrics, averaged over viewpoints 0-40°",
        "",
        "| method | keypoints | repeatability | MMA@1 | MMA@3 | MMA@5 | matches | correct@3 | H@3 | H@5 | H@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        mean = {m: np.mean([results[("viewpoint", t)][row][m] for t in TILTS if t <= 40]) for m in KEYS}
        lines.append(f"| {row} | {mean['keypoints']:.0f} | {mean['repeatability']:.3f} | {mean['mma@1']:.3f} | "
                     f"{mean['mma@3']:.3f} | {mean['mma@5']:.3f} | {mean['matches']:.0f} | {mean['correct@3']:.1f} | "
                     f"{mean['homography@3']:.2f} | {mean['homography@5']:.2f} | {mean['homography@10']:.2f} |")
    if timing is not None:
        lines += [
            "",
            f"### Time per 640x480 image (held-out `coffee`; medians of {args.repeats} interleaved rounds after a "
            "warm-up)",
            "",
            "Each row set is timed in its own process that keeps freed memory for reuse (`STEADY_MALLOC`: without "
            "it glibc hands SIFT's buffers back to the system and every SIFT call pays ~18,000 page faults, which "
            "doubled its CPU time in a fresh process), i.e. the steady state of a long-running loop. *One thread*: "
            "OpenCV and TensorFlow each limited to one thread (`--threads 1`), so CPU seconds are the work each "
            "method does per image: the issue's measure. *Default threads*: each library's own thread pools (one "
            "thread per core here); their CPU seconds also count the pools' synchronisation and spinning, and "
            "their wall time is the latency a 2-core computer sees.",
            "",
            "| method | one thread: CPU s, 500 kp | 2000 kp | default threads: CPU s, 500 kp | 2000 kp "
            "| wall s, 500 kp | 2000 kp |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(f"| {m} | {one_thread[f'{m} 500'][0]:.3f} | {one_thread[f'{m} 2000'][0]:.3f} "
              f"| {timing[f'{m} 500'][0]:.3f} | {timing[f'{m} 2000'][0]:.3f} | {timing[f'{m} 500'][1]:.3f} "
              f"| {timing[f'{m} 2000'][1]:.3f} |" for m in ("LIFT", "SIFT", "ORB")),
            "",
            f"LIFT's parts on the same image (first octave: {profiled} keypoints found with the 2000 cap; the "
            "networks' cost grows with the keypoints described, which the coarser octaves add to), CPU s (means):",
            "",
            "| part | one thread | default threads |",
            "|---|---:|---:|",
            *(f"| {k} | {one_parts[k]:.3f} | {v:.3f} |" for k, v in parts.items()),
        ]
    markdown = "\n".join(lines)
    print(markdown)
    print(json.dumps({"timing": timing, "one_thread": one_thread, "parts": parts,
                      "results": {f"{k[0]} {k[1]}": v for k, v in results.items()}}, indent=1)[:3000])
    if writing:
        write_section(section, markdown)


if __name__ == "__main__":
    main()
