"""vras_keras demo, overview page: `streamlit run apps/streamlit_app.py` (or `make run`, which first trains and
exports the demo models when `savedmodels/` has none).

Multipage app (Streamlit's `pages/` folder): one page per model family, the architecture explorer and the
loss-landscape viewer, in `apps/pages/`. Pages only lay out widgets: the logic is in
`vras_keras.apps_support`, the shared widgets in `vras_keras.apps_ui`. The export folder is
`$VRAS_SAVEDMODELS` (default `savedmodels/`).
"""

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
