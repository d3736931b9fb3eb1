"""Home page: what each page shows, which model it serves and that model's state (ready with its measured
quality, or queued / training / exporting / failed in the background trainer)."""

import streamlit as st

from vras_keras.demo import exports
from vras_keras.demo import widgets as ui


def body():
    ui.page_header("vras_keras demo", "Vision for Robotics and Autonomous Systems: the course's models, "
                   "exported to SavedModel / TFLite and run here.")
    rows = ui.home_rows()
    st.markdown("Each page runs an exported model on sample images or on your own. Models marked *training* "
                "are being trained and exported in the background (`make run`); their page goes live by itself "
                "when they are ready. The tools need no trained model.")
    st.dataframe(rows, hide_index=True, key=ui.RESULT_KEY, width="stretch",
                 column_config={"page": st.column_config.TextColumn(width="small"),
                                "shows": st.column_config.TextColumn(width="large"),
                                "model": st.column_config.TextColumn(width="large")})
    found = exports.list_exports()
    if found:
        with st.expander(f"Every export in `{exports.savedmodels_dir()}/` ({len(found)})"):
            st.dataframe([{"export": e.name, "version": e.version, "task": e.task, "model": e.meta.model or "",
                           "input": f"{e.meta.input_size[0]}×{e.meta.input_size[1]}",
                           "runtimes": ", ".join(r.label for r in e.runtimes)} for e in found], hide_index=True)
    ui.refresh_while_training()


ui.guarded(body)
