"""Pose: the predicted skeleton over the image."""

import streamlit as st

from vras_keras import apps_support as support
from vras_keras import apps_ui as ui


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
        ui.show_image(support.draw_pose_result(image, outputs, predictor.meta, threshold), caption=name)
    with right:
        st.dataframe(support.pose_rows(outputs, predictor.meta), hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
