"""How the LIFT recipe and the low-texture keypoint rule of issue #22 were chosen: on the validation photographs
only (grace_hopper, china), never on the held-out ones.

`recipe` trains a LIFT model (the one stage loop, `train_lift`, as `benchmarks/matching_sweep.py` and
`configs/matching.yaml`) with the given data size, steps, batch and `positive_view`, or loads `--weights`, and
reports MMA@3 (500 keypoints, mutual NN, `metrics.matching.evaluate_pair`) of LIFT and OpenCV SIFT on 4 pairs
per validation photograph (`viewpoint_pair` seeds 100-103, 240x320) at tilts 0/20/40/60 degrees and a 90-degree
in-plane rotation: the table "What closed the SIFT gap" in docs/matching.md.

`lowc` scores the relaxed threshold (`detect_and_describe(min_keypoints=M, low_threshold=F)`) on blurred
(sigma 1.5 px), 0.3x-contrast versions of the validation photographs (3 pairs per photograph and tilt) against
SIFT and ORB: the "Low-texture images" numbers there.

`octaves` scores LIFT's octaves (`detect_and_describe(octaves=..., min_octave_side=...)`) on the same validation
pairs rendered at 240x320 and at 480x640 (4 pairs per photograph, level and size): one octave, the default
(a halved octave while its shorter side is >= 192 px) and a 96-px limit (which adds 120-px octaves), MMA@3 and
correct matches at tilts 0/20/40/60 and a 90-degree rotation: the "Octaves" table in docs/matching.md.

`keypoints` scores keypoint-selection settings of `detect_and_describe` that trade keypoints for precision
(the low-texture rule's minimum and floor, the contrast guard, SIFT's edge ratio) against SIFT and ORB on a
wider validation set: the two validation photographs plus `OPENCV_DOC_VAL`, seven photographs of OpenCV's sample
data that are neither in the opencv-doc report set (`matching_sweep.OPENCV_DOC_PHOTOS`) nor its siblings, several
of them low-texture (motion blur, defocus, smooth fruit) as the held-out `clock` is; 4 pairs per photograph at
tilts 0/10/40 and a 45-degree rotation (the levels where ORB leads on the held-out sweep), 240x320, 500
keypoints, mutual NN: the "Keypoint selection for precision" paragraph in docs/matching.md.

`presmooth` scores the Gaussian blur applied before the DoG front end (`detect_and_describe(presmooth=...)`,
each of `--sigmas`, with each of `--thresholds` as `scale_space_threshold`) against SIFT and ORB on three
validation sets: the wider one of `keypoints` (240x320), the blurred low-contrast versions of `lowc` and the two
validation photographs at 480x640; 4 pairs per photograph at tilts 0/10/40 and a 45-degree rotation, 500
keypoints, mutual NN: the "Presmoothing" table in docs/matching.md.

Usage:
  python benchmarks/lift_choices.py recipe --pairs 800 --desc-steps 8000 --ori-steps 800 --batch 64 \
      --positive-view view2 [--out W.weights.h5]
  python benchmarks/lift_choices.py recipe --weights benchmarks/results/lift_sweep16.weights.h5
  python benchmarks/lift_choices.py lowc --weights W.weights.h5
  python benchmarks/lift_choices.py octaves --weights benchmarks/results/lift_sweep16.weights.h5
  python benchmarks/lift_choices.py keypoints --weights benchmarks/results/lift_sweep16.weights.h5 \
      --opencv-doc DIR/usr/share/doc/opencv-doc/examples/data
  python benchmarks/lift_choices.py presmooth --weights benchmarks/results/lift_sweep16.weights.h5 \
      --opencv-doc DIR/usr/share/doc/opencv-doc/examples/data [--sigmas 0,0.4,0.6,0.8,1.0] [--thresholds 0.3]
Each training run used one TensorFlow thread (`--threads 1`), two runs at a time on the 2 cores; the accuracies
do not depend on the load (no timing is reported).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from _matching import OPENCV_DOC, opencv_doc_files, opencv_features, set_threads  # noqa: E402
from _matching import lift_features as _lift_features  # noqa: E402

VAL = ("grace_hopper", "china")
# Photographs of OpenCV's sample data used for choosing (never for reporting): not in the opencv-doc report set
# and not siblings of its photographs (basketball2, aero3, leuvenB, aloeR and the Graffiti views are left out).
OPENCV_DOC_VAL = ("apple.jpg", "orange.jpg", "smarties.png", "text_defocus.jpg", "licenseplate_motion.jpg",
                  "chicky_512.png", "rubberwhale1.png")


# detect_and_describe options every mode's LIFT gets unless it sets them itself (`--presmooth`)
LIFT_OPTIONS = {}


def lift_features(model, image, max_keypoints, **options):
    return _lift_features(model, image, max_keypoints, **{**LIFT_OPTIONS, **options})


def _model(args):
    import keras

    from vras_keras import models

    keras.utils.set_random_seed(0)
    model = models.get("lift", grayscale=True, descriptor_size=16, width=args.width)
    if args.weights:
        model.load_weights(args.weights)
    return model


def _score(pair, features, metric="l2"):
    from vras_keras.metrics.matching import evaluate_pair

    (x1, d1), (x2, d2) = features(pair["image1"]), features(pair["image2"])
    return evaluate_pair(x1, d1, x2, d2, pair["homography"], shape_a=pair["image1"].shape,
                         shape_b=pair["image2"].shape, valid_a=pair["valid1"], valid_b=pair["valid2"], metric=metric)


def _pair(photo, kind: str, level: float, k: int, size=(240, 320)):
    """The k-th validation pair (`viewpoint_pair` seed 100 + k) of `photo` tilted (`kind="tilt"`) or rotated in
    plane (`"roll"`) by `level` degrees."""
    from vras_keras.data.pairs import viewpoint_pair

    return viewpoint_pair(photo, size=size, seed=100 + k, tilt=level if kind == "tilt" else 0,
                          roll=level if kind == "roll" else 0)


def recipe(args):
    from vras_keras.data.pairs import quadruplet_dataset
    from vras_keras.training.lift import LiftTrainingOptions, train_lift

    model = _model(args)
    if not args.weights:
        data = quadruplet_dataset("train", num_pairs=args.pairs, per_pair=32, patch_size=64, image_size=192, seed=0,
                                  max_rotation=180, max_tilt=60, patch_dtype="uint8")
        options = LiftTrainingOptions(dense_weight=1.0, pair_weight=0.0, overlap_weight=0.0, scale_jitter=0.25,
                                      consistency_weight=1.0, augment=1.0, positive_view=args.positive_view)
        start = time.perf_counter()
        train_lift(model, data, descriptor_steps=args.desc_steps, orientation_steps=args.ori_steps,
                   detector_steps=30, batch_size=args.batch, learning_rate=1e-3, options=options, log_every=500)
        print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
        if args.out:
            model.save_weights(args.out)
    rows = {}
    for kind, level in (("tilt", 0), ("tilt", 20), ("tilt", 40), ("tilt", 60), ("roll", 90)):
        scores, correct = {"LIFT": [], "SIFT": []}, {"LIFT": []}
        for photo in VAL:
            for k in range(4):
                pair = _pair(photo, kind, level, k)
                lift_scores = _score(pair, lambda im: lift_features(model, im, 500))
                scores["LIFT"].append(lift_scores["mma@3"])
                correct["LIFT"].append(lift_scores["correct@3"])
                scores["SIFT"].append(_score(pair, lambda im: opencv_features("SIFT", im, 500))["mma@3"])
        rows[f"{kind}{level}"] = {**{m: round(float(np.mean(v)), 3) for m, v in scores.items()},
                                  "LIFT correct@3": round(float(np.mean(correct["LIFT"])), 1)}
    print(json.dumps(rows), flush=True)


def _low_contrast_photos():
    """Let `viewpoint_pair` read "lowc:NAME": a blurred (sigma 1.5 px), 0.3x-contrast version of photograph NAME."""
    import cv2

    import vras_keras.data.pairs as pairs

    original = pairs.load_image

    def load(name):
        if not name.startswith("lowc:"):
            return original(name)
        image = cv2.GaussianBlur(original(name[5:]).astype(np.float32), (0, 0), 1.5)
        return np.clip(image.mean() + (image - image.mean()) * 0.3, 0, 255).astype(np.uint8)

    pairs.load_image = load


def lowc(args):
    _low_contrast_photos()
    model = _model(args)
    methods = {**_opencv_methods(), "LIFT off": (lambda im: lift_features(model, im, 500, min_keypoints=0), "l2")}
    for m in (50, 100, 200):
        for floor in (0.1, 0.05):
            methods[f"LIFT M{m} f{floor}"] = (
                lambda im, m=m, floor=floor: lift_features(model, im, 500, min_keypoints=m, low_threshold=floor), "l2")
    for photo in VAL:
        for tilt in (0, 20, 40):
            rows = {}
            for k in range(3):
                pair = _pair(f"lowc:{photo}", "tilt", tilt, k)
                for name, (features, metric) in methods.items():
                    r = _score(pair, features, metric)
                    rows.setdefault(name, []).append((r["keypoints"], r["mma@3"]))
            print(photo, tilt, json.dumps({n: np.round(np.mean(v, 0), 2).tolist() for n, v in rows.items()}),
                  flush=True)


def octaves(args):
    model = _model(args)
    variants = {"1 octave": {"octaves": 1}, "octaves >= 192 px (default)": {},
                "octaves >= 96 px": {"min_octave_side": 96}}
    for size in ((240, 320), (480, 640)):
        rows = {}
        for kind, level in (("tilt", 0), ("tilt", 20), ("tilt", 40), ("tilt", 60), ("roll", 90)):
            for photo in VAL:
                for k in range(4):
                    pair = _pair(photo, kind, level, k, size)
                    for name, options in variants.items():
                        r = _score(pair, lambda im, o=options: lift_features(model, im, 500, **o))
                        rows.setdefault(name, {}).setdefault(f"{kind}{level}", []).append((r["mma@3"], r["correct@3"]))
        for name, levels in rows.items():
            print(f"{size[0]}x{size[1]}", name, json.dumps({lv: np.round(np.mean(v, 0), 3).tolist()
                                                            for lv, v in levels.items()}), flush=True)


# The levels where ORB leads on the held-out sweep (issue #22), scored by `keypoints` and `presmooth`.
PRECISION_LEVELS = (("tilt", 0), ("tilt", 10), ("tilt", 40), ("roll", 45))


def _opencv_methods() -> dict:
    return {"SIFT": (lambda im: opencv_features("SIFT", im, 500), "l2"),
            "ORB": (lambda im: opencv_features("ORB", im, 500), "hamming")}


def _photo_scores(photo, methods, size=(240, 320)) -> dict:
    """`{(method, "tilt0"...): [(MMA@3, correct@3, keypoints) per pair]}` on `photo`'s 4 validation pairs per
    level of `PRECISION_LEVELS`."""
    scores = {}
    for kind, level in PRECISION_LEVELS:
        for k in range(4):
            pair = _pair(photo, kind, level, k, size)
            for name, (features, metric) in methods.items():
                r = _score(pair, features, metric)
                scores.setdefault((name, f"{kind}{level}"), []).append((r["mma@3"], r["correct@3"], r["keypoints"]))
    return scores


def _level_means(scores, name, columns=3) -> str:
    """JSON `{level: [mean of the first `columns` numbers]}` of method `name` in `_photo_scores`-like `scores`."""
    return json.dumps({f"{kind}{level}": np.round(np.mean([r[:columns] for r in scores[name, f"{kind}{level}"]], 0),
                                                   3).tolist() for kind, level in PRECISION_LEVELS})


def keypoints(args):
    photos = VAL + opencv_doc_files(args.opencv_doc, OPENCV_DOC_VAL)
    model = _model(args)
    methods = _opencv_methods()
    variants = {"LIFT default": {}, "min_keypoints=50": {"min_keypoints": 50},
                "min_keypoints=100": {"min_keypoints": 100}, "low_threshold=0.2": {"low_threshold": 0.2},
                "min_contrast=8": {"min_contrast": 8.0}, "edge_ratio=5": {"edge_ratio": 5.0},
                "edge_ratio=7": {"edge_ratio": 7.0}}
    for name, options in variants.items():
        methods[name] = (lambda im, o=options: lift_features(model, im, 500, **o), "l2")
    everything = {}  # over all photographs
    for photo in photos:
        scores = _photo_scores(photo, methods)
        for name in methods:  # [MMA@3, correct@3, keypoints] per level
            print(os.path.basename(photo), name, _level_means(scores, name), flush=True)
        for key, rows in scores.items():
            everything.setdefault(key, []).extend(rows)
    for name in methods:  # [MMA@3, correct@3] per level, mean over all pairs
        print("mean", name, _level_means(everything, name, columns=2), flush=True)


def presmooth(args):
    _low_contrast_photos()
    model = _model(args)
    methods = _opencv_methods()
    for sigma in args.sigmas:
        for threshold in args.thresholds:
            methods[f"LIFT presmooth={sigma:g} threshold={threshold:g}"] = (
                lambda im, s=sigma, t=threshold: lift_features(model, im, 500, presmooth=s, scale_space_threshold=t),
                "l2")
    sets = {"wider validation, 240x320": (VAL + opencv_doc_files(args.opencv_doc, OPENCV_DOC_VAL), (240, 320)),
            "low-contrast validation, 240x320": (tuple(f"lowc:{p}" for p in VAL), (240, 320)),
            "validation, 480x640": (VAL, (480, 640))}
    for label, (photos, size) in sets.items():
        scores = {}  # over the set's photographs
        for photo in photos:
            for key, rows in _photo_scores(photo, methods, size).items():
                scores.setdefault(key, []).extend(rows)
        for name in methods:  # [MMA@3, correct@3, keypoints] per level, mean over the set's pairs
            print(label, "|", name, _level_means(scores, name), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("recipe", "lowc", "octaves", "keypoints", "presmooth"))
    parser.add_argument("--weights", help="evaluate these lift(grayscale=True, descriptor_size=16, width=...) weights")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier of LIFT's networks")
    parser.add_argument("--pairs", type=int, default=120)
    parser.add_argument("--desc-steps", type=int, default=2000)
    parser.add_argument("--ori-steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--positive-view", default="rectified", choices=("rectified", "view2"))
    parser.add_argument("--out", help="save the trained weights here")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow / OpenCV threads (0: default)")
    parser.add_argument("--opencv-doc", default=OPENCV_DOC, metavar="DIR",
                        help="OpenCV's sample data folder (`keypoints`: the extra validation photographs)")
    parser.add_argument("--sigmas", type=lambda v: [float(x) for x in v.split(",")], default=[0.0, 0.4, 0.6, 0.8, 1.0],
                        help="`presmooth`: comma-separated presmoothing sigmas (px) to score")
    parser.add_argument("--thresholds", type=lambda v: [float(x) for x in v.split(",")], default=[0.3],
                        help="`presmooth`: comma-separated scale-space thresholds, each scored with every sigma")
    parser.add_argument("--presmooth", type=float, default=None,
                        help="LIFT's presmoothing (px) in every mode but `presmooth` (default: the package's; the "
                             "recipe, lowc, octaves and keypoints tables in docs/matching.md were measured with 0)")
    args = parser.parse_args()
    if args.presmooth is not None:
        LIFT_OPTIONS["presmooth"] = args.presmooth
    set_threads(args.threads)
    {"recipe": recipe, "lowc": lowc, "octaves": octaves, "keypoints": keypoints, "presmooth": presmooth}[args.what](
        args)


if __name__ == "__main__":
    main()
