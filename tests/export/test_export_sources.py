"""vras_keras.export.sources: the model that is exported (whole-image LIFT for matching) and the run's quality."""

import json

import pytest

from vras_keras.export import sources
from vras_keras.export.meta import ExportMeta

TINY_LIFT = {"patch_size": 24, "crop_size": 12.0, "descriptor_size": 8, "descriptor_dim": 16, "width": 0.25}


def test_a_lift_patch_model_is_exported_as_the_whole_image_model():
    """`vras export` of a matching model used to fail ("cannot find the keypoints among the model outputs
    {'score_map', 'keypoint', 'angle', 'descriptor'}"): the patch model is replaced by `lift_inference_model`."""
    from vras_keras.models import get

    patch = get("lift", **TINY_LIFT)
    meta = ExportMeta(task="matching", input_size=(24, 24), model="lift", extra={"image_size": [24, 24]},
                      training_config={"data": {"source": "pairs", "image_size": 64}})
    model, out = sources.inference_form(patch, meta)
    assert out.input_size == (64, 64) and out.extra["trained_on_patches"] == [24, 24] and meta.input_size == (24, 24)
    assert tuple(model.inputs[0].shape) == (None, 64, 64, 3)
    assert {"keypoints", "descriptors", "scores"} <= set(model.output)
    assert model.get_layer("descriptors").layer is patch.get_layer("descriptor")  # the trained weights, shared
    assert tuple(model.output["descriptors"].shape) == (None, 500, 16)  # lift_inference_model's default K
    # (the demo path test, tests/apps/test_recipes.py, exports a trained one and runs it from the SavedModel)
    same, again = sources.inference_form(model, out)  # already whole-image: unchanged
    assert same is model and again is out
    with pytest.raises(ValueError, match="data.image_size must be a positive integer or"):
        sources.inference_form(patch, ExportMeta(task="matching", input_size=(24, 24),
                                                 training_config={"data": {"image_size": "big"}}))
    untrained, meta256 = sources.inference_form(patch, ExportMeta(task="matching", input_size=(24, 24)))
    assert meta256.input_size == (256, 256) and tuple(untrained.inputs[0].shape) == (None, 256, 256, 3)
    other = ExportMeta(task="classification", input_size=(24, 24))
    assert sources.inference_form(patch, other) == (patch, other)  # other tasks: identity


def test_a_matching_export_at_the_cameras_image_size():
    """`vras export --image-size H W` (matching): the whole-image model at that size, whatever the recipe's view
    size; a size large enough for two octaves builds them into the graph; other tasks and already whole-image
    models refuse a new size, naming it."""
    from vras_keras.models import get

    patch = get("lift", **TINY_LIFT)
    meta = ExportMeta(task="matching", input_size=(24, 24), training_config={"data": {"image_size": 64}})
    model, out = sources.inference_form(patch, meta, image_size=[400, 480])
    assert out.input_size == (400, 480) and tuple(model.inputs[0].shape) == (None, 400, 480, 3)
    assert model.get_layer("octaves").max_keypoints == 500  # 400 -> 200 px: a second octave (>= 192)
    small, out_small = sources.inference_form(patch, meta, image_size=(64, 96))
    assert out_small.input_size == (64, 96) and "octaves" not in [layer.name for layer in small.layers]
    same, again = sources.inference_form(model, out, image_size=(400, 480))  # already that size: unchanged
    assert same is model and again is out
    with pytest.raises(ValueError, match="already a whole-image model of input size \\(400, 480\\)"):
        sources.inference_form(model, out, image_size=(480, 640))
    for bad in ((0, 64), (64,), ("a", 64), (True, 64)):
        with pytest.raises(ValueError, match="--image-size must be two positive integers"):
            sources.inference_form(patch, meta, image_size=bad)
    with pytest.raises(ValueError, match="--image-size is for matching exports.*classification.*\\(24, 24\\)"):
        sources.inference_form(patch, ExportMeta(task="classification", input_size=(24, 24)), image_size=(64, 64))


def test_validation_metrics_of_a_run(tmp_path):
    assert sources._validation_metrics(str(tmp_path)) == {}
    (tmp_path / "summary.json").write_text(json.dumps(
        {"epochs_completed": 5, "final": {"epoch": 5, "loss": 0.1, "val_accuracy": 0.99, "val_loss": 0.03}}))
    assert sources._validation_metrics(str(tmp_path)) == {"val_accuracy": 0.99, "val_loss": 0.03, "epochs": 5}
    (tmp_path / "summary.json").write_text("[1, 2]")
    assert sources._validation_metrics(str(tmp_path)) == {}
