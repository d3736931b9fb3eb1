"""Backbones for the task heads: a classification builder without its top, exposing named feature maps.

Every classification builder called with `include_top=False` sets `model.pyramid_outputs`, a dict
`{"C1": t1, ..., "C5": t5}` of KerasTensors (C_k at stride 2**k; CIFAR-style networks use C0..C2).
`feature_extractor` turns it into a model with a dict output, which segmentation, detection, pose and
matching heads build on (they never re-implement ResNet or VGG).

Example:
>>> features = feature_extractor("resnet50", levels=("C3", "C5"), input_shape=(64, 64, 3), width=0.25)
>>> {k: v.shape for k, v in features.output.items()}   # {'C3': (None, 8, 8, 128), 'C5': (None, 2, 2, 512)}
"""

from __future__ import annotations

import keras

from vras_keras.models import registry


def backbone_model(backbone, **builder_kwargs) -> keras.Model:
    """A classification model without its top: `backbone` is a registry id (built with `include_top=False`)
    or an already built model that has `pyramid_outputs`."""
    if isinstance(backbone, str):
        entry = registry.get_entry(backbone)
        if entry.task != "classification":
            raise ValueError(f"backbone {backbone!r} is a {entry.task} model; a classification model is needed")
        if builder_kwargs.get("include_top", False):
            raise ValueError(f"backbone {backbone!r}: include_top must be False for a feature extractor")
        builder_kwargs = {**builder_kwargs, "include_top": False}
        return entry.builder(**builder_kwargs)
    if isinstance(backbone, keras.Model):
        if builder_kwargs:
            raise ValueError(
                f"builder keyword arguments {sorted(builder_kwargs)} only apply to a registry id, "
                f"received the built model {backbone.name!r}"
            )
        return backbone
    raise TypeError(f"backbone must be a registry id (str) or a keras.Model, received {type(backbone).__name__}")


def pyramid_outputs(model: keras.Model) -> dict:
    """`model.pyramid_outputs`, or the same rebuilt from `model.pyramid_layers` (e.g. after loading)."""
    pyramid = getattr(model, "pyramid_outputs", None)
    if pyramid:
        return dict(pyramid)
    layers = getattr(model, "pyramid_layers", None)
    if layers:
        return {level: model.get_layer(name).output for level, name in layers.items()}
    raise ValueError(
        f"model {model.name!r} has no pyramid_outputs: build it with include_top=False "
        "(a vras_keras classification builder) or set model.pyramid_outputs = {'C3': tensor, ...}"
    )


def feature_extractor(backbone, levels=("C3", "C4", "C5"), **builder_kwargs) -> keras.Model:
    """A model mapping images (float32, 0..255) to `{level: feature map}` for the requested levels.

    Args:
        backbone: a classification registry id (e.g. `"resnet50"`, `"vgg16"`) or a model with
            `pyramid_outputs`.
        levels: names of the pyramid levels to output, e.g. `("C3", "C4", "C5")`.
        **builder_kwargs: passed to the builder (`input_shape`, `width`, `output_stride`, ...).

    Returns:
        A functional `keras.Model` named `{backbone}_features` whose output is a dict keyed by level; it
        shares its layers (and weights) with the backbone model, which is `model.backbone`.
    """
    model = backbone_model(backbone, **builder_kwargs)
    pyramid = pyramid_outputs(model)
    if isinstance(levels, str):
        levels = (levels,)
    missing = [level for level in levels if level not in pyramid]
    if missing or not levels:
        raise ValueError(
            f"backbone {model.name!r} has no level(s) {missing or list(levels)}; available: {sorted(pyramid)}"
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    extractor = keras.Model(inputs, {level: pyramid[level] for level in levels}, name=f"{model.name}_features")
    extractor.backbone = model
    return extractor
