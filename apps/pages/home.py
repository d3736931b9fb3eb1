"""Overview: what the demo shows and which exports it found."""

import streamlit as st

from vras_keras import apps_support as support
from vras_keras import apps_ui as ui


def body():
    ui.page_header("vras_keras demo", "Vision for Robotics and Autonomous Systems: the course's models, "
                   "exported to SavedModel / TFLite and run here.")
    exports = support.list_exports()
    if not exports:
        st.info(support.no_exports_message())
    else:
        st.subheader(f"Exports in `{support.savedmodels_dir()}/`")
        st.dataframe([{"export": e.name, "version": e.version, "task": e.task, "model": e.meta.model or "",
                       "input": f"{e.meta.input_size[0]}×{e.meta.input_size[1]}",
                       "runtimes": ", ".join(r.label for r in e.runtimes)} for e in exports],
                     hide_index=True, key=ui.RESULT_KEY)
    st.markdown("Pick a page in the sidebar: one per model family, the architecture explorer (receptive "
                "field and FLOPs of any registered model) and the loss-landscape viewer.")


ui.guarded(body)
