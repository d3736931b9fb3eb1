"""Export a Keras model in TF Serving's layout: `savedmodels/NAME/VERSION/` with signatures and metadata.

One version folder holds everything about one export:

```
savedmodels/
  models.config                      TF Serving model_config_list, regenerated after every export
  NAME/
    VERSION/                         a positive integer; TF Serving loads the numeric folders
      saved_model.pb, variables/     signatures serving_default and serving_bytes (see signatures.py)
      assets.extra/vras_meta.json    task, labels, input size, box format, training config (meta.py)
      assets.extra/tf_serving_warmup_requests   TFRecord of PredictionLog protos, one per signature
      model.tflite, model_fp16.tflite, model_int8.tflite   TFLite, built-in ops only
```

A version is written into a hidden temporary folder next to it (`NAME/.tmp-VERSION-PID-xxxx`, which TF
Serving ignores: not a number) and renamed to `NAME/VERSION` only when complete, so a half-written export
never appears under its final name. An existing version is never overwritten: of two exports to one name
that both chose the same next number, the one finishing second takes the next free number. The next
export removes the temporary folders of killed exports (their process is gone).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import shutil
import tempfile
import time
from typing import Callable, Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from vras_keras.export import signatures as sig
from vras_keras.export.layout import TFLITE_FILES, existing_versions  # noqa: F401 - part of this module's API
from vras_keras.export.meta import META_FILENAME, ExportMeta
from vras_keras.export.tflite import QUANTIZATIONS, convert_to_tflite

FORMATS = ("saved_model", "tflite")
WARMUP_FILENAME = "tf_serving_warmup_requests"
MODELS_CONFIG = "models.config"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclasses.dataclass
class ExportResult:
    """Where an export went: `path` = `output_dir/name/version`, `files` relative to it."""

    name: str
    version: int
    path: str
    files: list[str]
    meta: ExportMeta


# ------------------------------------------------------------------------------------------- versions
def next_version(model_dir: str) -> int:
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


_TMP_RE = re.compile(r"^\.tmp-\d+-(\d+)-")
STALE_TMP_SECONDS = 24 * 3600  # a temporary folder without a readable pid is removed after a day


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def remove_stale_temp_dirs(model_dir: str) -> list[str]:
    """Delete the `.tmp-VERSION-PID-xxxx` folders of exports that were killed (their pid is gone)."""

    removed = []
    if not os.path.isdir(model_dir):
        return removed
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if not entry.startswith(".tmp-") or not os.path.isdir(path):
            continue
        match = _TMP_RE.match(entry)
        try:
            stale = (not _writer_alive(int(match.group(1)))) if match else (
                time.time() - os.path.getmtime(path) > STALE_TMP_SECONDS)
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# ------------------------------------------------------------------------- warm-up requests (protobuf)
# tensorflow_serving.apis is not a dependency: the few messages a warm-up file needs are encoded by hand,
# with the field numbers of tensorflow_serving/apis/{prediction_log,predict,model}.proto:
#   PredictionLog.predict_log = 6; PredictLog.request = 1;
#   PredictRequest.model_spec = 1, PredictRequest.inputs = 2 (map<string, TensorProto>: key 1, value 2);
#   ModelSpec.name = 1, ModelSpec.signature_name = 3.
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def encode_model_spec(name: str, signature_name: str) -> bytes:
    return _field(1, name.encode()) + _field(3, signature_name.encode())


def encode_prediction_log(model_name: str, signature_name: str, inputs: dict) -> bytes:
    """A serialized `PredictionLog{predict_log{request{model_spec, inputs}}}` for a warm-up file."""
    request = _field(1, encode_model_spec(model_name, signature_name))
    for key, value in inputs.items():
        tensor = tf.make_tensor_proto(value).SerializeToString()
        request += _field(2, _field(1, key.encode()) + _field(2, tensor))
    return _field(6, _field(1, request))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _read_fields(data: bytes) -> list[tuple[int, bytes]]:
    """(field number, payload) of the length-delimited fields of a message (others are rejected)."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire != 2:
            raise ValueError(f"unexpected protobuf wire type {wire} for field {number}")
        length, pos = _read_varint(data, pos)
        fields.append((number, data[pos : pos + length]))
        pos += length
    return fields


def decode_prediction_log(record: bytes) -> dict:
    """Inverse of `encode_prediction_log`: `{"model_name", "signature_name", "inputs": {name: ndarray}}`."""
    (number, predict_log), = _read_fields(record)
    if number != 6:
        raise ValueError(f"not a PredictionLog with a predict_log (field {number})")
    request = dict(_read_fields(predict_log))[1]
    result = {"model_name": "", "signature_name": "", "inputs": {}}
    for number, payload in _read_fields(request):
        if number == 1:
            spec = dict(_read_fields(payload))
            result["model_name"] = spec.get(1, b"").decode()
            result["signature_name"] = spec.get(3, b"").decode()
        elif number == 2:
            entry = dict(_read_fields(payload))
            proto = tf.make_tensor_proto(0)
            proto.ParseFromString(entry[2])
            result["inputs"][entry[1].decode()] = tf.make_ndarray(proto)
    return result


def read_warmup_requests(path: str) -> list[dict]:
    """Parse a `tf_serving_warmup_requests` TFRecord file (see `decode_prediction_log`)."""
    return [decode_prediction_log(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def _encode_png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(tf.convert_to_tensor(image, tf.uint8)).numpy()


def write_warmup_requests(path: str, model_name: str, meta: ExportMeta) -> None:
    """One request per signature: a mid-grey image (float batch of 1, and an encoded PNG)."""
    h, w = meta.input_size
    image = np.full((1, h, w, meta.input_channels), 128, np.uint8)
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(
            encode_prediction_log(model_name, sig.DEFAULT_SIGNATURE, {sig.IMAGES_INPUT: image.astype(np.float32)})
        )
        writer.write(
            encode_prediction_log(
                model_name, sig.BYTES_SIGNATURE, {sig.BYTES_INPUT: np.array([_encode_png(image[0])], object)}
            )
        )


# ---------------------------------------------------------------------------------------- models.config
def write_models_config(output_dir: str = "savedmodels", container_base_path: str = "/models") -> str:
    """Regenerate `output_dir/models.config` (TF Serving `model_config_list`) from the exports present.

    Every folder `output_dir/NAME/` with at least one `VERSION/saved_model.pb` is listed with base path
    `container_base_path/NAME` (the folder is mounted there, see docker-compose.yml) and the version
    policy `all`, so that clients can ask for a specific version. Written atomically.
    """
    entries = []
    if os.path.isdir(output_dir):
        for name in sorted(os.listdir(output_dir)):
            model_dir = os.path.join(output_dir, name)
            if name.startswith(".") or not os.path.isdir(model_dir):
                continue
            if any(
                os.path.exists(os.path.join(model_dir, str(v), "saved_model.pb")) for v in existing_versions(model_dir)
            ):
                entries.append(name)
    lines = [
        "# Generated by `vras export` from the folders in this directory; do not edit by hand.",
        "model_config_list {",
    ]
    for name in entries:
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{container_base_path.rstrip("/")}/{name}"',
            '    model_platform: "tensorflow"',
            "    model_version_policy { all {} }",
            "  }",
        ]
    lines.append("}")
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, MODELS_CONFIG)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return path


def parse_models_config(path: str) -> list[dict]:
    """`[{"name", "base_path", "model_platform"}]` of a models.config (the subset we write)."""
    text = open(path).read()
    configs = []
    for block in re.findall(r"config\s*\{(.*?)\n\s*\}", text, flags=re.S):
        configs.append(dict(re.findall(r'(\w+):\s*"([^"]*)"', block)))
    return configs


# ---------------------------------------------------------------------------------------------- export
def _validate(name, formats, quantize, representative_data, version):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"export name must match {_NAME_RE.pattern} (letters, digits, _ . -), received {name!r}")
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, received {formats}")
    quantize = tuple(quantize)
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(f"quantize must be a subset of {QUANTIZATIONS}, received {quantize}")
    if "tflite" in formats and "int8" in quantize and representative_data is None:
        raise ValueError("quantize 'int8' needs representative_data (a few batches of training images)")
    if version is not None and (not isinstance(version, (int, np.integer)) or isinstance(version, bool) or version < 1):
        raise ValueError(f"version must be a positive integer, received {version!r}")
    return formats, quantize


def _write_saved_model(model: keras.Model, meta: ExportMeta, path: str) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)
    for signature_name, (fn, specs) in sig.signatures(model, meta).items():
        if fn.model is not model:  # a task adapter (signatures.MODEL_ADAPTERS) built a wrapper model
            archive.track(fn.model)
        archive.add_endpoint(signature_name, fn, input_signature=specs)
    archive.write_out(path, verbose=False)


def export_saved_model(
    model: keras.Model,
    meta: ExportMeta,
    output_dir: str = "savedmodels",
    name: str | None = None,
    version: int | None = None,
    formats: Sequence[str] = ("saved_model", "tflite"),
    quantize: Sequence[str] = ("none",),
    representative_data: Callable[[], Iterable] | Iterable | None = None,
) -> ExportResult:
    """Export `model` to `output_dir/name/version/` (TF Serving layout) and regenerate models.config.

    Args:
        model: a built Keras model taking float images (N, H, W, 3) in 0..255.
        meta: its `ExportMeta` (task, labels, input size, ...); stored in `assets.extra/vras_meta.json`.
        output_dir: the TF Serving base folder.
        name: the served model name (default: `meta.model` or `model.name`).
        version: positive int; default the next free number (if another export takes that number while
            this one runs, this one takes the next free number when it finishes). An existing version
            given explicitly raises `ValueError`.
        formats: subset of `("saved_model", "tflite")`.
        quantize: TFLite variants, subset of `("none", "fp16", "int8")` (`model.tflite`,
            `model_fp16.tflite`, `model_int8.tflite`).
        representative_data: for int8: an iterable (or a callable returning one) of image batches
            (float32 0..255, `(n, H, W, 3)`), e.g. a few hundred training images.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: invalid arguments, an existing version, or a model that needs Flex ops for TFLite
            (the message names the op and the layer).
    """
    name = name or meta.model or model.name
    formats, quantize = _validate(name, formats, quantize, representative_data, version)
    model_dir = os.path.join(output_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    remove_stale_temp_dirs(model_dir)  # left by exports that were killed
    requested = version
    version = int(version) if version is not None else next_version(model_dir)
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise ValueError(
            f"{final} already exists: versions are never overwritten; choose another --version or omit it "
            f"(next free: {next_version(model_dir)})"
        )
    meta = dataclasses.replace(meta, export={
        "name": name,
        "version": version,
        "formats": list(formats),
        "quantize": list(quantize) if "tflite" in formats else [],
        "signatures": [sig.DEFAULT_SIGNATURE, sig.BYTES_SIGNATURE] if "saved_model" in formats else [],
        "outputs": list(sig.OUTPUTS[meta.task]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    })
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-{os.getpid()}-", dir=model_dir)
    try:
        if "saved_model" in formats:
            _write_saved_model(model, meta, tmp)
        extra = os.path.join(tmp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        meta.save(os.path.join(extra, META_FILENAME))
        if "saved_model" in formats:
            write_warmup_requests(os.path.join(extra, WARMUP_FILENAME), name, meta)
        if "tflite" in formats:
            fn, specs = sig.signatures(model, meta)[sig.DEFAULT_SIGNATURE]
            for q in quantize:
                flatbuffer = convert_to_tflite(
                    model, quantize=q, representative_data=representative_data if q == "int8" else None,
                    function=fn, input_specs=specs,
                )
                with open(os.path.join(tmp, TFLITE_FILES[q]), "wb") as f:
                    f.write(flatbuffer)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; TF Serving may run as another user
        while True:
            try:
                if os.path.exists(final):
                    raise FileExistsError(final)
                os.rename(tmp, final)  # fails (ENOTEMPTY / EEXIST) if a concurrent export created `final`
                break
            except OSError:
                if not os.path.exists(final):
                    raise
                if requested is not None:  # a concurrent export took the number meanwhile
                    raise ValueError(f"{final} appeared while exporting; versions are never overwritten") from None
                version = next_version(model_dir)  # another export took the number: take the next one
                final = os.path.join(model_dir, str(version))
                meta = dataclasses.replace(meta, export={**meta.export, "version": version})
                meta.save(os.path.join(tmp, "assets.extra", META_FILENAME))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_models_config(output_dir)
    files = sorted(
        os.path.relpath(os.path.join(root, f), final) for root, _, names in os.walk(final) for f in names
    )
    return ExportResult(name=name, version=version, path=final, files=files, meta=meta)


def add_tflite(version_dir: str, model: keras.Model, meta: ExportMeta, quantize: Sequence[str] = ("none",),
               representative_data: Callable[[], Iterable] | Iterable | None = None) -> list[str]:
    """Add TFLite files to an existing SavedModel version folder (made with `formats=("saved_model",)`):
    the SavedModel first, on the critical path, the slower conversion later (the demo's background trainer).

    `model` and `meta` must be those the version was exported from (`meta.task` and `meta.input_size` are
    checked against the folder's `vras_meta.json`). Each file is written to a temporary name and renamed,
    and the folder's meta then lists the new formats; an existing TFLite file is never replaced. Returns
    the file names written.

    Raises:
        FileNotFoundError: `version_dir` holds no export.
        ValueError: a mismatching model/meta, an existing file, or a model that needs Flex ops.
    """
    meta_path = os.path.join(version_dir, "assets.extra", META_FILENAME)
    if not os.path.exists(meta_path):
        raise FileNotFoundError(f"{meta_path} is missing: {version_dir} is not an export version folder")
    stored = ExportMeta.load(meta_path)
    if (stored.task, tuple(stored.input_size)) != (meta.task, tuple(meta.input_size)):
        raise ValueError(
            f"{version_dir} holds a {stored.task} export at {tuple(stored.input_size)}; the model given is "
            f"a {meta.task} model at {tuple(meta.input_size)}"
        )
    _validate(stored.export.get("name", "model") or "model", ("tflite",), quantize, representative_data, None)
    fn, specs = sig.signatures(model, meta)[sig.DEFAULT_SIGNATURE]
    written = []
    for q in quantize:
        path = os.path.join(version_dir, TFLITE_FILES[q])
        if os.path.exists(path):
            raise ValueError(f"{path} already exists: export files are never overwritten")
        flatbuffer = convert_to_tflite(
            model,
            quantize=q,
            representative_data=representative_data if q == "int8" else None,
            function=fn,
            input_specs=specs,
        )
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(flatbuffer)
        os.replace(tmp, path)
        written.append(TFLITE_FILES[q])
    export = dict(stored.export)
    export["formats"] = list(dict.fromkeys([*export.get("formats", []), "tflite"]))
    export["quantize"] = list(dict.fromkeys([*export.get("quantize", []), *quantize]))
    updated = dataclasses.replace(stored, export=export)
    tmp = f"{meta_path}.tmp-{os.getpid()}"
    updated.save(tmp)
    os.replace(tmp, meta_path)
    return written
