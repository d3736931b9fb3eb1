"""Pretrained weights: torchvision's ImageNet weights (via keras-hub's timm handles) and local files.

`load_weights(model, weights, arch=...)` is what every classification builder's `weights=` argument
reaches (through `backbones.load_weights`, the builder kit), and what `backbone_weights=` of the task families
passes on:

- `"imagenet"`: torchvision's ImageNet-1k weights for resnet18/34/50/101/152, wide_resnet50_2,
  vgg11/13/16/19 (with and without `batch_norm`) and densenet121/169/201. They are timm's copies of the
  torchvision checkpoints (`hf://timm/resnet50.tv_in1k`, ...), fetched with keras-hub's preset machinery
  (`keras_hub.src.utils.preset_utils.get_file`) only when asked, and cached as
  `<cache>/<timm name>.safetensors` with `<cache>` = `$KERAS_HOME/vras_keras/weights` when `KERAS_HOME`
  is set, else `~/.cache/vras_keras/weights`. A file placed there by hand is used without any network.
  AlexNet and GoogLeNet raise: ours are the papers' networks, not torchvision's variants.
- a path: `.safetensors` (torchvision or timm state-dict layout, below), `.weights.h5` (Keras weights
  of the same architecture) or `.keras` (a saved model: weights copied layer by layer where names and
  shapes agree, e.g. a backbone this project trained itself).

State-dict layout (torchvision == timm for these families; PyTorch tensors: conv `(out, in, kh, kw)`,
linear `(out, in)`, BN `weight, bias, running_mean, running_var`, `num_batches_tracked` ignored):

| ours                                  | torchvision / timm key prefix                               |
|---------------------------------------|-------------------------------------------------------------|
| resnet `conv1_conv`, `conv1_bn`       | `conv1`, `bn1`                                              |
| `stage{s}_block{b}_conv{i}_conv/_bn`  | `layer{s-1}.{b-1}.conv{i}` / `.bn{i}`                        |
| `stage{s}_block{b}_downsample_conv/_bn` | `layer{s-1}.{b-1}.downsample.0` / `.downsample.1`          |
| resnet / densenet `logits`            | `fc` / `classifier`                                         |
| densenet `conv1_conv`, `conv1_bn`     | `features.conv0`, `features.norm0`                          |
| `block{b}_layer{i}_{j}_bn/_conv`      | `features.denseblock{b}.denselayer{i}.norm{j}` / `.conv{j}`  |
| `transition{b}_bn/_conv`, `final_bn`  | `features.transition{b}.norm` / `.conv`, `features.norm5`    |
| vgg `block{b}_conv{i}_conv` (`_bn`)   | `features.{n}` (`features.{n+1}`), n counting conv/BN/ReLU/pool modules |
| vgg `fc6`, `fc7`, `logits`            | torchvision `classifier.0/.3/.6`; timm `pre_logits.fc1/.fc2` (7×7 and 1×1 |
|                                       | convs), `head.fc`                                           |

Where our layer has no bias but the checkpoint's conv has one before a BN (torchvision `vgg*_bn`), the
bias is folded into the BN moving mean (`mean - bias`): BN(conv + b) is the same function in inference and
in training. The model's `rescale` input layer is set to ImageNet's mean/std (`(x / 255 - mean) / std`),
so the model still takes 0..255 pixels.

Every load reports what it matched (`model.weights_report`, printed): all weights, or the head left new
(`num_classes != 1000`, or a backbone-only file: no head tensors at all, e.g. `save_safetensors(...,
head=False)`), or the head absent (`include_top=False`). Anything else that does not fit (a backbone tensor
missing from the file, another width, an unknown key, a wrong shape) raises a `ValueError` naming the layer
and the key.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# our architecture -> Hugging Face repo of timm's copy of torchvision's ImageNet-1k weights
SOURCES = {
    **{f"resnet{d}": f"timm/resnet{d}.tv_in1k" for d in (18, 34, 50, 101, 152)},
    "wide_resnet50_2": "timm/wide_resnet50_2.tv_in1k",
    **{f"vgg{d}": f"timm/vgg{d}.tv_in1k" for d in (11, 13, 16, 19)},
    **{f"vgg{d}_bn": f"timm/vgg{d}_bn.tv_in1k" for d in (11, 13, 16, 19)},
    **{f"densenet{d}": f"timm/densenet{d}.tv_in1k" for d in (121, 169, 201)},
}
NO_EXACT_MATCH = {
    "alexnet": "ours is the paper's two-tower AlexNet (227², LRN); torchvision's is the one-tower variant of "
               "Krizhevsky's 'one weird trick' paper, a different network",
    "googlenet": "ours is the paper's GoogLeNet (LRN, 5×5 branches); torchvision's has BN and 3×3 branches, "
                 "a different network",
}
HEAD_LAYERS = ("logits",)  # the layer a new num_classes replaces


# ------------------------------------------------------------------------------------------ reports
@dataclasses.dataclass
class WeightsReport:
    """What a load matched: `matched` of `total` weight tensors of the model, and the layers left new."""

    model: str
    source: str
    matched: int
    total: int
    new_layers: tuple = ()
    note: str = ""

    def __str__(self) -> str:
        if not self.new_layers:
            what = f"all {self.total} weight tensors matched"
        else:
            what = (f"{self.matched} of {self.total} weight tensors matched; new (randomly initialised): "
                    f"{', '.join(self.new_layers)}")
        return f"{self.model}: weights from {self.source}: {what}{'; ' + self.note if self.note else ''}"


def _report(model, report: WeightsReport) -> WeightsReport:
    from keras.src.utils import io_utils

    model.weights_report = report
    io_utils.print_msg(str(report))
    return report


# ---------------------------------------------------------------------------------------- name maps
def _resnet_key(layer: str):
    if layer in ("conv1_conv", "conv1_bn"):
        return "conv1" if layer.endswith("conv") else "bn1"
    m = re.fullmatch(r"stage(\d)_block(\d+)_(conv(\d)|downsample)_(conv|bn)", layer)
    if m:
        prefix = f"layer{int(m[1]) - 1}.{int(m[2]) - 1}"
        if m[3] == "downsample":
            return f"{prefix}.downsample.{0 if m[5] == 'conv' else 1}"
        return f"{prefix}.{m[5]}{m[4]}"
    return "fc" if layer == "logits" else None


def _densenet_key(layer: str):
    fixed = {"conv1_conv": "features.conv0", "conv1_bn": "features.norm0", "final_bn": "features.norm5",
             "logits": "classifier"}
    if layer in fixed:
        return fixed[layer]
    m = re.fullmatch(r"block(\d)_layer(\d+)_(\d)_(conv|bn)", layer)
    if m:
        return f"features.denseblock{m[1]}.denselayer{m[2]}.{'norm' if m[4] == 'bn' else 'conv'}{m[3]}"
    m = re.fullmatch(r"transition(\d)_(conv|bn)", layer)
    if m:
        return f"features.transition{m[1]}.{'norm' if m[2] == 'bn' else 'conv'}"
    return None


def _vgg_key_fn(model, state: dict):
    """VGG's `features.{n}` indices count every module (conv, BN, ReLU, pool) of torchvision's Sequential."""
    names = [layer.name for layer in model.layers]
    index, keys = 0, {}
    for name in names:
        m = re.fullmatch(r"block(\d)_conv(\d+)_(conv|bn|relu)", name)
        if m:
            keys[name] = f"features.{index}"
            index += 1
        elif re.fullmatch(r"block\d_pool", name):
            index += 1
    timm = "pre_logits.fc1.weight" in state
    keys.update({"fc6": "pre_logits.fc1" if timm else "classifier.0",
                 "fc7": "pre_logits.fc2" if timm else "classifier.3",
                 "logits": "head.fc" if timm else "classifier.6"})
    return keys.get


def _family(arch: str) -> str:
    for family in ("wide_resnet", "resnet", "vgg", "densenet"):
        if arch.startswith(family):
            return "resnet" if family == "wide_resnet" else family
    raise ValueError(f"{arch}: no torchvision/timm state-dict layout is known for this architecture; "
                     f"supported: {', '.join(sorted(SOURCES))}")


# ------------------------------------------------------------------------------------------ porting
def _conv_kernel(value, target_shape):
    """PyTorch conv `(O, I, kh, kw)` or linear `(O, I)` weights in the layout of a Keras kernel."""
    if len(target_shape) == 4:
        return np.transpose(value, (2, 3, 1, 0))
    if value.ndim == 4:  # timm's VGG pre-logits conv (O, C, 7, 7) -> Dense over our NHWC flatten
        return np.transpose(value, (2, 3, 1, 0)).reshape(-1, value.shape[0])
    return np.transpose(value)


def _linear_from_chw(value, channels):
    """torchvision's first VGG classifier layer `(O, C*h*w)` (NCHW flatten) as a Dense kernel over NHWC."""
    out, inp = value.shape
    side = round((inp / channels) ** 0.5)
    if side * side * channels != inp:
        return value.T  # not a square NCHW flatten of `channels`: the shape check will name it
    return np.transpose(value.reshape(out, channels, side, side), (2, 3, 1, 0)).reshape(-1, out)


def port_state_dict(model, state: dict, *, arch: str, source: str) -> WeightsReport:
    """Copy a torchvision/timm-layout state dict (`{key: np.ndarray}`) into `model`; see the module doc.

    Raises:
        ValueError: a weight of the model has no key or a key of another shape (other than the head of a
            model built with another `num_classes`), or a key of the file is left unused.
    """
    import keras

    family = _family(arch)
    key_of = {"resnet": _resnet_key, "densenet": _densenet_key}.get(family) or _vgg_key_fn(model, state)
    state = {k: np.asarray(v) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    used, assignments, new_layers, total = set(), [], [], 0
    headless_file = False
    for layer in model.layers:
        if not layer.weights:
            continue
        total += len(layer.weights)
        key = key_of(layer.name)
        if key is None:
            raise ValueError(f"{arch}: layer {layer.name!r} has no counterpart in the {family} state-dict layout "
                             f"of {source} (is this a variant, e.g. se_ratio or skip=False?)")
        if isinstance(layer, keras.layers.BatchNormalization):
            pairs = [(layer.gamma, "weight"), (layer.beta, "bias"), (layer.moving_mean, "running_mean"),
                     (layer.moving_variance, "running_var")]
        else:
            pairs = [(layer.kernel, "weight")] + ([(layer.bias, "bias")] if layer.bias is not None else [])
        if layer.name in HEAD_LAYERS and not any(f"{key}.{suffix}" in state for _, suffix in pairs):
            new_layers.append(layer.name)  # a backbone-only file: the head starts new, as for num_classes != 1000
            headless_file = True
            continue
        values = []
        for variable, suffix in pairs:
            name = f"{key}.{suffix}"
            if name not in state:
                raise ValueError(f"{arch}: {source} has no {name!r} for layer {layer.name!r} ({variable.path})")
            value = state[name]
            if suffix == "weight" and not isinstance(layer, keras.layers.BatchNormalization):
                if layer.name == "fc6" and value.ndim == 2:  # torchvision's classifier.0 reads an NCHW flatten
                    value = _linear_from_chw(value, model.get_layer("flatten").input.shape[-1])
                else:
                    value = _conv_kernel(value, variable.shape)
            if suffix == "running_mean":
                conv_bias = f"{_conv_of_bn(key_of, layer.name)}.bias"
                if conv_bias in state and not _layer_has_bias(model, layer.name):
                    value = value - state[conv_bias]  # BN(conv + b) == BN'(conv), mean' = mean - b
                    used.add(conv_bias)
            values.append((variable, name, value))
        if any(tuple(v.shape) != tuple(variable.shape) for variable, _, v in values):
            if layer.name in HEAD_LAYERS:
                new_layers.append(layer.name)
                used.update(name for _, name, _ in values)
                continue
            variable, name, value = next(t for t in values if tuple(t[2].shape) != tuple(t[0].shape))
            hint = (" (the pretrained fc6 needs pool5 of 7×7×512, i.e. a 224×224 input; use include_top=False "
                    "for other sizes)" if layer.name == "fc6" else " (pretrained weights need width=1.0)")
            raise ValueError(f"{arch}: {source}: {name!r} has shape {tuple(state[name].shape)}, layer "
                             f"{layer.name!r} needs {tuple(variable.shape)}{hint}")
        assignments.extend(values)
        used.update(name for _, name, _ in values)
    unused = sorted(k for k in state if k not in used)
    head_keys = {f"{key_of(h)}.{s}" for h in HEAD_LAYERS for s in ("weight", "bias")}
    if family == "vgg":
        head_keys |= {f"{key_of(h)}.{s}" for h in ("fc6", "fc7") for s in ("weight", "bias")}
    headless = [k for k in unused if k in head_keys]
    unused = [k for k in unused if k not in head_keys]
    if unused:
        raise ValueError(f"{arch}: {source} has {len(unused)} tensor(s) the model does not use, e.g. {unused[:3]} "
                         "(another architecture or depth?)")
    for variable, _, value in assignments:
        variable.assign(value.astype(variable.dtype))
    matched = sum(1 for _ in assignments)
    note = ("the file has no head" if headless_file else
            "no head (include_top=False)" if headless and not new_layers else "")
    return WeightsReport(model.name, source, matched, total, tuple(new_layers), note)


def _conv_of_bn(key_of, bn_layer: str):
    conv_layer = bn_layer[: -len("_bn")] + "_conv" if bn_layer.endswith("_bn") else None
    return key_of(conv_layer) if conv_layer else None


def _layer_has_bias(model, bn_layer: str) -> bool:
    try:
        conv = model.get_layer(bn_layer[: -len("_bn")] + "_conv")
    except ValueError:
        return False
    return getattr(conv, "bias", None) is not None


def to_state_dict(model, *, arch: str | None = None, head: bool = True) -> dict:
    """The inverse of `port_state_dict` for ResNets and DenseNets: `{torchvision key: np.ndarray}`.

    Lets a backbone trained here travel the same path as torchvision's weights (`weights=file.safetensors`,
    e.g. benchmarks/finetune.py). BN `num_batches_tracked` is not written. `head=False` leaves out the
    classifier (`fc` / `classifier`): loading such a file starts a new head, whatever `num_classes` is.
    """
    import keras

    arch = arch or model.name
    family = _family(arch)
    if family == "vgg":
        raise ValueError(f"{arch}: to_state_dict supports the ResNet and DenseNet layouts")
    key_of = {"resnet": _resnet_key, "densenet": _densenet_key}[family]
    state = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        key = key_of(layer.name)
        if key is None:
            raise ValueError(f"{arch}: layer {layer.name!r} has no counterpart in the {family} state-dict layout")
        if not head and layer.name in HEAD_LAYERS:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable, suffix in ((layer.gamma, "weight"), (layer.beta, "bias"),
                                     (layer.moving_mean, "running_mean"), (layer.moving_variance, "running_var")):
                state[f"{key}.{suffix}"] = keras.ops.convert_to_numpy(variable)
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        state[f"{key}.weight"] = np.ascontiguousarray(
            np.transpose(kernel, (3, 2, 0, 1) if kernel.ndim == 4 else (1, 0))
        )
        if layer.bias is not None:
            state[f"{key}.bias"] = keras.ops.convert_to_numpy(layer.bias)
    return state


def save_safetensors(model, path, *, arch: str | None = None, head: bool = True) -> Path:
    """Write `to_state_dict(model, head=head)` as a `.safetensors` file (torchvision layout)."""
    from safetensors.numpy import save_file

    path = Path(path)
    save_file(to_state_dict(model, arch=arch, head=head), str(path))
    return path


# ------------------------------------------------------------------------------------------ sources
def cache_dir() -> Path:
    """`$KERAS_HOME/vras_keras/weights` when KERAS_HOME is set, else `~/.cache/vras_keras/weights`."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]) / "vras_keras" / "weights"
    return Path.home() / ".cache" / "vras_keras" / "weights"


PROBE_TIMEOUT_S = 5.0


def _hub_address() -> tuple[str, int]:
    """(host, port) a download from the Hugging Face hub connects to first: the HTTPS proxy when one is
    set (`https_proxy` / `all_proxy`, as requests and httpx read them), else `$HF_ENDPOINT` or huggingface.co."""
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    host = urlsplit(endpoint).hostname or "huggingface.co"
    no_proxy = [h.strip().lstrip(".") for h in (os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or "")
                .split(",")]
    proxy = next((os.environ[k] for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
                  if os.environ.get(k)), None)
    if proxy and not any(h == "*" or (h and (host == h or host.endswith("." + h))) for h in no_proxy):
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return parts.hostname or proxy, parts.port or (443 if parts.scheme == "https" else 80)
    parts = urlsplit(endpoint)
    return host, parts.port or (80 if parts.scheme == "http" else 443)


def _probe_hub(timeout: float = PROBE_TIMEOUT_S) -> None:
    """One TCP connection to the hub (or its proxy) within `timeout` seconds (name lookup included, in a
    daemon thread since `getaddrinfo` takes no timeout); raises ConnectionError otherwise."""
    import socket
    import threading

    host, port = _hub_address()
    outcome: list = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(error)

    thread = threading.Thread(target=connect, name="vras-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise ConnectionError(f"no connection to {host}:{port} within {timeout:g} s")
    if outcome[0] is not None:
        raise ConnectionError(f"cannot reach {host}:{port}: {outcome[0]}")


def imagenet_cache_path(arch: str) -> Path:
    """Where `weights="imagenet"` keeps (or expects, placed by hand) the ImageNet safetensors of `arch`;
    nothing is fetched. KeyError for an `arch` without ImageNet weights (`SOURCES`)."""
    return cache_dir() / f"{SOURCES[arch].split('/', 1)[1]}.safetensors"


def imagenet_file(arch: str) -> Path:
    """The cached ImageNet safetensors of `arch`, fetched (once) through keras-hub from Hugging Face.

    Raises:
        ValueError: `arch` has no torchvision weights (or no exact counterpart: AlexNet, GoogLeNet).
        FileNotFoundError: not cached and not fetchable (no network, or `HF_HUB_OFFLINE` set); the one-line
            message names the URL and where to place the file by hand.
    """
    if arch in NO_EXACT_MATCH:
        raise ValueError(f"{arch}: no ImageNet weights match this network exactly ({NO_EXACT_MATCH[arch]}); "
                         "train it, or load a file of your own with weights=PATH")
    if arch not in SOURCES:
        raise ValueError(f"{arch}: weights='imagenet' is available for {', '.join(sorted(SOURCES))}; "
                         "for others pass weights=PATH")
    repo = SOURCES[arch]
    target = imagenet_cache_path(arch)
    if target.is_file():
        return target
    url = f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
    try:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise ConnectionError("HF_HUB_OFFLINE is set")
        _probe_hub()  # no network: fail in seconds, not after the hub's retries (about 1.6 min)

        from keras_hub.src.utils.preset_utils import get_file

        hub_logger = logging.getLogger("huggingface_hub")
        level = hub_logger.level
        hub_logger.setLevel(logging.ERROR)  # its retry warnings would split the one-line error below
        try:
            downloaded = get_file(f"hf://{repo}", "model.safetensors")
        finally:
            hub_logger.setLevel(level)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copyfile(downloaded, partial)
        os.replace(partial, target)
    except Exception as error:  # noqa: BLE001 (network, proxy, HTTP, hub errors: one line, with the manual way)
        while error.__cause__ is not None or error.__context__ is not None:  # the root cause, e.g. DNS
            error = error.__cause__ or error.__context__
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        raise FileNotFoundError(
            f"{arch}: could not fetch the ImageNet weights hf://{repo} ({type(error).__name__}: {reason}); "
            f"download {url} and place it at {target}"
        ) from None
    return target


def read_safetensors(path) -> dict:
    from safetensors.numpy import load_file

    try:
        return load_file(os.fspath(path))
    except Exception as error:  # noqa: BLE001 (safetensors raises its own error types)
        raise ValueError(f"{os.fspath(path)}: not a readable .safetensors file ({type(error).__name__}: "
                         f"{(str(error).splitlines() or [''])[0][:160]})") from None


def _copy_from_model(model, path: str) -> WeightsReport:
    """Weights of a saved `.keras` model, copied where layer names and weight shapes agree."""
    from vras_keras.models.registry import load_model  # registry imports this module: no cycle at import

    source = load_model(path, compile=False)
    source_layers = {layer.name: layer for layer in _flat_layers(source)}
    matched, total, new_layers = 0, 0, []
    for layer in model.layers:
        if not layer.weights:
            continue
        total += len(layer.weights)
        other = source_layers.get(layer.name)
        if other is None or [tuple(w.shape) for w in other.weights] != [tuple(w.shape) for w in layer.weights]:
            new_layers.append(layer.name)
            continue
        for mine, theirs in zip(layer.weights, other.weights):
            mine.assign(theirs)
        matched += len(layer.weights)
    if not matched:
        raise ValueError(f"{path}: no layer of {model.name!r} has a same-named, same-shaped layer in this file")
    try:  # the source's input normalisation travels with its weights
        rescale = source.get_layer("rescale")
        model.get_layer("rescale").scale, model.get_layer("rescale").offset = rescale.scale, rescale.offset
    except ValueError:
        pass
    return WeightsReport(model.name, path, matched, total, tuple(new_layers))


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        yield layer


def load_weights(model, weights, *, arch: str | None = None):
    """Load `weights` (`"imagenet"` or a path) into a built vras_keras model; returns a `WeightsReport`.

    Args:
        model: the model (a classification builder's, with or without its top).
        weights: `"imagenet"`, or the path of a `.safetensors`, `.weights.h5` or `.keras` file.
        arch: the architecture id for the state-dict layout and the ImageNet source (default: the model
            name, with `_bn` appended for a VGG built with `batch_norm=True`).
    """
    from vras_keras.layers import set_input_normalization  # Keras: this module imports without it

    arch = arch or model.name
    if (
        arch.startswith("vgg")
        and not arch.endswith("_bn")
        and any(layer.name == "block1_conv1_bn" for layer in model.layers)
    ):
        arch = f"{arch}_bn"
    if isinstance(weights, str) and weights == "imagenet":
        path = imagenet_file(arch)
        report = port_state_dict(model, read_safetensors(path), arch=arch, source=f"hf://{SOURCES[arch]}")
        set_input_normalization(model, IMAGENET_MEAN, IMAGENET_STD)
        return _report(model, report)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"{model.name}: weights must be None, 'imagenet' or a file path, received {weights!r}")
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{model.name}: weights file {path!r} does not exist (only weights='imagenet' "
                                "downloads anything)")
    if path.endswith(".safetensors"):
        report = port_state_dict(model, read_safetensors(path), arch=arch, source=path)
        set_input_normalization(model, IMAGENET_MEAN, IMAGENET_STD)
        report.note = "; ".join(filter(None, [report.note, "input normalised with ImageNet mean/std"]))
        return _report(model, report)
    if path.endswith(".weights.h5"):
        model.load_weights(path)
        total = sum(len(layer.weights) for layer in model.layers)
        return _report(model, WeightsReport(model.name, path, total, total))
    if path.endswith(".keras"):
        return _report(model, _copy_from_model(model, path))
    raise ValueError(f"{model.name}: weights file {path!r}: expected a .safetensors, .weights.h5 or .keras file")


# ------------------------------------------------------------------------------------- class names
def has_imagenet_head(model) -> bool:
    """True when the model's 1000-class head was loaded from torchvision/timm ImageNet-1k weights."""
    report = getattr(model, "weights_report", None)
    if report is None or report.new_layers or "no head" in report.note:
        return False
    from_imagenet = report.source.startswith("hf://timm/") or str(report.source).endswith(".safetensors")
    try:
        return from_imagenet and int(model.get_layer("logits").units) == 1000
    except (ValueError, AttributeError):
        return False


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, as keras-hub ships them (no download)."""
    from keras_hub.src.utils.imagenet.imagenet_utils import IMAGENET_NAMES

    return [IMAGENET_NAMES[i][1] for i in range(1000)]
