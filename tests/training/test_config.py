"""TrainConfig: every kind of bad recipe is rejected before training with the key path and allowed values."""

import re

import pytest
import yaml

from tests.fixtures.training import TINY_ID, recipe, write_recipe
from vras_keras.training.config import TrainConfig, apply_overrides, load_config


def _error(raw) -> str:
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict(raw)
    return str(info.value)


def test_valid_recipe_loads_with_defaults_and_task_from_registry(tmp_path):
    path = write_recipe(tmp_path / "tiny.yaml", data={"task": None})
    config = load_config(path)
    assert config.model.id == TINY_ID
    assert config.task == "classification"  # from the registry entry
    assert config.optimizer.name == "sgd" and config.optimizer.learning_rate == 0.05
    assert config.schedule.name == "constant" and config.callbacks.backup is True
    assert config.workdir == "runs/tiny"  # default workdir from the file name
    assert config.precision == "fp32" and config.mixed_precision_policy is None


def test_former_mixed_precision_key_reads_as_precision(tmp_path):
    for legacy, expected in (("bf16", "bf16"), ("fp16", "fp16"), (None, "fp32")):
        config = TrainConfig.from_dict(recipe(mixed_precision=legacy))
        assert config.precision == expected
        assert "mixed_precision" not in config.to_dict()
    assert TrainConfig.from_dict(recipe(precision="fp16")).mixed_precision_policy == "mixed_float16"


def test_cli_overrides_are_validated_like_the_file(tmp_path):
    path = write_recipe(tmp_path / "r.yaml")
    config = load_config(path, {"epochs": 7, "precision": "bf16", "jit": True, "seed": 3,
                                "strategy": "mirrored", "cpu_replicas": 2, "workdir": str(tmp_path / "w")})
    assert (config.epochs, config.seed, config.jit, config.cpu_replicas) == (7, 3, True, 2)
    assert config.mixed_precision_policy == "mixed_bfloat16"
    with pytest.raises(ValueError, match=r"epochs: received 0; expected a number > 0"):
        load_config(path, {"epochs": 0})
    assert apply_overrides({"a": {"b": 1}}, {"a.c": 2, "d": None}) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    "change, pattern",
    [
        # unknown keys, at the top and nested, with a suggestion
        ({"epoch": 3}, r"unknown key 'epoch' \(did you mean 'epochs'\?\); allowed keys: model, data"),
        ({"data": {"fromat": "coco"}}, r"unknown key 'data.fromat' \(did you mean 'format'\?\); allowed keys in data"),
        ({"callbacks": {"checkpoint": {"monitr": "loss"}}}, r"unknown key 'callbacks.checkpoint.monitr'"),
        # wrong types
        ({"epochs": "ten"}, r"epochs: received 'ten'; expected an integer"),
        ({"epochs": True}, r"epochs: received True; expected an integer"),
        ({"optimizer": {"learning_rate": "fast"}}, r"optimizer.learning_rate: received 'fast'; expected a number"),
        ({"jit": "yes"}, r"jit: received 'yes'; expected true or false"),
        ({"model": {"id": TINY_ID, "args": [1, 2]}}, r"model.args: received \[1, 2\]; expected a mapping"),
        ({"data": "shapes"}, r"data: received 'shapes'; expected a mapping with keys source, format"),
        # bad values, with the allowed ones
        (
            {"data": {"source": "imagenet"}},
            r"data.source: received 'imagenet'; expected one of 'shapes', 'digits', 'pairs', 'path', 'synthetic'",
        ),
        (
            {"strategy": "horovod"},
            r"strategy: received 'horovod'; expected one of 'auto', 'one_device', 'mirrored', 'multi_worker', 'tpu'",
        ),
        (
            {"optimizer": {"name": "lamb"}},
            r"optimizer.name: received 'lamb'; expected one of 'sgd', 'adam', 'adamw', 'rmsprop'",
        ),
        ({"schedule": {"name": "poly"}}, r"schedule.name: received 'poly'; expected one of 'constant', 'cosine'"),
        ({"precision": "fp8"}, r"precision: received 'fp8'; expected one of 'fp32', 'bf16', 'fp16'"),
        ({"mixed_precision": "fp8"}, r"mixed_precision: received 'fp8'; expected one of 'bf16', 'fp16', null"),
        (
            {"mixed_precision": "bf16", "precision": "fp16"},
            r"precision: received 'fp16'; expected 'bf16' or no mixed_precision",
        ),
        ({"data": {"task": "depth"}}, r"data.task: received 'depth'; expected one of classification, segmentation"),
        (
            {"data": {"task": "segmentation"}},
            r"data.task: received 'segmentation'; expected 'classification', the task of model",
        ),
        ({"batch_per_replica": 0}, r"batch_per_replica: received 0; expected a number > 0"),
        ({"optimizer": {"learning_rate": -0.1}}, r"optimizer.learning_rate: received -0.1; expected a number > 0"),
        ({"schedule": {"name": "step"}}, r"schedule.boundaries: received \[\]; expected at least one epoch"),
        (
            {"schedule": {"name": "step", "boundaries": [5]}},
            r"schedule.boundaries: received \[5\]; expected a list of epoch numbers between 1 and 1",
        ),
        ({"loss_weights": {"aux": -1}}, r"loss_weights.aux: received -1; expected a number >= 0"),
        (
            {"strategy": "one_device", "cpu_replicas": 2},
            r"cpu_replicas: received 2; expected null with strategy 'one_device'",
        ),
        # data files
        ({"data": {"source": "path", "format": "coco"}}, r"data.path: received None; expected the directory"),
        (
            {"data": {"source": "path", "path": "/no/such/dir", "format": "coco"}},
            r"data.path: '/no/such/dir' does not exist",
        ),
        (
            {"data": {"source": "shapes", "format": "coco"}},
            r"data.format: received 'coco'; expected null for source 'shapes'",
        ),
        # model: unknown id (closest names listed), unknown builder argument (allowed ones listed)
        (
            {"model": {"id": "tiny_cnn_for_test"}},
            r"model.id: Unknown model 'tiny_cnn_for_test'. Did you mean: tiny_cnn_for_tests",
        ),
        (
            {"model": {"id": TINY_ID, "args": {"depth": 3}}},
            r"unknown key 'model.args.depth' for model 'tiny_cnn_for_tests'; "
            r"its builder takes: input_shape, num_classes, segmentation, width",
        ),
        ({"model": None}, r"model: received None; expected a mapping"),
    ],
)
def test_bad_recipes_name_the_key_and_the_allowed_values(change, pattern):
    assert re.search(pattern, _error(recipe(**change))), _error(recipe(**change))


def test_missing_required_section_and_bad_files(tmp_path):
    raw = recipe()
    del raw["model"]
    assert "missing required key 'model'" in _error(raw)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_config(bad)


def test_existing_data_path_is_accepted_and_resolved_relative_to_the_recipe(tmp_path):
    (tmp_path / "mydata").mkdir()
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe(data={"source": "path", "path": "mydata", "format": "folder"})))
    config = load_config(path)
    assert config.data.path == str(tmp_path / "mydata") and config.data.format == "folder"


def test_resolved_config_round_trips(tmp_path):
    config = load_config(write_recipe(tmp_path / "r.yaml", schedule={"name": "cosine", "warmup_epochs": 1}))
    again = TrainConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "task"})
    assert again == config


def test_cli_reports_one_line_and_check_prints_resolved_recipe(tmp_path, capsys):
    from vras_keras.cli import main

    bad = write_recipe(tmp_path / "bad.yaml", data={"source": "imagenet"})
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vras train: error: ") and "data.source: received 'imagenet'" in err[0]
    good = write_recipe(tmp_path / "good.yaml")
    assert main(["train", "--config", str(good), "--check", "--epochs", "5", "--precision", "fp16"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["epochs"] == 5 and resolved["precision"] == "fp16" and resolved["task"] == "classification"
    assert main(["train", "--config", str(good), "--check", "--mixed-precision", "bf16"]) == 0  # the former flag
    assert yaml.safe_load(capsys.readouterr().out)["precision"] == "bf16"
    assert not (tmp_path / "runs").exists()
