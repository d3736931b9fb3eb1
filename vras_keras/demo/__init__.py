"""The demo wing: everything behind `vras demo` / `make run` and the Streamlit pages in `apps/`.

| module        | what it does                                                                              |
|---------------|-------------------------------------------------------------------------------------------|
| `launcher`    | where the app, the recipes and the Streamlit settings are (checkout or installed package); |
|               | the `streamlit run` command with those settings; start it and wait until it answers        |
| `recipes`     | the demo recipes (`configs/TASK.yaml`): plan, train, export (SavedModel, then TFLite), landscape |
| `background`  | the trainer process `vras demo` starts for the missing families, one at a time             |
| `status`      | `RUNS/status.json`: each family's state (queued / training / exporting / ready / failed)    |
| `playground`  | model-free op demos for the pages (the spatial transformer's sampler on any image)         |
| `exports`     | find the exports in `savedmodels/` (`$VRAS_SAVEDMODELS`), their runtimes; load one         |
| `samples`     | sample inputs per task (synthetic renders, scikit-image photos)                            |
| `explorer`    | the architecture explorer: registry listing, `analysis.summary` tables and plots           |
| `landscapes`  | loss-landscape files: find, read, plot, summarise                                          |
| `widgets`     | the Streamlit widgets the pages share (the only module here that imports streamlit)        |

Results are tabulated and drawn by `vras_keras.export.present`, the renderer `vras predict` uses too.
Only this package and `apps/` import streamlit (an optional dependency: `pip install vras_keras[demo]`);
importing `vras_keras.demo` itself imports nothing.
"""
