"""TFLite conversion restricted to TFLite built-in ops, and running `.tflite` files with ai_edge_litert.

The Flex delegate is not in the pip packages, so a model that needs a Flex (TF) op cannot run: conversion
here never enables `SELECT_TF_OPS`, and fails with an error naming the op and, where it can be found,
the Keras layer that produced it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from typing import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

QUANTIZATIONS = ("none", "fp16", "int8")


def _output_names(model: keras.Model) -> list[str]:
    names = list(getattr(model, "output_names", None) or [])
    n_out = len(keras.tree.flatten(model.outputs))
    if len(names) != n_out or len(set(names)) != n_out:
        # e.g. a layer with several outputs: Keras names them all after the layer
        names = [f"output_{i}" for i in range(n_out)]
    return names


def serving_function(model: keras.Model, batch_size: int | None = 1):
    """`(fn, input_signature)`: `fn(*inputs) -> {output_name: tensor}` with named inputs and outputs.

    Inputs are named after the model's `keras.Input` names; outputs after the model's output names
    (dict outputs keep their keys).
    """
    specs = [
        tf.TensorSpec((batch_size,) + tuple(t.shape[1:]), t.dtype, name=t.name.split(":")[0])
        for t in model.inputs
    ]
    out_names = _output_names(model)

    def call(*args):
        inputs = args[0] if len(args) == 1 else list(args)
        outputs = model(inputs, training=False)
        if isinstance(outputs, dict):
            return dict(outputs)
        return dict(zip(out_names, keras.tree.flatten(outputs)))

    return call, specs


def _offending_ops(message: str) -> list[str]:
    """TF op names the converter could not lower to built-ins, from its error message."""
    ops = set()
    for line in re.findall(r"TF Select ops: ([^\n]*)", message):
        ops.update(op.strip() for op in line.split(",") if op.strip())
    ops.update(re.findall(r"'tf\.([A-Za-z0-9_]+)' op is neither", message))
    ops.update(re.findall(r"non-builtin op: tf\.([A-Za-z0-9_]+)", message))
    return sorted(ops)


def _offending_layers(model: keras.Model, message: str, ops: list[str]) -> list[str]:
    """`"name (Class)"` of the layers whose traced name scopes contain an offending op.

    The converter reports locations like `functional_1/argpool_1/MaxPoolWithArgmax@__inference...`:
    name scopes of the layers (uniquified with `_N` suffixes) down to the op. The deepest scope that is a
    layer of the model names the culprit.
    """
    by_name = {layer.name: layer for layer in model._flatten_layers(include_self=False)}
    found = []
    for op in ops or [r"[A-Za-z0-9_]+"]:
        for path in re.findall(r"([A-Za-z0-9_.\-/]+)/" + op + r"(?:_\d+)?(?:@|\b)", message):
            for scope in reversed(path.split("/")):
                for candidate in (scope, re.sub(r"_\d+$", "", scope)):
                    if candidate in by_name:
                        label = f"{candidate} ({type(by_name[candidate]).__name__})"
                        if label not in found:
                            found.append(label)
                        break
                else:
                    continue
                break
    return found


def _flex_error(model: keras.Model, message: str) -> ValueError:
    ops = _offending_ops(message)
    if not ops and "flex op" not in message and "TF Select" not in message:
        return ValueError(
            f"TFLite conversion of model {model.name!r} failed (not because of a Flex op). Converter message "
            f"(first lines):\n" + "\n".join(message.splitlines()[:8])
        )
    layers = _offending_layers(model, message, ops)
    where = f" in layer {', '.join(layers)}" if layers else " (no layer of the model could be matched to it)"
    return ValueError(
        f"Model {model.name!r} cannot be converted to TFLite with built-in ops only: it needs the TF op(s) "
        f"{', '.join(ops) or '(see the converter message below)'}{where}. Flex and custom ops cannot run "
        f"with ai_edge_litert; use the vras_keras built-ins versions (gather-based sampling, mask-based "
        f"unpooling, builtins-only RoIAlign and NMS).\n"
        f"Converter message (first lines):\n" + "\n".join(message.splitlines()[:8])
    )


def convert_to_tflite(
    model: keras.Model,
    *,
    quantize: str = "none",
    representative_data: Callable[[], Iterable] | Iterable | None = None,
    batch_size: int = 1,
    function: Callable | None = None,
    input_specs: list | None = None,
) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer with built-in ops only.

    Args:
        model: a built Keras model.
        quantize: `"none"` (float32), `"fp16"` (float16 weights) or `"int8"` (int8 weights and
            activations, float32 input/output, calibrated on `representative_data`).
        representative_data: for `"int8"`: an iterable (or a callable returning one) of input batches,
            each a NumPy array (single-input models) or a list of arrays in `model.inputs` order.
        batch_size: the fixed batch size of the TFLite model.
        function: convert `function(*inputs) -> {name: tensor}` (which calls `model`, e.g. a serving
            signature with post-processing) instead of the bare model; `input_specs` are its
            `tf.TensorSpec`s (the batch dimension is replaced by `batch_size`).

    Returns:
        The `.tflite` file contents.

    Raises:
        ValueError: unknown quantization, missing representative data, or an op outside TFLite's
            built-ins (the message names the op and the layer).
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, received {quantize!r}")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' needs representative_data (a few batches of training images)")
    if function is None:
        fn, specs = serving_function(model, batch_size=batch_size)
    else:
        if not input_specs:
            raise ValueError("convert_to_tflite(function=...) needs input_specs (one tf.TensorSpec per input)")
        fn = function
        specs = [tf.TensorSpec((batch_size,) + tuple(s.shape[1:]), s.dtype, name=s.name) for s in input_specs]
    # Keras 3 -> ExportArchive SavedModel -> converter, as keras' own litert export does (converting a
    # concrete function directly keeps Keras variables as resource handles that read garbage).
    tmp = tempfile.mkdtemp(prefix="vras_tflite_")
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", fn, input_signature=specs)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    bad_data: list[str] = []
    if quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]

        def gen():
            data = representative_data() if callable(representative_data) else representative_data
            for batch in data:
                arrays = batch if isinstance(batch, (list, tuple)) else [batch]
                shapes = [tuple(np.shape(a)[1:]) for a in arrays]
                expected = [tuple(s.shape[1:]) for s in specs]
                if shapes != expected:
                    # the converter swallows errors raised here; remember it and raise after convert()
                    bad_data.append(
                        f"representative_data batches must have per-sample shape(s) {expected}, received {shapes}"
                    )
                    return
                for i in range(int(np.shape(arrays[0])[0]) // batch_size):
                    yield [np.asarray(a[i * batch_size : (i + 1) * batch_size], np.float32) for a in arrays]

        converter.representative_dataset = gen
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # the converter raises its own ConverterError type
        if bad_data:
            raise ValueError(bad_data[0]) from None
        raise _flex_error(model, str(error)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if bad_data:
        raise ValueError(bad_data[0])
    bad = [op for op in tflite_op_names(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"]
    if bad:
        raise _flex_error(model, "\n".join("non-builtin op: tf." + op.removeprefix("Flex") for op in bad))
    return flatbuffer


def tflite_op_names(flatbuffer: bytes) -> list[str]:
    """Sorted distinct operator names of a `.tflite` flatbuffer (custom ops by their custom code)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    return sorted({d["op_name"] for d in interpreter._get_ops_details()})


class TFLiteRunner:
    """Runs a `.tflite` model with `ai_edge_litert` through its (single) signature.

    Example:
        >>> runner = TFLiteRunner(convert_to_tflite(model))
        >>> outputs = runner(images)            # dict {output_name: np.ndarray}
    """

    def __init__(self, model: bytes | str, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        where = str(model) if isinstance(model, str) else "the TFLite model"
        try:
            if isinstance(model, (str, bytes)) and not isinstance(model, bytes):
                self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
            else:
                self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
            signatures = self.interpreter.get_signature_list()
        except (ValueError, RuntimeError) as error:  # not a flatbuffer, truncated, an op the interpreter lacks
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"{where}: not a loadable .tflite model (corrupt or truncated? {reason[:300]})") from None
        if not signatures:
            raise ValueError(f"{where}: the .tflite model has no signature (not written by vras export?)")
        self.signature_key = next(iter(signatures))
        self.input_names = list(signatures[self.signature_key]["inputs"])
        self.output_names = list(signatures[self.signature_key]["outputs"])
        self._runner = self.interpreter.get_signature_runner(self.signature_key)
        details = self._runner.get_input_details()
        self.batch_size = int(details[self.input_names[0]]["shape"][0])

    def __call__(self, inputs) -> dict[str, np.ndarray]:
        """Run on `inputs` of any batch size: an array, a dict by input name, or a list in the order of
        `self.input_names` (the signature's order, which is alphabetical, not necessarily the Keras
        model's input order: prefer a dict for several inputs)."""
        if isinstance(inputs, dict):
            arrays = [np.asarray(inputs[name]) for name in self.input_names]
        else:
            arrays = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        if len(arrays) != len(self.input_names):
            raise ValueError(
                f"the model takes {len(self.input_names)} inputs {self.input_names}, received {len(arrays)}"
            )
        details = self._runner.get_input_details()
        n = arrays[0].shape[0]
        results: dict[str, list] = {name: [] for name in self.output_names}
        for start in range(0, n, self.batch_size):
            feed = {}
            for name, array in zip(self.input_names, arrays):
                chunk = array[start : start + self.batch_size]
                feed[name] = chunk.astype(details[name]["dtype"], copy=False)
            out = self._runner(**feed)
            for name in self.output_names:
                results[name].append(np.array(out[name], copy=True))
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}
