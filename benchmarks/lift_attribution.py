"""Where LIFT loses to SIFT (issue #22): detector/orientation/descriptor swapped between the two.

On the viewpoint sweep's pairs (`data.pairs.viewpoint_pair`) of one split of photographs, MMA@1/3 (mutual NN)
for every combination of keypoints (SIFT's cv2 x, y, size, angle or LIFT's scale-space extrema with its
learned orientation) and descriptors (cv2 SIFT `compute` or LIFT's descriptor network):

- (a) SIFT keypoints + SIFT descriptors; (b) SIFT keypoints + LIFT descriptors (SIFT's angle, LIFT's crop);
  (b') SIFT keypoints + LIFT descriptors with LIFT's own orientation network;
- (c) LIFT keypoints + SIFT descriptors (cv2 SIFT compute at LIFT's x, y, DoG scale and angle);
- (d) LIFT keypoints + LIFT descriptors.

Also MMA@3 and keypoints per photograph for (a) and (d). A pair where a method finds no match counts MMA 0
(`evaluate_pair`).

Usage: python benchmarks/lift_attribution.py --weights benchmarks/results/lift_sweep16.weights.h5
       --descriptor-size 16 [--split val|eval] [--cap 500]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vras_keras import models  # noqa: E402
from vras_keras.data.images import to_rgb  # noqa: E402
from vras_keras.data.pairs import SPLITS, viewpoint_pair  # noqa: E402
from vras_keras.metrics.matching import evaluate_pair  # noqa: E402
from vras_keras.models.matching import lift as L  # noqa: E402
from vras_keras.ops.keypoints import oriented_patches  # noqa: E402


def sift_keypoints(image, cap):
    gray = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY)
    sift = cv2.SIFT_create(nfeatures=cap)
    kps, desc = sift.detectAndCompute(gray, None)
    return gray, list(kps), desc


def lift_desc_at(model, image, xy, angles):
    """LIFT descriptors at `xy` with given angles (radians, x towards y-down), fixed crop support."""
    _, _, descriptor, crop = L._parts(model)
    if len(xy) == 0:
        return np.zeros((0, descriptor.output_shape[-1]), np.float32)
    img = tf.convert_to_tensor(to_rgb(image).astype(np.float32)[None])
    patches = oriented_patches(img, tf.convert_to_tensor(xy[None], tf.float32),
                               tf.convert_to_tensor(angles[None], tf.float32), output_size=crop.output_size,
                               support=crop.support)[0]
    return descriptor(patches, training=False).numpy()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", default="benchmarks/results/lift_sweep16.weights.h5")
    p.add_argument("--descriptor-size", type=int, default=16)
    p.add_argument("--split", default="val")
    p.add_argument("--cap", type=int, default=500)
    p.add_argument("--per-photo", type=int, default=2)
    p.add_argument("--tilts", type=float, nargs="+", default=(0, 20, 40))
    p.add_argument("--sift-size", type=float, default=0.0, help="cv2 size for LIFT keypoints (0: 2 x DoG sigma)")
    args = p.parse_args()
    model = models.get("lift", grayscale=True, descriptor_size=args.descriptor_size)
    model.load_weights(args.weights)
    crop = L._parts(model)[3]
    extract = cv2.SIFT_create()
    rows, photo_rows = {}, {}
    for tilt in args.tilts:
        for photo in SPLITS[args.split]:
            for k in range(args.per_photo):
                pair = viewpoint_pair(photo, size=(240, 320), seed=k, tilt=tilt, roll=0.0)
                feats = {}
                for view in ("1", "2"):
                    image = pair["image" + view]
                    gray, kps, sdesc = sift_keypoints(image, args.cap)
                    sdesc = np.zeros((0, 128), np.float32) if sdesc is None else sdesc
                    sxy = np.array([kp.pt for kp in kps], np.float32).reshape(-1, 2)
                    sang = -np.deg2rad(np.array([kp.angle for kp in kps], np.float32))
                    f = L.detect_and_describe(model, image, max_keypoints=args.cap, reference_sigma=None)
                    lxy, lang = f.keypoints[:, :2], f.keypoints[:, 3]
                    # LIFT's DoG scale of each keypoint, from a second call keeping the scale index
                    sup = L.detect_and_describe(model, image, max_keypoints=args.cap, reference_sigma=1.0,
                                                scale_limits=(0, 1e9)).keypoints[:, 2] / crop.support
                    size = np.full(len(lxy), args.sift_size) if args.sift_size else 2.0 * sup
                    lkps = [cv2.KeyPoint(float(x), float(y), float(s), float(np.rad2deg(-a) % 360))
                            for (x, y), s, a in zip(lxy, size, lang)]
                    lkps2, ldesc_sift = extract.compute(gray, lkps)
                    assert len(lkps2) == len(lkps)
                    ldesc_sift = np.zeros((0, 128), np.float32) if ldesc_sift is None else ldesc_sift
                    _, b_desc = L.describe_keypoints(model, image, sxy)
                    feats[view] = {
                        "a SIFT kp + SIFT desc": (sxy, sdesc),
                        "b SIFT kp/angle + LIFT desc": (sxy, lift_desc_at(model, image, sxy, sang)),
                        "b' SIFT kp + LIFT ori + LIFT desc": (sxy, b_desc),
                        "c LIFT kp/angle + SIFT desc": (lxy, ldesc_sift),
                        "d LIFT kp + LIFT desc": (lxy, f.descriptors),
                    }
                for name in feats["1"]:
                    if feats["1"][name] is None:
                        continue
                    (x1, d1), (x2, d2) = feats["1"][name], feats["2"][name]
                    r = evaluate_pair(x1, d1, x2, d2, pair["homography"], shape_a=pair["image1"].shape,
                                      shape_b=pair["image2"].shape, valid_a=pair["valid1"], valid_b=pair["valid2"])
                    rows.setdefault((name, tilt), []).append([r["mma@1"], r["mma@3"], r["matches"],
                                                              r["repeatability"]])
                    photo_rows.setdefault((name, tilt, photo), []).append([r["mma@3"], r["keypoints"]])
    print(f"split {args.split} ({', '.join(SPLITS[args.split])}), cap {args.cap}, {args.per_photo} pairs/photo")
    print("| combination | " + " | ".join(f"MMA@1 / MMA@3 / matches / rep, {t:g}°" for t in args.tilts) + " |")
    names = sorted({n for n, _ in rows})
    for n in names:
        cells = []
        for t in args.tilts:
            m = np.mean(rows[(n, t)], axis=0)
            cells.append(f"{m[0]:.3f} / {m[1]:.3f} / {m[2]:.0f} / {m[3]:.2f}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    print()
    print("| photograph: MMA@3 (keypoints per view) | " + " | ".join(f"{m}, {t:g}°" for t in args.tilts
                                                                    for m in ("SIFT (a)", "LIFT (d)")) + " |")
    for photo in SPLITS[args.split]:
        cells = []
        for t in args.tilts:
            for n in ("a SIFT kp + SIFT desc", "d LIFT kp + LIFT desc"):
                m = np.mean(photo_rows[(n, t, photo)], axis=0)
                cells.append(f"{m[0]:.3f} ({m[1]:.1f})")
        print(f"| {photo} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
