"""Spatial transformer: the input next to what the transformer makes of it."""

import streamlit as st

from vras_keras.demo import widgets as ui
from vras_keras.export import present


def body():
    ui.page_header("Spatial transformer", "Input next to the image the spatial transformer produces.")
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
    st.dataframe(present.rows(outputs, predictor.meta), hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
