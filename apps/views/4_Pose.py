"""Pose: the predicted skeleton over the image."""

import streamlit as st

from vras_keras.demo import widgets as ui
from vras_keras.export import present


def body():
    ui.page_header("Pose", "Keypoints and skeleton of an exported pose model.")
    chosen = ui.model_and_image("pose")
    if chosen is None:
        return
    predictor, name, image = chosen
    threshold = st.slider("Confidence threshold", 0.0, 1.0, 0.0, 0.05, key="confidence")
    outputs = predictor.predict(image)
    left, right = st.columns(2)
    with left:
        ui.show_image(present.draw(image, outputs, predictor.meta, confidence_threshold=threshold), caption=name)
    with right:
        st.dataframe(present.rows(outputs, predictor.meta), hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
