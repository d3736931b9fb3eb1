"""Every recipe in configs/ validates; recipes whose family is merged train briefly end to end."""

from pathlib import Path

import pytest
import yaml

from tests.fixtures.pretrained import brief_stages, offline_imagenet_cache
from vras_keras.models import list_models
from vras_keras.models.registry import TASKS
from vras_keras.training.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
# The family each recipe belongs to (one recipe per family).
FAMILY = {"classification": "classification", "segmentation": "segmentation", "pose": "pose",
          "detection": "detection", "stn": "stn", "matching": "matching", "finetune": "classification"}


def test_one_recipe_per_family():  # plus finetune.yaml, the pretrained-classifier recipe
    assert sorted(p.stem for p in CONFIGS) == sorted(FAMILY)
    assert set(FAMILY.values()) == set(TASKS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_validates(path):
    raw = yaml.safe_load(path.read_text())
    model_id = raw["model"]["id"]
    family = FAMILY[path.stem]
    assert model_id in list_models(family), f"{path.name}: model {model_id!r} is not a registered {family} model"
    config = load_config(path)  # the id exists and every model.args key is a builder argument
    assert config.task == family
    assert config.workdir == f"runs/{path.stem}"


def _brief(path, tmp_path):
    """The recipe shrunk to seconds: few samples, one epoch, 2 steps."""
    return load_config(
        path,
        {
            **brief_stages(path),
            "epochs": 1,
            "steps_per_epoch": 2,
            "validation_steps": 1,
            "batch_per_replica": 4,
            "data.num_samples": 8,
            "data.val_samples": 4,
            "data.shuffle_buffer": 8,
            "callbacks.tensorboard": False,
            "schedule.warmup_epochs": 0,
            "workdir": str(tmp_path / path.stem),
        },
    )


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=() if p.stem == "classification" else pytest.mark.slow, id=p.stem) for p in CONFIGS])
def test_recipe_trains_briefly(path, tmp_path, monkeypatch):
    from vras_keras.training.trainer import train

    offline_imagenet_cache(path, tmp_path / "keras_home", monkeypatch)
    history = train(_brief(path, tmp_path), verbose=0)
    assert all(v == v for v in history.history["loss"])  # finite (not NaN)
    assert (tmp_path / path.stem / "vras_meta.json").exists()
