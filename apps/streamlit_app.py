"""vras_keras demo: the entry point of `vras demo` (`make run`), which serves it at once and trains the missing
demo models in the background.

The navigation (`st.navigation`): the home page (`home.py`: what each page shows and the state of its
model), one page per model family, the architecture explorer and the loss-landscape viewer (`views/`: not `pages/`,
which Streamlit would list by itself in the sidebar on the first load before this navigation replaces it).
Pages only lay out widgets: the logic is in `vras_keras.demo` (exports, samples, status, explorer,
landscapes; the shared widgets in `vras_keras.demo.widgets`) and the results are tabulated and drawn by
`vras_keras.export.present`. The export folder is `$VRAS_SAVEDMODELS` (default `savedmodels/`).
"""

from pathlib import Path

import streamlit as st

from vras_keras.demo import widgets as ui

HERE = Path(__file__).resolve().parent


def body():
    pages = [st.Page(str(HERE / "home.py"), title="Home", icon="🏠", url_path="home", default=True)]
    for path, title, icon in ui.PAGES:
        pages.append(
            st.Page(str(HERE / "views" / path), title=title, icon=icon, url_path=Path(path).stem.split("_", 1)[1])
        )
    st.navigation({"vras_keras demo": pages[:1], "Models": pages[1:7], "Tools": pages[7:]}).run()


ui.guarded(body)
