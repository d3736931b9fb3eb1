"""Classification: top-5 classes as a bar chart."""

import streamlit as st

from vras_keras.demo import widgets as ui
from vras_keras.export import present


def body():
    ui.page_header("Classification", "Top-5 classes of an exported classifier.")
    chosen = ui.model_and_image("classification")
    if chosen is None:
        return
    predictor, name, image = chosen
    outputs = predictor.predict(image)
    rows = present.rows(outputs, predictor.meta)
    left, right = st.columns(2)
    with left:
        ui.show_image(image, caption=name)
    with right:
        st.subheader(f"{rows[0]['label']} ({rows[0]['probability']:.1%})")
        ui.probability_chart(rows)
        st.dataframe(
            rows,
            hide_index=True,
            key=ui.RESULT_KEY,
            column_config={"probability": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)},
        )


ui.guarded(body)
