"""Method setup shared by the matching benchmarks (`lift_matching.py`, `matching_sweep.py`): LIFT, SIFT and ORB
detection + description as `(xy (K, 2) float64, descriptors)` and the matcher options of each method."""

from __future__ import annotations

import os

import cv2
import numpy as np

from vras_keras.models.matching.lift import detect_and_describe

# OpenCV's sample data as Debian's opencv-doc package installs it (real photographs, the Graffiti pair)
OPENCV_DOC = "/usr/share/doc/opencv-doc/examples/data"


def set_threads(threads: int | None) -> None:
    """Threads of OpenCV and TensorFlow (None or 0: each library's default, here one per core). Call it before
    TensorFlow runs anything (its thread pools are fixed at start-up)."""
    if not threads:
        return
    import tensorflow as tf

    cv2.setNumThreads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def opencv_doc_files(folder: str, names, hint: str = "") -> tuple[str, ...]:
    """Paths of `names` in OpenCV's sample data folder `folder`; exits naming the missing ones and how to get them
    (`hint`: the script's other way)."""
    paths = tuple(os.path.join(folder, name) for name in names)
    missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
    if missing:
        raise SystemExit(f"{folder}: {', '.join(missing)} not found. Debian's opencv-doc ships them: apt-get download "
                         "opencv-doc && dpkg -x opencv-doc_*.deb DIR, then pass DIR/usr/share/doc/opencv-doc/examples/"
                         f"data{hint}")
    return paths


def opencv_features(kind: str, image, max_keypoints: int):
    """OpenCV SIFT (`kind="SIFT"`) or ORB (`"ORB"`) on the gray level of an RGB uint8 image, at most
    `max_keypoints` keypoints: `(xy, descriptors)` (float32 128-D for SIFT, uint8 32-byte for ORB)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    detector = cv2.SIFT_create(nfeatures=max_keypoints) if kind == "SIFT" else cv2.ORB_create(nfeatures=max_keypoints)
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    xy = np.array([k.pt for k in keypoints], np.float64).reshape(-1, 2)
    if descriptors is None:
        descriptors = np.zeros((0, 128 if kind == "SIFT" else 32), np.float32 if kind == "SIFT" else np.uint8)
    return xy, descriptors


def lift_features(model, image, max_keypoints: int, selection: str = "scale_space", **kwargs):
    """`detect_and_describe` as `(xy, descriptors)`; `kwargs` are its further options."""
    features = detect_and_describe(model, image, max_keypoints=max_keypoints, selection=selection, **kwargs)
    return features.keypoints[:, :2].astype(np.float64), features.descriptors


def matchers(method: str, ratio: float | None = None) -> dict:
    """`{label: evaluate_pair options}`: mutual nearest neighbours (Hamming for ORB, L2 otherwise) and, with
    `ratio`, the same with Lowe's ratio test."""
    metric = "hamming" if method.startswith("ORB") else "l2"
    out = {"mutual NN": {"metric": metric}}
    if ratio:
        out[f"+ ratio {ratio:g}"] = {"metric": metric, "ratio": ratio}
    return out
