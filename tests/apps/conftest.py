import json
import os
from pathlib import Path

import pytest

from tests.fixtures.demo_exports import tiny_exports_cached, trained_demo_exports_cached


@pytest.fixture(autouse=True)
def _no_user_runs(monkeypatch, tmp_path_factory):
    """The pages also offer `vras train` runs from `./runs` (`$VRAS_RUNS`): none of the checkout's leak into the
    tests (a test that wants runs sets the variable itself)."""
    monkeypatch.setenv("VRAS_RUNS", str(tmp_path_factory.getbasetemp() / "no_user_runs"))


def _shared_base(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, common to all workers
    return base


@pytest.fixture(scope="session")
def tiny_savedmodels(tmp_path_factory):
    """A savedmodels/ folder with one tiny untrained export per task (shared by the xdist workers of a run)."""
    return tiny_exports_cached(str(_shared_base(tmp_path_factory) / "vras_tiny_exports"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo's own path (`recipes.prepare(quick=True)`) run once for every family: `{"savedmodels", "runs",
    "outcomes"}`. The page tests serve these real trained exports."""
    # $VRAS_TEST_DEMO_CACHE (a folder) keeps them between pytest runs while working on the demo
    cache = Path(os.environ.get("VRAS_TEST_DEMO_CACHE") or _shared_base(tmp_path_factory) / "vras_demo_exports")
    savedmodels, runs = trained_demo_exports_cached(str(cache))
    return {"savedmodels": savedmodels, "runs": runs,
            "outcomes": json.loads((Path(cache) / "outcomes.json").read_text())}


@pytest.fixture(scope="session")
def demo_savedmodels(demo_run):
    return demo_run["savedmodels"]


@pytest.fixture(scope="session")
def landscape_dir(tmp_path_factory):
    """A folder holding a small saved 2-D landscape (`landscape.npz`, as `vras landscape` writes)."""
    import numpy as np

    from vras_keras.analysis import landscape

    out = tmp_path_factory.mktemp("landscape")
    a = np.linspace(-1, 1, 9)
    losses = (a[:, None] ** 2 + 0.5 * a[None] ** 2 + 0.1).astype(np.float32)
    np.savez(out / "landscape.npz", alphas=a, betas=a, losses=losses)
    assert landscape.load(out / "landscape.npz").ndim == 2
    return out
