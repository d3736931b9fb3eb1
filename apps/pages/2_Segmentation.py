"""Segmentation: class map over the image with a legend, opacity slider and CRF refinement."""

import numpy as np
import streamlit as st

from vras_keras import apps_support as support
from vras_keras import apps_ui as ui


def body():
    ui.page_header("Segmentation", "Per-pixel classes of an exported segmenter.")
    chosen = ui.model_and_image("segmentation")
    if chosen is None:
        return
    predictor, name, image = chosen
    meta = predictor.meta
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
    if support.export_has_crf(meta):
        st.caption("This export has a ConvCRF head built in: its output is already CRF-refined.")
        use_crf = False
    elif support.crf_available():
        use_crf = st.toggle("CRF refinement (ConvCRF, 5 mean-field steps on the exported probabilities)", key="crf")
    else:
        st.caption("CRF refinement needs `vras_keras.layers.conv_crf` (segmentation family), not in this checkout.")
        use_crf = False
    outputs = predictor.predict(image)
    class_map = outputs["class_map"][0]
    if use_crf:
        refined = support.crf_refine(support.model_view(image, meta.input_size), outputs["probabilities"][0])
        class_map = np.argmax(refined, axis=-1)
    left, right = st.columns(2)
    with left:
        ui.show_image(support.upscale(support.model_view(image, meta.input_size), support.display_scale(meta.input_size)),
                      caption=f"{name} (as the model sees it)")
    with right:
        ui.show_image(support.draw_segmentation_result(image, class_map, meta, opacity),
                      caption="class map" + (" after CRF" if use_crf else ""))
    rows = support.segmentation_legend(class_map, meta)
    if rows:
        st.markdown("  ".join(f"<span style='color:{r['colour']}'>■</span> {r['label']} ({r['fraction']:.1%})"
                              for r in rows), unsafe_allow_html=True)
    else:
        st.markdown("Only background found.")
    st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
