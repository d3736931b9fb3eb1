"""Detection: boxes with labels and scores, a score threshold and instance masks (Mask R-CNN)."""

import streamlit as st

from vras_keras.demo import widgets as ui
from vras_keras.export import present


def body():
    ui.page_header("Detection", "Boxes (and masks) of an exported detector, after its built-in NMS.")
    chosen = ui.model_and_image("detection")
    if chosen is None:
        return
    predictor, name, image = chosen
    threshold = st.slider("Score threshold", 0.0, 1.0, 0.3, 0.05, key="threshold")
    outputs = predictor.predict(image)
    show_masks = st.toggle("Show masks", value=True, key="masks") if "masks" in outputs else False
    rows = present.rows(outputs, predictor.meta, score_threshold=threshold)
    left, right = st.columns(2)
    with left:
        ui.show_image(present.draw(image, outputs, predictor.meta, score_threshold=threshold, show_masks=show_masks),
                      caption=f"{name}: {len(rows)} detection(s) ≥ {threshold:.2f}")
    with right:
        st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
