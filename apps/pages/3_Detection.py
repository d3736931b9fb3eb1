"""Detection: boxes with labels and scores, a score threshold and instance masks (Mask R-CNN)."""

import streamlit as st

from vras_keras import apps_support as support
from vras_keras import apps_ui as ui


def body():
    ui.page_header("Detection", "Boxes (and masks) of an exported detector, after its built-in NMS.")
    chosen = ui.model_and_image("detection")
    if chosen is None:
        return
    predictor, name, image = chosen
    threshold = st.slider("Score threshold", 0.0, 1.0, 0.3, 0.05, key="threshold")
    outputs = predictor.predict(image)
    show_masks = st.toggle("Show masks", value=True, key="masks") if "masks" in outputs else False
    rows = support.detection_rows(outputs, predictor.meta, threshold)
    left, right = st.columns(2)
    with left:
        ui.show_image(support.draw_detection_result(image, outputs, predictor.meta, threshold, show_masks),
                      caption=f"{name}: {len(rows)} detection(s) ≥ {threshold:.2f}")
    with right:
        st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
