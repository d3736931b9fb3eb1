"""One call checks a layer or a model the way Keras and KerasHub check theirs, plus deployment.

`check_layer(LayerClass, init_kwargs, input_shapes=...)` and `check_model(build_fn, inputs, ...)` run, in
order (DESIGN.md §4):

1. config round trip (`from_config(get_config())`, every constructor argument in the config) and
   `.keras` save → load → identical outputs;
2. symbolic call: output shape and dtype; eager call against a reference value where one is given;
3. finite, non-zero gradient for every trainable weight and (for float inputs) the input;
4. one `fit` step lowers the loss on a fixed batch; `jit_compile=True` gives the same output;
5. the `mixed_bfloat16` policy runs and gives finite outputs (the global policy is restored);
6. SavedModel: `model.export` → `tf.saved_model.load` → `serve` equals Keras at batch 1 and batch 3;
7. TFLite: built-in ops only → run in `ai_edge_litert` → equals Keras within `tflite_atol`, no Flex op.

Each step can be switched off with a `run_*=False` argument, for a documented reason at the call site.
Failures raise `AssertionError` with a message that names the step.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from vras_keras.export.tflite import TFLiteRunner, convert_to_tflite, tflite_op_names


# ----------------------------------------------------------------------------------------------- helpers
def _flat(x) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(x)]


def _assert_close(actual, expected, atol, rtol, what):
    a, e = _flat(actual), _flat(expected)
    if len(a) != len(e):
        raise AssertionError(f"{what}: {len(a)} outputs, expected {len(e)}")
    for i, (x, y) in enumerate(zip(a, e)):
        if x.shape != y.shape:
            raise AssertionError(f"{what}: output {i} has shape {x.shape}, expected {y.shape}")
        if np.issubdtype(y.dtype, np.floating):
            if not np.allclose(x.astype(np.float64), y.astype(np.float64), atol=atol, rtol=rtol, equal_nan=False):
                diff = np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))
                raise AssertionError(f"{what}: output {i} differs by up to {diff:.3g} (atol {atol}, rtol {rtol})")
        elif not np.array_equal(x, y):
            raise AssertionError(f"{what}: output {i} (dtype {y.dtype}) differs")


def _assert_finite(x, what):
    for i, a in enumerate(_flat(x)):
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            raise AssertionError(f"{what}: output {i} has non-finite values")


def _random_inputs(shapes, dtypes, seed):
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, dtype in zip(shapes, dtypes):
        if np.issubdtype(np.dtype(dtype), np.integer):
            arrays.append(rng.integers(0, 4, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _batch(arrays, n):
    """The first n samples of every input, repeated cyclically if there are fewer than n."""
    out = []
    for a in arrays:
        idx = np.arange(n) % a.shape[0]
        out.append(a[idx])
    return out


def _as_model_input(arrays):
    return arrays[0] if len(arrays) == 1 else list(arrays)


def _check_config_complete(obj, config, what):
    """Every named constructor argument of `obj` must be in its config."""
    params = inspect.signature(type(obj).__init__).parameters
    missing = [
        name
        for name, p in params.items()
        if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in config
    ]
    if missing:
        raise AssertionError(f"{what}: get_config() drops constructor argument(s) {missing}")


def _check_keras_roundtrip(model, inputs, atol, what):
    reference = model(_as_model_input(inputs), training=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        try:
            loaded = keras.saving.load_model(path)
        except Exception as error:  # any failure here means the object does not serialize
            raise AssertionError(f"{what}: .keras save -> load failed ({type(error).__name__}: {error})") from error
    _assert_close(loaded(_as_model_input(inputs), training=False), reference, atol, atol, f"{what}: .keras reload")


def _check_gradients(model, inputs, check_input_gradients, what):
    tensors = [tf.convert_to_tensor(a) for a in inputs]
    float_inputs = [t for t in tensors if t.dtype.is_floating]
    with tf.GradientTape() as tape:
        if check_input_gradients:
            for t in float_inputs:
                tape.watch(t)
        outputs = model(_as_model_input(tensors), training=True)
        rng = np.random.default_rng(1)
        loss = 0.0
        for out in keras.tree.flatten(outputs):
            if out.dtype.is_floating:
                weights = tf.constant(rng.standard_normal(out.shape).astype(out.dtype.as_numpy_dtype))
                loss += tf.reduce_sum(tf.cast(out * weights, tf.float32))
    variables = list(model.trainable_variables)
    sources = variables + (float_inputs if check_input_gradients else [])
    grads = tape.gradient(loss, sources)
    for var_or_input, grad in zip(sources, grads):
        label = getattr(var_or_input, "path", None) or getattr(var_or_input, "name", "input")
        if grad is None:
            raise AssertionError(f"{what}: no gradient reaches {label}")
        grad = tf.convert_to_tensor(grad)
        if not np.all(np.isfinite(grad.numpy())):
            raise AssertionError(f"{what}: non-finite gradient for {label}")
        if not np.any(grad.numpy() != 0):
            raise AssertionError(f"{what}: zero gradient for {label}")


def _check_fit_lowers_loss(model, inputs, targets, compile_kwargs, steps, what):
    model.compile(**compile_kwargs)
    x = _as_model_input(inputs)
    before = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    model.fit(x, targets, epochs=steps, batch_size=inputs[0].shape[0], verbose=0, shuffle=False)
    after = model.evaluate(x, targets, verbose=0, return_dict=True)["loss"]
    if not np.isfinite(after) or not after < before:
        raise AssertionError(f"{what}: {steps} fit step(s) did not lower the loss ({before:.6g} -> {after:.6g})")


def _check_jit(model, inputs, atol, what):
    x = _as_model_input([tf.convert_to_tensor(a) for a in inputs])
    eager = model(x, training=False)
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=True)(x)
    _assert_close(compiled, eager, atol, atol, f"{what}: jit_compile=True")


def _check_mixed_precision(build_fn, inputs, what):
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        model = build_fn()
        outputs = model(_as_model_input(inputs), training=False)
    finally:
        keras.config.set_dtype_policy(previous)
    _assert_finite(outputs, f"{what}: mixed_bfloat16")


def _check_saved_model(model, inputs, atol, what):
    reference = {n: model(_as_model_input(_batch(inputs, n)), training=False) for n in (1, 3)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved_model")
        model.export(path, format="tf_saved_model", verbose=False)
        loaded = tf.saved_model.load(path)
        for n in (1, 3):
            batch = [tf.convert_to_tensor(a) for a in _batch(inputs, n)]
            served = loaded.serve(batch[0] if len(batch) == 1 else batch)
            _assert_close(served, reference[n], atol, atol, f"{what}: SavedModel serve at batch {n}")


def _check_tflite(model, inputs, atol, what):
    flatbuffer = convert_to_tflite(model)
    ops = tflite_op_names(flatbuffer)
    flex = [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if flex:
        raise AssertionError(f"{what}: TFLite model has non-builtin ops {flex}")
    runner = TFLiteRunner(flatbuffer)
    # Feed by name: the TFLite signature lists its inputs alphabetically, not in `model.inputs` order.
    outputs = runner({t.name.split(":")[0]: a for t, a in zip(model.inputs, inputs)})
    reference = model(_as_model_input(inputs), training=False)
    if isinstance(reference, dict):
        expected = [reference[name] for name in runner.output_names]
        actual = [outputs[name] for name in runner.output_names]
    else:
        from vras_keras.export.tflite import _output_names

        names = _output_names(model)
        expected = keras.tree.flatten(reference)
        actual = [outputs[name] for name in names]
    _assert_close(actual, expected, atol, atol, f"{what}: TFLite vs Keras")


# ------------------------------------------------------------------------------------------ public API
def check_model(
    build_fn: Callable[[], keras.Model],
    inputs,
    *,
    targets=None,
    compile_kwargs: dict | None = None,
    expected_output_shapes=None,
    expected_output=None,
    reference_atol: float = 1e-5,
    fit_steps: int = 3,
    check_input_gradients: bool = True,
    run_config: bool = True,
    run_gradients: bool = True,
    run_training: bool = True,
    run_jit: bool = True,
    run_mixed_precision: bool = True,
    run_saved_model: bool = True,
    run_tflite: bool = True,
    atol: float = 1e-5,
    tflite_atol: float = 1e-4,
    name: str | None = None,
) -> keras.Model:
    """Run the harness on a model built by `build_fn()` (called again for the mixed-precision step).

    Args:
        build_fn: returns a fresh, built `keras.Model`.
        inputs: one array or a list of arrays (one per model input), batch first.
        targets: training targets for the fit step (default: random, shaped like the outputs, with MSE).
        compile_kwargs: for the fit step (default: Adam(1e-2) and MSE).
        expected_output_shapes: output shape(s) with `None` for the batch, checked symbolically.
        expected_output: reference output(s) of the eager call, compared within `reference_atol`.
        run_*: switch off a step (say why at the call site).
        atol: tolerance of jit / SavedModel / `.keras` comparisons; `tflite_atol` of TFLite.

    Returns:
        The model that was checked (after the fit step, if any).
    """
    inputs = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    model = build_fn()
    what = name or model.name
    # 2. symbolic shapes + eager reference
    if expected_output_shapes is not None:
        symbolic = [tuple(t.shape) for t in keras.tree.flatten(model.outputs)]
        expected = expected_output_shapes
        expected = [tuple(s) for s in (expected if isinstance(expected[0], (list, tuple)) else [expected])]
        if symbolic != expected:
            raise AssertionError(f"{what}: symbolic output shapes {symbolic}, expected {expected}")
    outputs = model(_as_model_input(inputs), training=False)
    _assert_finite(outputs, f"{what}: eager call")
    if expected_output is not None:
        _assert_close(outputs, expected_output, reference_atol, reference_atol, f"{what}: eager vs reference")
    # 1. config + .keras round trips
    if run_config:
        try:
            clone = model.__class__.from_config(model.get_config())
        except Exception as error:
            raise AssertionError(
                f"{what}: from_config(get_config()) failed ({type(error).__name__}: {error})"
            ) from error
        clone.set_weights(model.get_weights())
        _assert_close(clone(_as_model_input(inputs), training=False), outputs, atol, atol, f"{what}: config clone")
        _check_keras_roundtrip(model, inputs, atol, what)
    # 3. gradients
    if run_gradients and model.trainable_variables:
        _check_gradients(model, inputs, check_input_gradients, what)
    # 4. fit + jit
    if run_jit:
        _check_jit(model, inputs, max(atol, 1e-4), what)
    if run_training and model.trainable_variables:
        if targets is None:
            rng = np.random.default_rng(2)
            targets = [rng.standard_normal(np.shape(o)).astype(np.float32) for o in _flat(outputs)]
            targets = targets[0] if len(targets) == 1 else targets
        kwargs = compile_kwargs or {"optimizer": keras.optimizers.Adam(1e-2), "loss": "mse"}
        _check_fit_lowers_loss(model, inputs, targets, kwargs, fit_steps, what)
    # 5. mixed precision
    if run_mixed_precision:
        _check_mixed_precision(build_fn, inputs, what)
    # 6. SavedModel, 7. TFLite
    if run_saved_model:
        _check_saved_model(model, inputs, atol, what)
    if run_tflite:
        _check_tflite(model, _batch(inputs, min(2, inputs[0].shape[0])), tflite_atol, what)
    return model


def check_layer(
    layer_cls: type,
    init_kwargs: dict,
    *,
    input_shapes: Sequence | None = None,
    input_data=None,
    input_dtypes: Sequence | None = None,
    expected_output_shape=None,
    expected_output=None,
    call_kwargs: dict | None = None,
    seed: int = 0,
    **harness_kwargs,
) -> keras.Model:
    """Run the harness on one layer, wrapped in a functional model.

    Args:
        layer_cls: the layer class; `layer_cls(**init_kwargs)` builds it.
        input_shapes: full input shape(s) including the batch (one tuple or a list of tuples); random
            data of those shapes is used unless `input_data` is given.
        input_data: array(s) to call the layer on.
        input_dtypes: dtypes of generated inputs (default float32).
        expected_output_shape: output shape(s) with the batch (checked symbolically with batch None,
            and eagerly), also against `compute_output_shape`.
        expected_output: reference output(s) for `input_data`.
        call_kwargs: extra keyword arguments for the layer call.
        **harness_kwargs: passed to `check_model` (`run_*` switches, tolerances, targets...).
    """
    if input_data is None:
        if input_shapes is None:
            raise ValueError("check_layer needs input_shapes or input_data")
        shapes = input_shapes if isinstance(input_shapes[0], (list, tuple)) else [input_shapes]
        dtypes = input_dtypes or ["float32"] * len(shapes)
        input_data = _random_inputs(shapes, dtypes, seed)
    arrays = [np.asarray(a) for a in (input_data if isinstance(input_data, (list, tuple)) else [input_data])]
    multi = isinstance(input_data, (list, tuple)) and len(input_data) > 1 or (
        input_shapes is not None and isinstance(input_shapes[0], (list, tuple)) and len(input_shapes) > 1
    )
    call_kwargs = call_kwargs or {}

    # 1. config round trip on the bare layer
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    _check_config_complete(layer, config, layer_cls.__name__)
    try:
        revived = layer_cls.from_config(config)
    except Exception as error:
        raise AssertionError(f"{layer_cls.__name__}: from_config(get_config()) failed: {error}") from error
    if revived.get_config() != config:
        raise AssertionError(f"{layer_cls.__name__}: config changes on round trip: {config} -> {revived.get_config()}")
    registered = keras.saving.get_registered_name(layer_cls)
    if keras.saving.get_registered_object(registered) is not layer_cls:
        raise AssertionError(
            f"{layer_cls.__name__}: not registered for serialization "
            "(decorate with @keras.saving.register_keras_serializable(package='vras_keras'))"
        )

    def build():
        inputs = [keras.Input(shape=a.shape[1:], dtype=str(a.dtype), name=f"input_{i}") for i, a in enumerate(arrays)]
        lyr = layer_cls(**init_kwargs)
        out = lyr(inputs if multi else inputs[0], **call_kwargs)
        return keras.Model(inputs if multi else inputs[0], out, name=f"{layer_cls.__name__.lower()}_harness")

    if expected_output_shape is not None:
        expected = expected_output_shape
        expected = [tuple(s) for s in (expected if isinstance(expected[0], (list, tuple)) else [expected])]
        symbolic = [(None,) + s[1:] for s in expected]
        harness_kwargs.setdefault("expected_output_shapes", symbolic)
        probe = layer_cls(**init_kwargs)
        shapes = [(None,) + a.shape[1:] for a in arrays]
        computed = probe.compute_output_shape(shapes if multi else shapes[0])
        computed = [
            tuple(s)
            for s in (
                computed
                if isinstance(computed, list)
                or (isinstance(computed, tuple) and computed and isinstance(computed[0], (tuple, list)))
                else [computed]
            )
        ]
        if computed != symbolic:
            raise AssertionError(f"{layer_cls.__name__}: compute_output_shape gives {computed}, expected {symbolic}")
        eager = layer_cls(**init_kwargs)(_as_model_input([tf.convert_to_tensor(a) for a in arrays]), **call_kwargs)
        got = [tuple(np.shape(t)) for t in _flat(eager)]
        if got != expected:
            raise AssertionError(f"{layer_cls.__name__}: eager output shapes {got}, expected {expected}")
    return check_model(build, arrays, expected_output=expected_output, name=layer_cls.__name__, **harness_kwargs)
