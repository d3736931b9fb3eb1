"""Loss-landscape viewer: contour and surface plots of a saved landscape (`vras landscape`)."""

from pathlib import Path

import streamlit as st

from vras_keras.demo import landscapes, status
from vras_keras.demo import widgets as ui
from vras_keras.visualization.figures import figure_png


def body():
    ui.page_header("Loss landscape", "Filter-normalised random directions around the trained weights "
                   "(Li et al. 2018); files written by `vras landscape --out DIR`, or the demo classifier's "
                   "(made by the background trainer after it).")
    if status.describe_landscape(ui.family_status("classification")):
        @st.fragment(run_every=ui.REFRESH_SECONDS)
        def scan():
            line = status.describe_landscape(ui.family_status("classification"))
            if not line:
                st.rerun()  # done: its file is in the list now
            st.info(f"The demo classifier is {line}; it appears in the list below when done.")

        scan()
    files = landscapes.list_landscapes()
    options = [str(p) for p in files] + ["Upload a .npz file"]
    choice = st.selectbox("Landscape file", options, key="file")
    if choice == options[-1]:
        upload = st.file_uploader("landscape.npz", type=None, key="upload")
        if upload is None:
            if not files:
                st.info(
                    "No landscape file found under `runs/` (or `$VRAS_LANDSCAPES`). Make one with\n\n"
                    "```bash\nvras landscape --model resnet_cifar --weights runs/classification/checkpoints/best.keras "
                    "--out runs/landscape\n```"
                )
            return
        source, title = ui.upload_bytes(upload), upload.name
        if source is None:
            return
    else:
        source, title = choice, choice
        if Path(choice) == landscapes.SHIPPED_LANDSCAPE:
            st.info(f"The landscape {landscapes.SHIPPED_ABOUT}. The demo classifier's own appears here once the "
                    "background trainer has made it.")
    try:
        result = landscapes.read_landscape(source, name=title)
    except (ValueError, FileNotFoundError) as error:
        st.warning(str(error))
        return
    figures = [figure_png(f) for f in landscapes.landscape_figures(result, title="loss landscape")]
    columns = st.columns(len(figures))
    for column, picture in zip(columns, figures):
        column.image(picture, width="stretch")
    stats = landscapes.landscape_stats(result)
    cells = st.columns(len(stats))
    for cell, (label, value) in zip(cells, stats.items()):
        cell.metric(label, value if isinstance(value, str) else f"{value:.4g}")
    st.dataframe([stats], hide_index=True, key=ui.RESULT_KEY)
    st.caption(title)


ui.guarded(body)
