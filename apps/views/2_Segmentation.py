"""Segmentation: class map over the image with a legend, opacity slider and CRF refinement; the ConvCRF on
any photo from a colour-cluster unary (no model needed)."""

import numpy as np
import streamlit as st

from vras_keras.demo import playground
from vras_keras.demo import widgets as ui
from vras_keras.export import present
from vras_keras.visualization import overlays
from vras_keras.visualization.overlays import display_scale, upscale

CRF_SIDE = 160  # the CRF section works on images shrunk to this (5 mean-field steps in about a second)


def crf_section():
    st.subheader("ConvCRF on any image (no model needed)")
    st.caption("The unary here is **not a segmentation model**: each pixel's class probabilities come from its colour "
               "alone (distance to k colour clusters, k-means). The ConvCRF the segmenters use (Gaussian appearance + "
               "smoothness kernels, Potts compatibility, mean-field steps; `vras_keras.layers.ConvCRF`) then makes "
               "the labelling agree with its neighbours and the image's edges.")
    chosen = ui.choose_image("segmentation", size=CRF_SIDE, key="crf_image", label="Image")
    if chosen is None:
        return
    name, image = chosen
    image = playground.fit_side(image, CRF_SIDE)
    cols = st.columns(3)
    k = cols[0].slider("Colour clusters", 2, 8, 4, 1, key="crf_k")
    sigma = cols[1].slider("Unary colour σ (larger: less certain)", 10, 120, 50, 5, key="crf_sigma")
    iterations = cols[2].slider("Mean-field steps", 1, 10, 5, 1, key="crf_steps")
    probabilities = playground.colour_unary(image, playground.colour_clusters(image, k), sigma)
    before = np.argmax(probabilities, -1)
    after = np.argmax(present.crf_refine(image, probabilities, iterations=iterations), -1)
    colours = overlays.palette(k)
    left, right = st.columns(2)
    with left:
        ui.show_image(overlays.overlay_segmentation(image, before, num_classes=k, background=None, colours=colours,
                                                    opacity=0.6), caption=f"{name}: colour clusters (the unary)")
    with right:
        ui.show_image(overlays.overlay_segmentation(image, after, num_classes=k, background=None, colours=colours,
                                                    opacity=0.6), caption=f"after the ConvCRF ({iterations} steps)")
    st.markdown(f"The CRF changed **{np.mean(before != after):.1%}** of the {before.size} pixels "
                f"({image.shape[1]}×{image.shape[0]}).")


def model_section():
    st.subheader("An exported segmenter")
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


def body():
    ui.page_header("Segmentation", "Per-pixel classes of an exported segmenter, and the ConvCRF on any image.")
    model_section()
    crf_section()


ui.guarded(body)
