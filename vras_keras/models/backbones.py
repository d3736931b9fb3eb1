"""The builder kit: what every model builder shares (width scaling, argument checks, weights, backbone features).

- `scaled(filters, width)`: the one width multiplier. `round(filters * width)`, at least 1 channel. The
  floor is 1 (not 8) so that `width` stays a plain multiplier: width 1 gives the papers' (and
  torchvision's) exact layer widths and parameter counts, and a tiny test variant shrinks every layer by
  the same factor.
- `check_builder_args(name, ...)`: the one argument checker (`input_shape`, `num_classes`, `width`,
  `weights`); every message names the builder, the field, what it received and what is allowed.
- `load_weights(model, weights)`: the one way weights reach a built model: `None`, `"imagenet"` (the
  torchvision-compatible classification ids) or a file (`.safetensors`, `.weights.h5`, `.keras`), through
  `vras_keras.models.pretrained.load_weights`; heads pass `backbone_weights=` on to their backbone.
- `backbone_features(backbone, levels, ...)`: the one way a head gets its feature maps: `(image input,
  {level: map})` of a backbone given by registry id (optionally with its `weights`) or as a built model.

Backbones: every classification builder called with `include_top=False` sets `model.pyramid_outputs`, a
dict `{"C1": t1, ..., "C5": t5}` of KerasTensors (C_k at stride 2**k; CIFAR-style networks use C0..C2)
and `model.pyramid_layers` (level -> layer name, kept for rebuilding the dict after loading).
`feature_extractor` turns it into a model with a dict output.

Example:
>>> features = feature_extractor("resnet50", levels=("C3", "C5"), input_shape=(64, 64, 3), width=0.25)
>>> {k: v.shape for k, v in features.output.items()}   # {'C3': (None, 8, 8, 128), 'C5': (None, 2, 2, 512)}
"""

from __future__ import annotations

import os

import keras

from vras_keras.models import pretrained, registry

_NOT_GIVEN = object()

# ------------------------------------------------------------------------------------------ width
def scaled(filters: int, width: float) -> int:
    """`filters * width` rounded to the nearest int, at least 1 (see the module docstring for the floor)."""
    return max(1, int(round(filters * width)))


# -------------------------------------------------------------------------------------- arguments
def check_builder_args(name: str, *, input_shape, num_classes=_NOT_GIVEN, width=1.0, weights=None, min_classes: int = 1,
                       classes_field: str = "num_classes", ranks=(2,), static: bool = False,
                       multiple: int | None = None) -> None:
    """Validate the arguments builders share; raise `ValueError` (`FileNotFoundError` for weights) naming the field.

    Args:
        name: the builder's name, first word of every message.
        input_shape: `(H, W, C)` (or `(D, H, W, C)` when 3 is in `ranks`); the channels must be known.
        num_classes: an int `>= min_classes` (leave it out when the builder has no such argument);
            `classes_field` is its name in messages (e.g. `"num_joints"`).
        width: a number > 0.
        weights: None, `"imagenet"` or the path of an existing `.safetensors`, `.weights.h5` or `.keras` file.
        ranks: allowed spatial ranks (2: images, 3: volumes).
        static: the spatial sizes must be known (no None).
        multiple: the spatial sizes must be multiples of it (implies `static`).
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    forms = " or ".join({2: "(height, width, channels)", 3: "(depth, height, width, channels)"}[r] for r in ranks)
    if shape is None or len(shape) - 1 not in ranks:
        raise ValueError(f"{name}: input_shape must be {forms}, received {input_shape!r}")
    if any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in shape):
        raise ValueError(f"{name}: input_shape must hold positive ints (None for a free spatial size), "
                         f"received {input_shape!r}")
    if shape[-1] is None:
        raise ValueError(f"{name}: the number of input channels must be known, received {input_shape!r}")
    if (static or multiple) and any(d is None for d in shape[:-1]):
        raise ValueError(f"{name}: input_shape must have static spatial sizes, received {input_shape!r}")
    if multiple and any(d % multiple for d in shape[:-1]):
        raise ValueError(f"{name}: input_shape spatial sizes must be multiples of {multiple}, received {input_shape!r}")
    if num_classes is not _NOT_GIVEN:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < min_classes:
            raise ValueError(f"{name}: {classes_field} must be an int >= {min_classes}, received {num_classes!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"{name}: width must be a number > 0, received {width!r}")
    check_weights(name, weights)


WEIGHT_FILES = (".safetensors", ".weights.h5", ".keras")


def check_weights(name: str, weights) -> None:
    """`weights` must be None, `"imagenet"` or the path of an existing `.safetensors` / `.weights.h5` /
    `.keras` file (`vras_keras.models.pretrained`; only `"imagenet"` downloads anything)."""
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.fspath(weights).endswith(WEIGHT_FILES):
        raise ValueError(f"{name}: weights must be None, 'imagenet' or the path of a .safetensors, .weights.h5 or "
                         f".keras file; no pretrained weights other than 'imagenet' are downloaded, "
                         f"received {weights!r}")
    if not os.path.isfile(os.fspath(weights)):
        raise FileNotFoundError(f"{name}: weights file {os.fspath(weights)!r} does not exist (only "
                                "weights='imagenet' downloads anything)")


def load_weights(model: keras.Model, weights, *, arch: str | None = None) -> keras.Model:
    """Load `weights` (see `check_weights`) into `model` with `pretrained.load_weights`; returns `model`."""
    if weights is not None:
        check_weights(model.name, weights)
        pretrained.load_weights(model, weights, arch=arch)
    return model


# --------------------------------------------------------------------------------------- backbones
def expose_pyramid(model: keras.Model, pyramid: dict) -> keras.Model:
    """Set `model.pyramid_outputs` (level -> KerasTensor) and `model.pyramid_layers` (level -> layer name).

    `pyramid_outputs` is a Python attribute (as in KerasHub backbones): it is not saved in `.keras` files;
    `pyramid_layers` is kept alongside for rebuilding it (`pyramid_outputs(model)`).
    """
    model.pyramid_outputs = dict(pyramid)
    model.pyramid_layers = {level: t._keras_history.operation.name for level, t in pyramid.items()}
    return model


def backbone_model(backbone, **builder_kwargs) -> keras.Model:
    """A classification model without its top: `backbone` is a registry id (built with `include_top=False`)
    or an already built model (returned as is)."""
    if isinstance(backbone, str):
        entry = registry.get_entry(backbone)
        if entry.task != "classification":
            raise ValueError(f"backbone {backbone!r} is a {entry.task} model; a classification model is needed")
        if builder_kwargs.get("include_top", False):
            raise ValueError(f"backbone {backbone!r}: include_top must be False for a feature extractor")
        return entry.builder(**{**builder_kwargs, "include_top": False})
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


def _model_features(model: keras.Model, levels) -> dict:
    """Levels of a built model: its pyramid, else its dict output, else its one output for one level."""
    if getattr(model, "pyramid_outputs", None) or getattr(model, "pyramid_layers", None):
        return pyramid_outputs(model)
    if isinstance(model.output, dict):
        return dict(model.output)
    if len(model.outputs) == 1 and len(levels) == 1:
        return {levels[0]: model.outputs[0]}
    raise ValueError(f"backbone {model.name!r} must expose pyramid_outputs (include_top=False), return a dict "
                     f"of feature maps, or return one feature map for one level; levels {list(levels)} were asked")


def backbone_features(backbone, levels, *, input_shape=None, width: float = 1.0, weights=None, name: str = "model",
                      **builder_kwargs):
    """`(image input, {level: feature map})` of a backbone, as tensors of one graph a head builds on.

    Args:
        backbone: a classification registry id (built with `include_top=False`, `input_shape`, `width`
            and `builder_kwargs`), or a built model with `pyramid_outputs`, a dict output of feature
            maps, or (for one level) a single feature map output. Images (float32, 0..255) in.
        levels: the levels to return, e.g. `("C3", "C4", "C5")` (a string is one level).
        input_shape: the head's input shape; a built backbone must take exactly this shape.
        width: channel multiplier of a backbone given by id.
        weights: the backbone's weights (a head's `backbone_weights`): None, `"imagenet"` or a file; only
            for a backbone given by id.
        name: the calling builder, for messages.

    Raises:
        ValueError: a missing level, a non-classification id, an input shape that differs, builder
            arguments given with a built model; TypeError: a backbone that is neither.
    """
    levels = (levels,) if isinstance(levels, str) else tuple(levels)
    if weights is not None:
        if not isinstance(backbone, str):
            raise ValueError(f"{name}: backbone_weights only apply to a backbone given by registry id, received "
                             f"the built model {getattr(backbone, 'name', backbone)!r}")
        builder_kwargs = {**builder_kwargs, "weights": weights}
    if isinstance(backbone, str):
        kwargs = {**builder_kwargs, "width": width}
        if input_shape is not None:
            kwargs["input_shape"] = tuple(input_shape)
        model = backbone_model(backbone, **kwargs)
    else:
        model = backbone_model(backbone, **builder_kwargs)
    if len(model.inputs) != 1:
        raise ValueError(f"{name}: backbone {model.name!r} must take one image input, it takes {len(model.inputs)}")
    inputs = model.inputs[0]
    if input_shape is not None and tuple(inputs.shape[1:]) != tuple(input_shape):
        raise ValueError(f"{name}: backbone {model.name!r} takes images of shape {tuple(inputs.shape[1:])}, "
                         f"but input_shape is {tuple(input_shape)}")
    features = _model_features(model, levels)
    missing = [level for level in levels if level not in features]
    if missing or not levels:
        raise ValueError(f"{name}: backbone {model.name!r} has no feature level(s) {missing or list(levels)}; "
                         f"available: {sorted(features)}")
    return inputs, {level: features[level] for level in levels}


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
    inputs, features = backbone_features(model, levels, name="feature_extractor")
    extractor = keras.Model(inputs, features, name=f"{model.name}_features")
    extractor.backbone = model
    return extractor
