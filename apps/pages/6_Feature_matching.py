"""Feature matching: keypoints and descriptor matches between two images, or an image and a random warp."""

import numpy as np
import streamlit as st

from vras_keras import apps_support as support
from vras_keras import apps_ui as ui
from vras_keras.data.geometry import random_homography, warp_image
from vras_keras.metrics.matching import correct_matches, match_descriptors
from vras_keras.visualization.overlays import draw_matches


def body():
    ui.page_header("Feature matching", "Keypoints and descriptors of an exported detector/descriptor "
                   "(mutual nearest neighbours with a ratio test).")
    predictor = ui.choose_export("matching")
    if predictor is None:
        return
    size = predictor.input_size
    mode = st.radio("Pair", ("One image and a random warp of it", "Two images"), horizontal=True, key="mode")
    first = ui.choose_image("matching", size=size[0], key="first", label="First image")
    if first is None:
        return
    homography = None
    image_a = support.model_view(first[1], size)
    if mode == "Two images":
        second = ui.choose_image("matching", size=size[0], key="second", label="Second image")
        if second is None:
            return
        image_b = support.model_view(second[1], size)
    else:
        strength = st.slider("Warp strength", 0.0, 0.4, 0.15, 0.05, key="strength")
        seed = st.number_input("Warp seed", 0, 10_000, 0, key="seed")
        homography = random_homography(size, strength=strength, seed=int(seed))
        image_b = np.clip(np.round(warp_image(image_a, homography, size, border="reflect")[0]), 0, 255).astype(np.uint8)
    ratio = st.slider("Ratio test (nearest / second nearest distance ≤)", 0.5, 1.0, 0.9, 0.05, key="ratio")
    outputs = predictor.predict([image_a, image_b])
    kp_a, kp_b = outputs["keypoints"][0], outputs["keypoints"][1]
    matches, distances = match_descriptors(outputs["descriptors"][0], outputs["descriptors"][1],
                                           ratio=ratio if ratio < 1 else None)
    correct = None if homography is None else correct_matches(kp_a, kp_b, matches, homography)
    factor = support.display_scale(size)
    picture = draw_matches(support.upscale(image_a, factor), kp_a * factor, support.upscale(image_b, factor),
                           kp_b * factor, matches, inliers=correct)
    summary = f"{len(kp_a)} / {len(kp_b)} keypoints, {len(matches)} matches"
    if correct is not None and len(matches):
        summary += f", {correct.mean():.0%} correct under the known warp (3 px)"
    ui.show_image(picture, caption=summary)
    st.dataframe([{"a": int(i), "b": int(j), "distance": float(d)} for (i, j), d in zip(matches, distances)],
                 hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
