"""Segmentation: class map over the image with a legend, opacity slider and CRF refinement."""

import streamlit as st

from vras_keras.demo import widgets as ui
from vras_keras.export import present
from vras_keras.visualization.overlays import display_scale, upscale


def body():
    ui.page_header("Segmentation", "Per-pixel classes of an exported segmenter.")
    chosen = ui.model_and_image("segmentation")
    if chosen is None:
        return
    predictor, name, image = chosen
    meta = predictor.meta
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="opacity")
    if present.export_has_crf(meta):
        st.caption("This export has a ConvCRF head built in: its output is already CRF-refined.")
        use_crf = False
    else:
        use_crf = st.toggle("CRF refinement (ConvCRF, 5 mean-field steps on the exported probabilities)", key="crf")
    outputs = predictor.predict(image)
    class_map = present.segmentation_class_map(image, outputs, meta, crf=use_crf)
    left, right = st.columns(2)
    with left:
        ui.show_image(upscale(present.model_view(image, meta.input_size), display_scale(meta.input_size)),
                      caption=f"{name} (as the model sees it)")
    with right:
        ui.show_image(present.draw(image, outputs, meta, class_map=class_map, opacity=opacity),
                      caption="class map" + (" after CRF" if use_crf else ""))
    rows = present.rows(outputs, meta, class_map=class_map)
    if rows:
        st.markdown("  ".join(f"<span style='color:{r['colour']}'>■</span> {r['label']} ({r['fraction']:.1%})"
                              for r in rows), unsafe_allow_html=True)
    else:
        st.markdown("Only background found.")
    st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
