"""Feature matching: keypoints and descriptor matches between two images, or an image and a random warp."""

import numpy as np
import streamlit as st

from vras_keras.data.geometry import random_homography, warp_image
from vras_keras.demo import widgets as ui
from vras_keras.export import present
from vras_keras.metrics.matching import correct_matches, match_descriptors


def body():
    ui.page_header("Feature matching", "Keypoints and descriptors of an exported detector/descriptor "
                   "(mutual nearest neighbours with a ratio test).")
    predictor = ui.choose_export("matching")
    if predictor is None:
        return
    meta, size = predictor.meta, predictor.input_size
    mode = st.radio("Pair", ("One image and a random warp of it", "Two images"), horizontal=True, key="mode")
    first = ui.choose_image("matching", size=size[0], key="first", label="First image")
    if first is None:
        return
    homography = None
    image_a = present.model_view(first[1], size)
    if mode == "Two images":
        second = ui.choose_image("matching", size=size[0], key="second", label="Second image")
        if second is None:
            return
        image_b = present.model_view(second[1], size)
    else:
        strength = st.slider("Warp strength", 0.0, 0.4, 0.15, 0.05, key="strength")
        seed = st.number_input("Warp seed", 0, 10_000, 0, key="seed")
        homography = random_homography(size, strength=strength, seed=int(seed))
        image_b = np.clip(np.round(warp_image(image_a, homography, size, border="reflect")[0]), 0, 255).astype(np.uint8)
    ratio = st.slider("Ratio test (nearest / second nearest distance ≤)", 0.5, 1.0, 0.9, 0.05, key="ratio")
    outputs = predictor.predict([image_a, image_b])
    matches, distances = match_descriptors(outputs["descriptors"][0], outputs["descriptors"][1],
                                           ratio=ratio if ratio < 1 else None)
    correct = None if homography is None else correct_matches(outputs["keypoints"][0], outputs["keypoints"][1],
                                                               matches, homography)
    ui.show_image(present.draw_pair(image_a, image_b, outputs, meta, matches, correct=correct),
                  caption=present.pair_summary(outputs, matches, correct))
    st.dataframe(present.pair_rows(matches, distances), hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
