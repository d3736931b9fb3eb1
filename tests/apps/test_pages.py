"""Every page of the Streamlit demo through `streamlit.testing.v1.AppTest`, against the exports of the demo's
own training path (`recipes.prepare(quick=True)`: real trained models, tiny settings)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

# The first test to use the `demo_run` fixture pays for the demo's whole training path (every family, tiny
# settings; measured 21 min with ~8 jobs sharing 2 cores, load ~17; not yet timed on an idle machine).
pytestmark = pytest.mark.timeout(1800)


ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "apps" / "views"
TIMEOUT = 120


@pytest.fixture
def app_env(monkeypatch, demo_run, landscape_dir):
    monkeypatch.setenv("VRAS_SAVEDMODELS", demo_run["savedmodels"])
    monkeypatch.setenv("VRAS_DEMO_RUNS", demo_run["runs"])
    monkeypatch.setenv("VRAS_LANDSCAPES", str(landscape_dir))
    return demo_run["savedmodels"]


def run_page(name: str) -> AppTest:
    path = ROOT / "apps" / "home.py" if name == "home" else PAGES / f"{name}.py"
    at = AppTest.from_file(str(path), default_timeout=TIMEOUT)
    return at.run()


def assert_clean(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def result_table(at: AppTest):
    tables = [d for d in at.dataframe if d.proto.id and "result" in d.proto.id] or list(at.dataframe)
    assert tables, "the page shows no result table"
    return tables[-1].value


def images(at: AppTest) -> list:
    return list(at.get("image"))


def test_views_folder_holds_every_page_and_there_is_no_pages_folder():
    # a `pages/` folder beside streamlit_app.py makes Streamlit list its files ("streamlit app", ...) in the
    # sidebar on the first load, before st.navigation replaces that list: the pages are in views/ instead
    assert not list((ROOT / "apps" / "pages").glob("*.py"))
    pages = sorted(p.stem for p in PAGES.glob("*.py"))
    assert pages == ["1_Classification", "2_Segmentation", "3_Detection", "4_Pose", "5_Spatial_transformer",
                     "6_Feature_matching", "7_Architecture_explorer", "8_Loss_landscape"]
    for page in [*PAGES.glob("*.py"), ROOT / "apps" / "streamlit_app.py", ROOT / "apps" / "home.py"]:  # thin, guarded
        text = page.read_text()
        assert "ui.guarded(body)" in text and "import tensorflow" not in text and "import keras" not in text
        assert "vras_keras.apps_" not in text  # the demo's logic is in vras_keras.demo and vras_keras.export.present


def test_home_lists_every_page_and_its_model(app_env):
    at = run_page("home")
    assert_clean(at)
    table = at.dataframe[0].value  # the pages; every export follows in an expander
    assert sorted(at.dataframe[1].value["export"]) == [f"demo_{t}" for t in sorted(
        ["classification", "segmentation", "detection", "pose", "stn", "matching"])]
    assert list(table["page"]) == ["Classification", "Segmentation", "Detection", "Pose", "Spatial transformer",
                                   "Feature matching", "Architecture explorer", "Loss landscape"]
    for model in list(table["model"])[:6]:
        assert model.startswith("ready: demo_") and "measured on" in model, model
    assert "ShapesWorld" in table["model"][0] and "scikit-image photographs" in table["model"][5]


def test_navigation_titles_every_page():
    at = AppTest.from_file(str(ROOT / "apps" / "streamlit_app.py"), default_timeout=TIMEOUT)
    source = (ROOT / "apps" / "streamlit_app.py").read_text()
    assert "st.navigation" in source and 'title="Home"' in source
    from vras_keras.demo.widgets import PAGES as NAV

    assert [p for p, _, _ in NAV] == sorted(p.name for p in PAGES.glob("*.py"))
    assert at is not None


def test_classification_top5_bar_chart_and_tflite(app_env):
    at = run_page("1_Classification")
    assert_clean(at)
    table = result_table(at)
    assert len(table) == 5
    assert list(table["probability"]) == sorted(table["probability"], reverse=True)
    assert at.get("vega_lite_chart"), "no bar chart"
    assert images(at)
    at.sidebar.radio(key="classification_runtime").set_value(1).run()  # TFLite (float32)
    assert_clean(at)
    assert len(result_table(at)) == 5
    at.selectbox(key="image_sample").set_value("photo: coffee").run()
    assert_clean(at)
    assert len(result_table(at)) == 5


def test_segmentation_overlay_legend_opacity_crf(app_env):
    at = run_page("2_Segmentation")
    assert_clean(at)
    legend = result_table(at)
    assert set(legend.columns) >= {"label", "colour", "fraction"}
    assert len(images(at)) == 4  # the model's input and class map, then the model-free CRF section's two
    at.slider(key="opacity").set_value(1.0).run()
    assert_clean(at)
    at.toggle(key="crf").set_value(True).run()
    assert_clean(at)
    assert any("after CRF" in str(i.proto) for i in images(at))


def test_detection_boxes_threshold(app_env):
    at = run_page("3_Detection")
    assert_clean(at)
    at.slider(key="threshold").set_value(0.0).run()
    assert_clean(at)
    everything = len(result_table(at))
    at.slider(key="threshold").set_value(1.0).run()
    assert_clean(at)
    assert len(result_table(at)) == 0 <= everything
    assert any("detection(s) ≥ 1.00" in str(i.proto) for i in images(at))


def test_pose_skeleton(app_env):
    at = run_page("4_Pose")
    assert_clean(at)
    table = result_table(at)
    assert len(table) == 15 and "left_wrist" in list(table["joint"])
    assert images(at)


def test_spatial_transformer_side_by_side_and_the_sampler(app_env):
    at = run_page("5_Spatial_transformer")
    assert_clean(at)
    assert len(images(at)) == 4  # the model's view and its transform, then the sampler's input and output
    assert len(result_table(at)) == 5
    at.slider(key="angle").set_value(90).run()
    assert_clean(at)
    assert any("θ = +0.00 -0.67" in str(i.proto) for i in images(at))  # zoom 1.5, 90°


def test_photo_on_a_synthetic_model_says_so(app_env):
    at = run_page("1_Classification")
    assert_clean(at)
    assert not at.warning
    at.selectbox(key="image_sample").set_value("photo: chelsea").run()
    assert_clean(at)
    (warning,) = at.warning
    assert "trained on ShapesWorld" in warning.value and "means little" in warning.value
    assert any("measured on" in c.value for c in at.caption)


def test_matching_warp_and_two_images(app_env):
    at = run_page("6_Feature_matching")
    assert_clean(at)
    assert images(at)
    assert any("correct under the known warp" in str(i.proto) for i in images(at)) or len(result_table(at)) == 0
    at.radio(key="mode").set_value("Two images").run()
    assert_clean(at)
    at.selectbox(key="second_sample").set_value("photo: coffee").run()
    assert_clean(at)
    assert images(at)


def test_architecture_explorer(app_env):
    at = run_page("7_Architecture_explorer")
    assert_clean(at)
    at.selectbox(key="task").set_value("classification").run()
    at.selectbox(key="model").set_value("resnet18").run()
    at.select_slider(key="size").set_value(32).run()
    assert_clean(at)
    table = result_table(at)
    assert table["layer"].iloc[-1] == "TOTAL"
    assert table["params"].iloc[-1] > 1_000_000
    assert {m.label for m in at.metric} >= {"Parameters", "FLOPs"}
    assert images(at), "no receptive-field / FLOPs plot"


def test_architecture_explorer_model_too_small_for_the_input(app_env):
    at = run_page("7_Architecture_explorer")
    at.selectbox(key="model").set_value("resnet18").run()
    assert_clean(at)
    assert at.selectbox(key="model").value == "resnet18" and at.select_slider(key="size").value == 224
    at.selectbox(key="model").set_value("alexnet").run()  # 11x11/4 conv + 3 poolings: too deep for 32 px
    at.select_slider(key="size").set_value(32).run()
    assert_clean(at)
    (warning,) = at.warning
    assert warning.value.startswith("alexnet cannot be built at 32×32: ") and "\x1b" not in warning.value


def test_landscape_viewer(app_env):
    at = run_page("8_Loss_landscape")
    assert_clean(at)
    assert len(images(at)) == 2  # contour and surface
    stats = result_table(at)
    assert stats["min loss"].iloc[0] == pytest.approx(0.1)


@pytest.mark.parametrize("page,task", [("1_Classification", "classification"), ("2_Segmentation", "segmentation"),
                                       ("3_Detection", "detection"), ("4_Pose", "pose"),
                                       ("5_Spatial_transformer", "stn"), ("6_Feature_matching", "matching")])
def test_pages_without_exports_say_what_to_run(monkeypatch, tmp_path, page, task):
    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "empty"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "runs"))
    at = run_page(page)
    assert_clean(at)
    text = " ".join(i.value for i in at.info)
    assert "make run" in text and "vras export" in text and "vras train --config configs/" in text
    assert len(images(at)) == (2 if task in ("stn", "segmentation") else 0)  # the sampler and the CRF need no model


@pytest.mark.parametrize("state,expected", [
    ({"state": "queued", "position": 2}, "queued (1 model(s) before it)"),
    ({"state": "training", "epoch": 2, "epochs": 5, "step": 10, "steps": 40, "eta_s": 75, "fraction": 0.3},
     "training: epoch 2 of 5, step 10 of 40, about 1 min 15 s left"),
    ({"state": "exporting"}, "exporting the SavedModel"),
    ({"state": "failed", "reason": "ValueError: bad"}, "failed: ValueError: bad"),
])
def test_pages_show_the_background_trainers_state(monkeypatch, tmp_path, state, expected):
    """While the background trainer works on a family, its page says where it is (and polls for the export)."""
    import json
    import os

    monkeypatch.setenv("VRAS_SAVEDMODELS", str(tmp_path / "empty"))
    monkeypatch.setenv("VRAS_DEMO_RUNS", str(tmp_path / "runs"))
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "status.json").write_text(json.dumps(
        {"pid": os.getpid(), "order": ["detection"], "families": {"detection": state}}))
    at = run_page("3_Detection")
    assert not at.exception
    shown = " ".join([m.value for m in at.markdown] + [e.value for e in at.error])
    assert expected in shown, shown
    home = run_page("home")
    assert expected in list(home.dataframe[0].value["model"])[2]
