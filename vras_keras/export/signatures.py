"""Serving signatures: the model plus its pre- and post-processing, one table entry per task.

Every exported model has the same two entry points:

- `serving_default(images)`: `images` float32 `(N, H, W, 3)` in 0..255 at the model's input size (the
  models rescale inside) -> a dict of named outputs (below);
- `serving_bytes(image_bytes)`: `image_bytes` string `(N,)` of encoded JPEG/PNG/BMP/GIF files (TF
  Serving's REST `{"b64": ...}`), decoded to RGB and resized (bilinear) to the input size inside, then
  the same as `serving_default`.

Outputs per task (`OUTPUTS` lists them; `POSTPROCESSORS` builds them from the raw model outputs):

| task           | outputs                                                                                   |
|----------------|-------------------------------------------------------------------------------------------|
| classification | `probabilities` (N, C) float32, `top_k_scores` (N, k) float32, `top_k_indices` (N, k) int32 |
| segmentation   | `class_map` (N, H, W) int32, `probabilities` (N, H, W, C) float32 (at the input size)       |
| detection      | `boxes` (N, M, 4) float32 in `box_format` pixels, `scores` (N, M), `classes` (N, M) int32  |
|                | (-1 = padding), `num_detections` (N,) int32 [+ `masks` (N, M, h, w) float32]               |
| pose           | `keypoints` (N, J, 2) float32 (x, y) input pixels, `confidence` (N, J) float32              |
| stn            | `transformed_image` (N, h, w, C) float32 [+ `probabilities`, `top_k_*` when it classifies]; |
|                | a baseline without a transformer: the classification outputs                               |
| matching       | `keypoints` (N, K, 2) float32 (x, y) pixels, `descriptors` (N, K, D) float32 [+ `scores`]   |

A model with a `make_inference_model()` method (the detectors: raw training outputs -> decoder + NMS) is exported
through that inference model. The post-processing uses TFLite built-in ops only (softmax, arg_max, top_k,
resize_bilinear, gather), so the `.tflite` files carry the same outputs as the SavedModel. `tf.*` is used throughout:
these functions are traced into TF graphs (SavedModel signatures, TFLite), never run by another Keras backend.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import tensorflow as tf

from vras_keras.export.meta import ExportMeta

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"

OUTPUTS = {
    "classification": ("probabilities", "top_k_scores", "top_k_indices"),
    "segmentation": ("class_map", "probabilities"),
    "detection": ("boxes", "scores", "classes", "num_detections"),
    "pose": ("keypoints", "confidence"),
    "stn": ("transformed_image",),
    "matching": ("keypoints", "descriptors"),
}


@dataclasses.dataclass
class Context:
    """What a post-processor may need besides the raw outputs."""

    meta: ExportMeta
    activation: str  # of the class-score output: "softmax" | "sigmoid" | "linear"
    input_size: tuple[int, int]


# --------------------------------------------------------------------------------------------- helpers
def raw_outputs(model: keras.Model, outputs) -> dict[str, tf.Tensor]:
    """The model's outputs as a dict: dict outputs keep their keys, others get the model's output names."""
    if isinstance(outputs, dict):
        return dict(outputs)
    flat = keras.tree.flatten(outputs)
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(flat):
        names = [f"output_{i}" for i in range(len(flat))]
    return dict(zip(names, flat))


def final_activation(model: keras.Model) -> str:
    """`"softmax"`, `"sigmoid"` or `"linear"`: the activation of the layer producing the first output."""
    tensor = keras.tree.flatten(model.outputs)[0]
    layer = tensor._keras_history[0]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) or (activation if isinstance(activation, str) else None)
    return name if name in ("softmax", "sigmoid") else "linear"


def _pick(outputs: dict, keys, what: str, rank: int | None = None, exclude=()):
    """The output under the first of `keys`, else the only remaining output of rank `rank`."""
    for key in keys:
        if key in outputs:
            return outputs[key]
    candidates = [v for k, v in outputs.items() if k not in exclude and (rank is None or v.shape.rank == rank)]
    if len(candidates) == 1:
        return candidates[0]
    shapes = {k: tuple(v.shape) for k, v in outputs.items()}
    raise ValueError(
        f"cannot find the {what} among the model outputs {shapes}: name it one of {list(keys)}"
        + (f" or make it the only output of rank {rank}" if rank else "")
    )


def _to_probabilities(scores, activation: str):
    scores = tf.cast(scores, tf.float32)
    if activation == "linear":
        return tf.nn.sigmoid(scores) if scores.shape[-1] == 1 else tf.nn.softmax(scores, axis=-1)
    return scores  # the model already ends in softmax / sigmoid


def _top_k(probabilities, k: int) -> dict:
    k = min(int(k), int(probabilities.shape[-1]))
    scores, indices = tf.math.top_k(probabilities, k=k)
    return {"top_k_scores": scores, "top_k_indices": tf.cast(indices, tf.int32)}


def _resize_to(images, size):
    if tuple(images.shape[1:3]) == tuple(size):
        return images
    return tf.image.resize(images, size, method="bilinear")


# --------------------------------------------------------------------------------------- post-processors
def classification_outputs(outputs: dict, ctx: Context) -> dict:
    scores = _pick(outputs, ("probabilities", "predictions", "logits", "scores"), "class scores", rank=2)
    probabilities = _to_probabilities(scores, ctx.activation)
    return {"probabilities": probabilities, **_top_k(probabilities, ctx.meta.top_k)}


def segmentation_outputs(outputs: dict, ctx: Context) -> dict:
    scores = _pick(outputs, ("probabilities", "logits", "masks", "segmentation"), "per-pixel class scores", rank=4)
    probabilities = _resize_to(_to_probabilities(scores, ctx.activation), ctx.input_size)
    if probabilities.shape[-1] == 1:  # binary segmentation: foreground probability
        class_map = tf.cast(probabilities[..., 0] > 0.5, tf.int32)
    else:
        class_map = tf.cast(tf.argmax(probabilities, axis=-1), tf.int32)
    return {"class_map": class_map, "probabilities": probabilities}


def detection_outputs(outputs: dict, ctx: Context) -> dict:
    missing = [k for k in ("boxes", "classes") if k not in outputs]
    if missing or not ({"scores", "confidence"} & set(outputs)):
        raise ValueError(
            "a detection model must end in a decoder returning a dict with 'boxes' (N, M, 4), 'scores' "
            f"(or 'confidence') (N, M) and 'classes' (N, M) padded with -1; it returns {sorted(outputs)}"
        )
    boxes = tf.cast(outputs["boxes"], tf.float32)
    scores = tf.cast(outputs.get("scores", outputs.get("confidence")), tf.float32)
    classes = tf.cast(outputs["classes"], tf.int32)
    if "num_detections" in outputs:
        num = tf.cast(tf.reshape(outputs["num_detections"], [-1]), tf.int32)
    else:
        num = tf.reduce_sum(tf.cast(classes >= 0, tf.int32), axis=-1)
    result = {"boxes": boxes, "scores": scores, "classes": classes, "num_detections": num}
    if "masks" in outputs:
        result["masks"] = tf.cast(outputs["masks"], tf.float32)
    return result


def _heatmap_argmax(heatmaps, input_size):
    """(N, h, w, J) heatmaps -> keypoints (N, J, 2) (x, y) input pixels, confidence (N, J) = peak softmax
    probability: `ops.soft_argmax.heatmap_argmax_2d`, the decoding `HeatmapArgmax2D` uses (pose pixel
    convention: the peak cell's centre `(c + 0.5) * stride`)."""
    from vras_keras.ops.soft_argmax import heatmap_argmax_2d

    h, w = heatmaps.shape[1], heatmaps.shape[2]
    decoded = heatmap_argmax_2d(heatmaps, coordinate_scale=(input_size[1] / w, input_size[0] / h))
    return decoded[..., :2], decoded[..., 2]


def pose_outputs(outputs: dict, ctx: Context) -> dict:
    """`keypoints` (N, J, 2|3) (x, y[, confidence]) or, failing that, `heatmaps` (N, h, w, J) decoded by arg-max."""
    if "keypoints" in outputs or any(v.shape.rank == 3 and v.shape[-1] in (2, 3) for v in outputs.values()):
        keypoints = tf.cast(
            _pick(outputs, ("keypoints", "coordinates", "joints"), "keypoints", rank=3,
                  exclude=("confidence", "visibility", "scores")),
            tf.float32,
        )
        confidence = next((outputs[k] for k in ("confidence", "visibility", "scores") if k in outputs), None)
        if keypoints.shape[-1] == 3:  # (x, y, confidence), the pose models' convention
            keypoints, confidence = keypoints[..., :2], keypoints[..., 2]
        if ctx.meta.extra.get("keypoint_format", "pixels") == "normalized":
            keypoints = keypoints * tf.constant([ctx.input_size[1], ctx.input_size[0]], tf.float32)
        if confidence is None:
            confidence = tf.ones_like(keypoints[..., 0])
        return {
            "keypoints": keypoints,
            "confidence": tf.cast(tf.reshape(confidence, tf.shape(keypoints)[:2]), tf.float32),
        }
    heatmaps = _pick(outputs, ("heatmaps",), "heatmaps or keypoints", rank=4)
    keypoints, confidence = _heatmap_argmax(heatmaps, ctx.input_size)
    return {"keypoints": keypoints, "confidence": confidence}


def stn_outputs(outputs: dict, ctx: Context) -> dict:
    if not any(v.shape.rank == 4 for v in outputs.values()):  # a baseline without a transformer
        return classification_outputs(outputs, ctx)
    image = _pick(outputs, ("transformed_image", "transformed", "warped"), "transformed image", rank=4)
    result = {"transformed_image": tf.cast(image, tf.float32)}
    rest = {k: v for k, v in outputs.items() if v is not image and v.shape.rank == 2}
    if rest:  # an STN classifier also returns class scores
        probabilities = _to_probabilities(
            _pick(rest, ("probabilities", "predictions", "logits"), "class scores"), ctx.activation
        )
        result.update(probabilities=probabilities, **_top_k(probabilities, ctx.meta.top_k))
    return result


def matching_outputs(outputs: dict, ctx: Context) -> dict:
    keypoints = _pick(outputs, ("keypoints", "points"), "keypoints", rank=3, exclude=("descriptors", "features"))
    descriptors = _pick(outputs, ("descriptors", "features"), "descriptors", rank=3, exclude=("keypoints", "points"))
    result = {"keypoints": tf.cast(keypoints, tf.float32), "descriptors": tf.cast(descriptors, tf.float32)}
    for key in ("scores", "orientations"):
        if key in outputs:
            result[key] = tf.cast(outputs[key], tf.float32)
    return result


POSTPROCESSORS: dict[str, Callable[[dict, Context], dict]] = {
    "classification": classification_outputs,
    "segmentation": segmentation_outputs,
    "detection": detection_outputs,
    "pose": pose_outputs,
    "stn": stn_outputs,
    "matching": matching_outputs,
}


# ------------------------------------------------------------------------------------- model adapters
def _stn_with_transformed_output(model: keras.Model) -> keras.Model:
    """An STN classifier that only returns class scores also gets its transformer's output.

    The transformer (the layer named "stn", else the first `SpatialTransformer`) usually works on the
    rescaled image; its output is scaled back to the 0..255 range of the input.
    """
    if any(len(t.shape) == 4 for t in keras.tree.flatten(model.outputs)):
        return model
    layers = [
        layer for layer in model._flatten_layers(include_self=False) if "SpatialTransformer" in type(layer).__name__
    ]
    layers.sort(key=lambda layer: layer.name != "stn")
    if not layers:  # a baseline without a transformer (e.g. cnn_classifier): classification outputs only
        return model
    transformed = layers[0].output
    source = layers[0].input
    source = source[0] if isinstance(source, (list, tuple)) else source
    producer = source._keras_history[0]
    if isinstance(producer, keras.layers.Rescaling) and not producer.offset and producer.scale:
        transformed = keras.layers.Rescaling(1.0 / producer.scale, name="transformed_image_to_0_255")(transformed)
    outputs = {"probabilities": keras.tree.flatten(model.outputs)[0], "transformed_image": transformed}
    return keras.Model(model.inputs, outputs, name=model.name)


# Per task: how to make the model expose what the signature needs (identity when nothing is needed).
MODEL_ADAPTERS: dict[str, Callable[[keras.Model], keras.Model]] = {"stn": _stn_with_transformed_output}


def serving_model(model: keras.Model, task: str) -> keras.Model:
    """The model the signatures call: `model.make_inference_model()` when the model has one (e.g. the
    detectors append their decoder + NMS there), then the task's adapter."""
    if callable(getattr(model, "make_inference_model", None)):
        model = model.make_inference_model()
    return MODEL_ADAPTERS.get(task, lambda m: m)(model)


# ------------------------------------------------------------------------------------------ signatures
def make_serving_fn(model: keras.Model, meta: ExportMeta) -> Callable:
    """`fn(images) -> {output: tensor}`: the model followed by the task's post-processing."""
    if len(model.inputs) != 1:
        raise ValueError(f"export supports single-image models; {model.name!r} has {len(model.inputs)} inputs")
    if meta.task not in POSTPROCESSORS:
        raise ValueError(f"no post-processing for task {meta.task!r}; known: {sorted(POSTPROCESSORS)}")
    adapted = serving_model(model, meta.task)
    ctx = Context(meta=meta, activation=meta.output_activation or final_activation(model), input_size=meta.input_size)
    post = POSTPROCESSORS[meta.task]

    def serve(images):
        outputs = adapted(tf.cast(images, tf.float32), training=False)
        return post(raw_outputs(adapted, outputs), ctx)

    serve.model = adapted
    return serve


def decode_images(image_bytes, size, channels: int = 3):
    """Encoded images (N,) string -> float32 (N, H, W, channels) in 0..255, bilinear-resized to `size`."""

    def one(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), size, method="bilinear")
        return tf.ensure_shape(image, (size[0], size[1], channels))

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec((size[0], size[1], channels), tf.float32))


def signatures(model: keras.Model, meta: ExportMeta, batch_size: int | None = None):
    """`{signature_name: (fn, [input_spec])}` for `serving_default` and `serving_bytes`."""
    serve = make_serving_fn(model, meta)
    h, w = meta.input_size
    c = meta.input_channels

    def serve_bytes(image_bytes):
        return serve(decode_images(image_bytes, (h, w), c))

    serve_bytes.model = serve.model
    return {
        DEFAULT_SIGNATURE: (serve, [tf.TensorSpec((batch_size, h, w, c), tf.float32, name=IMAGES_INPUT)]),
        BYTES_SIGNATURE: (serve_bytes, [tf.TensorSpec((batch_size,), tf.string, name=BYTES_INPUT)]),
    }
