"""ShapesWorld, distorted digits, image pairs and loaders for standard formats, as tf.data.

Sub-modules are imported on first use (`vras_keras.data.detection_targets` too), so that `vras --help`
and the CLI's argument parsers never import Keras or TensorFlow, and the worker processes that generate
synthetic samples (`data.workers`, importing `data.shapes` and `data.datasets`) start in about a second.
"""


def __getattr__(name):
    import importlib

    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"{__name__}.{name}":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        raise
