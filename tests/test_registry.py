import pytest

from vras_keras import models
from vras_keras.cli import main
from vras_keras.models import registry


@pytest.fixture
def scratch_registry():
    """The registry; every id a test registers through it is unregistered afterwards (public API only)."""
    before = set(models.list_models())
    yield registry
    for name in set(models.list_models()) - before:
        models.unregister(name)


def _tiny(*, num_classes=3, input_shape=(8, 8, 3)):
    """A tiny dense classifier."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name="tiny")


def test_register_get_and_list(scratch_registry):
    scratch_registry.register("tiny_test_net", task="classification")(_tiny)
    model = models.get("tiny_test_net", num_classes=5)
    assert model.output_shape == (None, 5)
    assert "tiny_test_net" in models.list_models()
    assert "tiny_test_net" in models.list_models(task="classification")
    assert "tiny_test_net" not in models.list_models(task="detection")
    assert models.get_entry("tiny_test_net").description == "A tiny dense classifier."


def test_register_twice_raises(scratch_registry):
    scratch_registry.register("tiny_twice", task="classification")(_tiny)
    with pytest.raises(ValueError, match="already registered"):
        scratch_registry.register("tiny_twice", task="classification")(_tiny)


def test_unknown_task_and_uppercase_rejected(scratch_registry):
    with pytest.raises(ValueError, match="Unknown task 'vision'.*classification"):
        scratch_registry.register("x_net", task="vision")
    with pytest.raises(ValueError, match="lowercase"):
        scratch_registry.register("XNet", task="classification")
    with pytest.raises(ValueError, match="Unknown task"):
        models.list_models(task="vision")


def test_unknown_name_lists_closest(scratch_registry):
    scratch_registry.register("tiny_resnet_test", task="classification")(_tiny)
    with pytest.raises(ValueError, match=r"Unknown model 'tiny_resnet_tset'.*Did you mean: tiny_resnet_test"):
        models.get("tiny_resnet_tset")


def test_unregister(scratch_registry):
    scratch_registry.register("tiny_gone", task="classification")(_tiny)
    models.unregister("tiny_gone")
    assert "tiny_gone" not in models.list_models()
    with pytest.raises(ValueError, match="'tiny_gone' is not registered"):
        models.unregister("tiny_gone")


def test_cli_list(scratch_registry, capsys, monkeypatch):
    # Only the tiny models: building every full-size model to count its parameters takes minutes
    # (tests/models/test_all_models.py builds each with its defaults).
    scratch_registry.register("tiny_cli_test", task="classification")(_tiny)
    scratch_registry.register("tiny_cli_pose", task="pose")(_tiny)
    listed = models.list_models
    monkeypatch.setattr(models, "list_models", lambda task=None: [n for n in listed(task) if n.startswith("tiny_cli")])
    assert main(["list", "--rebuild", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("tiny_cli_test"))
    # Flatten(8*8*3=192) -> Dense(3): 192*3 + 3 = 579 trainable parameters
    assert "classification" in line and "579" in line and "A tiny dense classifier." in line
    assert "tiny_cli_pose" not in out


def test_cli_list_no_params_lists_every_family(capsys):
    assert main(["list", "--no-params"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet50", "fcn8s", "pose_integral", "yolo_v3", "faster_rcnn", "mask_rcnn", "stn_classifier", "lift"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


def test_cli_unknown_command_errors(capsys):
    with pytest.raises(SystemExit):
        main(["no-such-command"])
