"""Architecture explorer: any registered model at any input size -> the analyser's table and plots."""

import streamlit as st

from vras_keras.demo import explorer
from vras_keras.demo import widgets as ui
from vras_keras.visualization.figures import figure_png


@st.cache_data(show_spinner="Building and analysing the model…", max_entries=16)
def _analyse(model_id: str, size: int):
    result = explorer.analyse_architecture(model_id, size)
    return result, explorer.summary_rows(result), result.totals(), figure_png(explorer.plot_architecture(result))


def body():
    ui.page_header("Architecture explorer", "Output shape, parameters, receptive field and FLOPs of every "
                   "layer (vras_keras.analysis.summary).")
    by_task = explorer.registered_models()
    if not by_task:
        st.info("No model is registered in this installation.")
        return
    task = st.selectbox("Family", list(by_task), key="task")
    ids = by_task[task]
    default = next((ids.index(m) for m in explorer.EXPLORER_DEFAULTS if m in ids), 0)
    model_id = st.selectbox("Model", ids, index=default, key="model")
    size = st.select_slider("Input size (square)", options=[32, 48, 64, 96, 128, 160, 224, 256, 320, 416, 512],
                            value=224, key="size")
    try:
        result, rows, totals, plot = _analyse(model_id, size)
    except ValueError as error:
        st.warning(f"{model_id} cannot be built at {size}×{size}: {ui.short_error(error)}")
        return
    columns = st.columns(4)
    columns[0].metric("Parameters", explorer.format_count(totals["params"]))
    columns[1].metric("Trainable", explorer.format_count(totals["trainable_params"]))
    columns[2].metric("FLOPs", explorer.format_count(totals["flops"]))
    columns[3].metric("Conv + dense MACs", explorer.format_count(totals["conv_dense_macs"]))
    last_rf = next((r["receptive field"] for r in reversed(rows) if r["receptive field"]), "")
    st.caption(f"{len(rows)} layer calls; receptive field of the last spatial layer: {last_rf or 'n/a'} px")
    st.image(plot, width="stretch")
    st.dataframe(rows + [{"layer": "TOTAL", "type": "", "output shape": "", "params": totals["params"],
                          "receptive field": "", "jump": "", "FLOPs": totals["flops"]}],
                 hide_index=True, key=ui.RESULT_KEY)


ui.guarded(body)
