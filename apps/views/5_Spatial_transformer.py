"""Spatial transformer: the sampler on any image (no model needed), then an exported STN classifier's input
next to what its transformer makes of it."""

import streamlit as st

from vras_keras.demo import playground
from vras_keras.demo import widgets as ui
from vras_keras.export import present


def sampler_section():
    st.subheader("The sampler on any image (no model needed)")
    st.caption("affine_grid + grid_sample (vras_keras.ops.sampling, PyTorch semantics): what a spatial transformer "
               "does with the θ its localisation network predicts.")
    chosen = ui.choose_image("stn_sampler", size=128, key="sampler", label="Image")
    if chosen is None:
        return
    name, image = chosen
    cols = st.columns(4)
    angle = cols[0].slider("Rotation (°)", -180, 180, 30, 5, key="angle")
    scale = cols[1].slider("Zoom", 0.5, 3.0, 1.5, 0.1, key="zoom")
    tx = cols[2].slider("Shift x", -1.0, 1.0, 0.0, 0.05, key="tx")
    ty = cols[3].slider("Shift y", -1.0, 1.0, 0.0, 0.05, key="ty")
    theta = playground.affine_theta(angle, scale, tx, ty)
    left, right = st.columns(2)
    with left:
        ui.show_image(image, caption=name)
    with right:
        ui.show_image(playground.spatial_transform(image, theta, padding_mode="zeros"),
                      caption="θ = " + " ".join(f"{v:+.2f}" for v in theta.ravel()))


def model_section():
    st.subheader("An exported STN classifier")
    chosen = ui.model_and_image("stn")
    if chosen is None:
        return
    predictor, name, image = chosen
    outputs = predictor.predict(image)
    if "transformed_image" not in outputs:
        st.warning("This export has no spatial transformer (a baseline classifier): only its classes are shown.")
    else:
        view, transformed = present.stn_views(image, outputs, predictor.meta)
        left, right = st.columns(2)
        with left:
            ui.show_image(view, caption=f"{name} (as the model sees it)")
        with right:
            ui.show_image(transformed, caption="transformed by the STN")
    rows = present.rows(outputs, predictor.meta)
    ui.probability_chart(rows)
    st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY)


def body():
    ui.page_header("Spatial transformer", "The sampler on any image, and a trained STN classifier on distorted digits.")
    model_section()
    sampler_section()


ui.guarded(body)
