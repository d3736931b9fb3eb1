"""vras_keras demo: `streamlit run apps/streamlit_app.py` (or `make run`, which also trains the demo models).

Multipage app: one page per model family plus the architecture explorer and the loss-landscape viewer.
Pages live in `apps/pages/`; they only lay out widgets (logic: `vras_keras.apps_support`, widgets:
`vras_keras.apps_ui`). The export folder is `$VRAS_SAVEDMODELS` (default `savedmodels/`).
"""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="vras_keras demo", page_icon="🤖", layout="wide")
navigation = st.navigation({
    "": [st.Page(PAGES / "home.py", title="Overview", icon="🏠", default=True)],
    "Models": [
        st.Page(PAGES / "classification.py", title="Classification", icon="🏷️"),
        st.Page(PAGES / "segmentation.py", title="Segmentation", icon="🎨"),
        st.Page(PAGES / "detection.py", title="Detection", icon="📦"),
        st.Page(PAGES / "pose.py", title="Pose", icon="🕺"),
        st.Page(PAGES / "spatial_transformer.py", title="Spatial transformer", icon="🔀"),
        st.Page(PAGES / "matching.py", title="Feature matching", icon="🔗"),
    ],
    "Analysis": [
        st.Page(PAGES / "architecture.py", title="Architecture explorer", icon="🏗️"),
        st.Page(PAGES / "landscape.py", title="Loss landscape", icon="⛰️"),
    ],
})
navigation.run()
