"""vras_keras demo, overview page: `vras demo` (`make run`, which first trains and exports the demo models
when `savedmodels/` has none) or `streamlit run apps/streamlit_app.py`.

Multipage app (Streamlit's `pages/` folder): one page per model family, the architecture explorer and the
loss-landscape viewer, in `apps/pages/`. Pages only lay out widgets: the logic is in `vras_keras.demo`
(exports, samples, explorer, landscapes; the shared widgets in `vras_keras.demo.widgets`) and the results
are tabulated and drawn by `vras_keras.export.present`. The export folder is `$VRAS_SAVEDMODELS` (default
`savedmodels/`).
"""

import streamlit as st

from vras_keras.demo import exports
from vras_keras.demo import widgets as ui


def body():
    ui.page_header("vras_keras demo", "Vision for Robotics and Autonomous Systems: the course's models, "
                   "exported to SavedModel / TFLite and run here.")
    found = exports.list_exports()
    if not found:
        st.info(exports.no_exports_message())
    else:
        st.subheader(f"Exports in `{exports.savedmodels_dir()}/`")
        st.dataframe([{"export": e.name, "version": e.version, "task": e.task, "model": e.meta.model or "",
                       "input": f"{e.meta.input_size[0]}×{e.meta.input_size[1]}",
                       "runtimes": ", ".join(r.label for r in e.runtimes)} for e in found],
                     hide_index=True, key=ui.RESULT_KEY)
    st.markdown("Pick a page in the sidebar: one per model family, the architecture explorer (receptive "
                "field and FLOPs of any registered model) and the loss-landscape viewer.")


ui.guarded(body)
